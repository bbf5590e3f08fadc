"""The audit log through the real MCP client: two entries per call (start, end) for every tool, for
calls refused by argument validation, for unknown tools, and a start entry for a call in flight
when the server is killed. The target is recorded as resolved, the default included."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_bifrost.server import build_server
from tests.support.configs import local_only
from tests.support.servers import kill_servers_of

pytestmark = pytest.mark.anyio


def entries(tmp_path: Path) -> list[dict]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def calls(tmp_path: Path) -> dict[str, dict[str, dict]]:
    """call id -> {"start": entry, "end": entry}."""
    found: dict[str, dict[str, dict]] = {}
    for e in entries(tmp_path):
        found.setdefault(e["call"], {})[e["event"]] = e
    return found


async def test_every_tool_call_leaves_a_start_and_an_end_entry(tmp_path):
    # issue 13.10: only exec successes were recorded usefully; target was null for the default
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.txt").write_text("a\n")
    async with Client(build_server(local_only(tmp_path), ws)) as client:
        await client.call_tool("push", {})
        ran = (
            await client.call_tool(
                "exec", {"command": "echo hi > out.txt; exit 3", "env": {"TOKEN": "hunter2"}}
            )
        ).structured_content
        job = (
            await client.call_tool("exec", {"command": "sleep 30", "background": True})
        ).structured_content["job_id"]
        await client.call_tool("job_status", {"job_id": job})
        await client.call_tool("job_logs", {"job_id": job})
        await client.call_tool("job_cancel", {"job_id": job})
        await client.call_tool("copy_files", {"remote_paths": ["out.txt"], "local_dir": "back"})
        await client.call_tool("targets", {})
    assert ran["exit_code"] == 3
    by_tool = {}
    for pair in calls(tmp_path).values():
        assert set(pair) == {"start", "end"}, pair
        assert pair["start"]["tool"] == pair["end"]["tool"]
        by_tool.setdefault(pair["start"]["tool"], []).append(pair)
    assert sorted(by_tool) == [
        "copy_files",
        "exec",
        "job_cancel",
        "job_logs",
        "job_status",
        "push",
        "targets",
    ]
    # one pair per tool call: the server's API client does not audit the same call again (surface "api")
    assert {e["surface"] for e in entries(tmp_path)} == {"mcp"}
    assert [len(by_tool[t]) for t in sorted(by_tool)] == [1, 2, 1, 1, 1, 1, 1]
    first_exec = by_tool["exec"][0]
    assert first_exec["start"]["arguments"]["command"] == "echo hi > out.txt; exit 3"
    assert first_exec["start"]["arguments"]["env"] == ["TOKEN"]  # names only: values are secrets
    assert first_exec["end"]["result"]["exit_code"] == 3 and first_exec["end"]["target"] == "local"
    assert by_tool["push"][0]["end"]["result"]["files_sent"] == 1
    assert by_tool["job_cancel"][0]["end"]["result"]["survivors"] == 0
    assert by_tool["copy_files"][0]["end"]["result"]["files_copied"] == 1
    for tool in ("exec", "push", "copy_files", "job_status", "job_logs", "job_cancel"):
        assert by_tool[tool][0]["start"]["target"] == "local", tool
    assert by_tool["targets"][0]["start"]["target"] is None
    assert "hunter2" not in (tmp_path / "audit.jsonl").read_text()


async def test_rejected_arguments_and_unknown_tools_are_recorded(tmp_path):
    async with Client(build_server(local_only(tmp_path), tmp_path)) as client:
        tools = (await client.list_tools()).tools
        names = [t.name for t in tools]
        # tools that take no arguments ignore extra ones, so nothing is rejected for them
        no_arguments = {t.name for t in tools if not t.input_schema.get("properties")}
        for name in names:
            # wrong types for the arguments tools take: validation refuses them before anything runs
            await client.call_tool(name, {"target": 5, "job_id": 5, "command": 5, "remote_paths": 5})
        unknown = await client.call_tool("rm_rf", {"path": "/"})
        bad_env = await client.call_tool("exec", {"command": "true", "env": {"TOKEN": 12345678}})
        bad_target = await client.call_tool("exec", {"command": "true", "target": "nope"})
    assert unknown.is_error and bad_target.is_error and bad_env.is_error
    recorded = calls(tmp_path)
    ends = [pair["end"] for pair in recorded.values()]
    assert sorted(e["tool"] for e in ends) == sorted([*names, "rm_rf", "exec", "exec"])
    assert all(set(pair) == {"start", "end"} for pair in recorded.values())
    for e in ends:
        if e["tool"] not in no_arguments:
            assert "error" in e, e
    assert "targets" in no_arguments and "exec" not in no_arguments
    assert any("Unknown tool" in e["error"] for e in ends if e["tool"] == "rm_rf")
    assert any("no target named 'nope'" in e.get("error", "") and e["target"] == "nope" for e in ends)
    assert any(e.get("error") == "invalid arguments: env.TOKEN" for e in ends)
    assert "12345678" not in (tmp_path / "audit.jsonl").read_text()  # not in the error, not in the arguments


async def test_a_call_in_flight_when_the_server_is_killed_has_its_start_entry(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        f'audit_log = "{tmp_path / "audit.jsonl"}"\n'
        f'[targets.local]\nkind = "local"\nworkdir = "{tmp_path / "remote-wd"}"\n'
    )
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_bifrost", "serve", "--workspace", str(tmp_path), "--config", str(config)],
        env={**os.environ},
    )
    async with anyio.create_task_group() as tg:

        async def call_and_hang() -> None:
            async with Client(params) as client:
                await client.call_tool("exec", {"command": "sleep 60; echo never"})

        tg.start_soon(call_and_hang)
        with anyio.fail_after(20):
            while not any(e["tool"] == "exec" for e in entries(tmp_path)):
                await anyio.sleep(0.1)
        kill_servers_of(config)
        tg.cancel_scope.cancel()
    for pgid in (tmp_path / "remote-wd" / "jobs").glob("*/pgid"):  # the orphan is issue 13.7 (house's)
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pgid.read_text()), signal.SIGKILL)
    recorded = [e for e in entries(tmp_path) if e["tool"] == "exec"]
    assert [e["event"] for e in recorded] == ["start"]
    assert recorded[0]["arguments"]["command"] == "sleep 60; echo never" and recorded[0]["target"] == "local"
