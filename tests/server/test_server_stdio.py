"""The server through a real MCP client: over stdio (`mcp-bifrost serve` as a subprocess) and in memory."""

from __future__ import annotations

import json
import re
import secrets
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_bifrost.config import load_config
from mcp_bifrost.server import build_server
from tests.conftest import make_workdir
from tests.support.configs import write_config
from tests.support.mcp_jobs import job_done

pytestmark = pytest.mark.anyio


@pytest.fixture
def config_file(tmp_path: Path, sshd, tmp_path_factory) -> Path:
    return write_config(tmp_path / "config.toml", sshd, make_workdir(tmp_path_factory, sshd.user))


def stdio_params(config_file: Path, workspace: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_bifrost", "serve", "--workspace", str(workspace), "--config", str(config_file)],
    )


# Every tool the server offers, exactly: a tool added or renamed must be added here on purpose.
TOOLS = {
    "exec",
    "job_status",
    "job_logs",
    "job_cancel",
    "push",
    "copy_files",
    "targets",
    "run_smoke_test",
    "profile_ncu",
    "history",
    "problems",
}


async def test_stdio_server_lists_the_tools_with_exact_names(config_file, tmp_path):
    async with Client(stdio_params(config_file, tmp_path)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    assert set(tools["exec"].input_schema["properties"]) == {
        "command",
        "target",
        "cwd",
        "timeout_s",
        "env",
        "background",
    }
    assert tools["exec"].output_schema is not None
    assert tools["exec"].annotations.destructive_hint is True
    assert tools["targets"].annotations.read_only_hint is True


async def test_stdio_exec_runs_in_the_remote_workspace_twin(config_file, tmp_path):
    workspace = tmp_path / "my project"
    workspace.mkdir()
    async with Client(stdio_params(config_file, workspace)) as client:
        result = await client.call_tool("exec", {"command": "pwd; echo $X", "env": {"X": "42"}})
    data = result.structured_content
    assert data["exit_code"] == 0
    cwd, x = data["stdout"].splitlines()
    assert re.search(r"/workspaces/my_project-[0-9a-f]{8}$", cwd) and x == "42"


async def test_exec_sends_progress_with_the_latest_output_line(config_file, tmp_path):
    config = load_config(config_file)
    config.limits.progress_interval_s = 0.3
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with Client(build_server(config, tmp_path)) as client:
        result = await client.call_tool(
            "exec", {"command": "echo first-line; sleep 1.2; echo done"}, progress_callback=on_progress
        )
    assert result.structured_content["exit_code"] == 0
    assert any("first-line" in m for m in messages)


async def test_budget_turns_a_long_command_into_a_job_that_survives_a_server_restart(config_file, tmp_path):
    config = load_config(config_file)
    config.limits.call_budget_s = 1
    async with Client(build_server(config, tmp_path)) as client:
        started = await client.call_tool("exec", {"command": "sleep 2; echo survived"})
    job_id = started.structured_content["job_id"]
    assert job_id.startswith("gpu:") and "job" in started.structured_content["note"]
    async with Client(stdio_params(config_file, tmp_path)) as client:  # a new server process
        s = await job_done(client, job_id, 15)
        assert s["state"] == "finished" and s["exit_code"] == 0
        logs = await client.call_tool("job_logs", {"job_id": job_id})
        assert logs.structured_content["stdout"] == "survived\n"


async def test_background_job_can_be_cancelled_with_no_survivors(config_file, tmp_path):
    async with Client(build_server(load_config(config_file), tmp_path)) as client:
        started = await client.call_tool("exec", {"command": "sleep 60 & sleep 60", "background": True})
        job_id = started.structured_content["job_id"]
        assert (await client.call_tool("job_status", {"job_id": job_id})).structured_content[
            "state"
        ] == "running"
        cancelled = await client.call_tool("job_cancel", {"job_id": job_id})
    assert cancelled.structured_content["was_running"] is True
    assert cancelled.structured_content["survivors"] == 0
    assert cancelled.structured_content["state"] == "killed"


async def test_unknown_target_is_a_tool_error_naming_the_choices(config_file, tmp_path):
    async with Client(build_server(load_config(config_file), tmp_path)) as client:
        result = await client.call_tool("exec", {"command": "true", "target": "h200"})
    assert result.is_error
    assert "no target named 'h200'" in result.content[0].text and "gpu, local" in result.content[0].text


async def test_bad_tool_arguments_are_rejected_before_anything_runs(config_file, tmp_path):
    async with Client(build_server(load_config(config_file), tmp_path)) as client:
        for args in (
            {},
            {"command": ""},
            {"command": "true", "timeout_s": -1},
            {"command": "true", "env": {"1BAD": "x"}},
        ):
            result = await client.call_tool("exec", args)
            assert result.is_error, args
        missing = await client.call_tool("job_status", {"job_id": "gpu:not-a-job"})
        assert missing.is_error and "not a job id" in missing.content[0].text


async def test_targets_reports_health_of_each_target(config_file, tmp_path):
    async with Client(build_server(load_config(config_file), tmp_path)) as client:
        report = (await client.call_tool("targets", {})).structured_content
    by_name = {t["name"]: t for t in report["targets"]}
    assert report["default_target"] == "gpu"
    assert by_name["gpu"]["reachable"] and by_name["gpu"]["python"]
    assert by_name["local"]["reachable"]


async def test_every_call_is_appended_to_the_audit_log(config_file, tmp_path):
    async with Client(build_server(load_config(config_file), tmp_path)) as client:
        await client.call_tool("exec", {"command": "exit 3"})
        await client.call_tool("exec", {"command": "true", "target": "nope"})
    entries = [json.loads(line) for line in (config_file.parent / "audit.jsonl").read_text().splitlines()]
    assert [(e["event"], e["tool"], e["target"]) for e in entries] == [
        ("start", "exec", "gpu"),
        ("end", "exec", "gpu"),
        ("start", "exec", "nope"),
        ("end", "exec", "nope"),
    ]
    assert entries[1]["result"]["exit_code"] == 3 and entries[0]["arguments"]["command"] == "exit 3"
    assert "no target named" in entries[3]["error"]


async def test_mcp_cancellation_kills_the_remote_command(config_file, tmp_path):
    marker = f"bifrost_mcp_cancel_{secrets.token_hex(4)}"  # unique: a leftover of another run must not count
    server = build_server(load_config(config_file), tmp_path)
    async with Client(stdio_params(config_file, tmp_path)) as client, Client(server) as probe_client:

        async def running() -> bool:
            probe = await probe_client.call_tool(
                "exec", {"command": f"pgrep -f '[{marker[0]}]{marker[1:]}' || true"}
            )
            return bool(probe.structured_content["stdout"].strip())

        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "exec", {"command": f"bash -c 'exec -a {marker} sleep 60'"})
            with anyio.fail_after(15):  # it must have started, or its absence below would prove nothing
                while not await running():
                    await anyio.sleep(0.1)
            tg.cancel_scope.cancel()
        # the cancellation notification reached the server; give it the kill's grace to finish
        with anyio.fail_after(10):
            while await running():
                await anyio.sleep(0.3)


async def test_push_exec_copy_files_round_trip_over_stdio(config_file, tmp_path):
    """The agent's loop: edit locally (uncommitted), push, run on the target, fetch the result."""
    workspace = tmp_path / "kernels"
    workspace.mkdir()
    (workspace / "kernel.py").write_text("print('v1')\n")
    async with Client(stdio_params(config_file, workspace)) as client:
        pushed = (await client.call_tool("push", {})).structured_content
        assert pushed["files_sent"] == 1 and re.search(
            r"/workspaces/kernels-[0-9a-f]{8}$", pushed["remote_dir"]
        )
        (workspace / "kernel.py").write_text("print('v2 edited')\n")
        again = (await client.call_tool("push", {})).structured_content
        assert again["files_sent"] == 1
        ran = (
            await client.call_tool("exec", {"command": "python3 kernel.py > out.txt; cat out.txt"})
        ).structured_content
        assert ran["stdout"] == "v2 edited\n"
        fetched = (
            await client.call_tool("copy_files", {"remote_paths": ["out.txt"], "local_dir": "results"})
        ).structured_content
        assert (workspace / "results" / "out.txt").read_text() == "v2 edited\n"
        assert fetched["files_copied"] == 1
        refused = await client.call_tool(
            "copy_files", {"remote_paths": ["/etc/passwd"], "local_dir": "results"}
        )
        assert refused.is_error and not (workspace / "results" / "passwd").exists()
        outside = await client.call_tool("push", {"remote_dir": "/etc"})
        assert outside.is_error


@pytest.mark.parametrize("timeout", [0, -5])
async def test_a_timeout_that_is_not_positive_is_refused_with_a_sentence_in_tool_words(
    config_file, tmp_path, timeout
):
    async with Client(build_server(load_config(config_file), tmp_path)) as client:
        result = await client.call_tool("exec", {"command": "echo ran", "timeout_s": timeout})
    text = result.content[0].text
    assert result.is_error and "timeout_s must be a positive number of seconds" in text
    assert "pydantic" not in text and "--timeout" not in text


async def test_job_tools_take_the_id_as_listed_or_bare_with_a_target(config_file, tmp_path):
    async with Client(build_server(load_config(config_file), tmp_path)) as client:
        started = (
            await client.call_tool("exec", {"command": "echo hi", "background": True})
        ).structured_content
        assert "job_status" in started["note"] and "mcp-bifrost" not in started["note"]
        job_id = started["job_id"]
        listed = await client.call_tool("job_status", {"job_id": job_id})
        assert not listed.is_error and listed.structured_content["job_id"] == job_id
        bare = await client.call_tool("job_status", {"job_id": job_id.split(":", 1)[1], "target": "gpu"})
        assert not bare.is_error and bare.structured_content["job_id"] == job_id
        wrong = await client.call_tool("job_status", {"job_id": job_id, "target": "local"})
        assert wrong.is_error and "belongs to target 'gpu'" in wrong.content[0].text
