"""Detached jobs through the MCP client: the timeout watchdog kills a job, and each state
(running, finished, killed) is reported as such; the configured output cap reaches exec."""

from __future__ import annotations

import secrets
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcp_bifrost.server import build_server
from tests.support.configs import local_only
from tests.support.mcp_jobs import job_status

pytestmark = pytest.mark.anyio


async def _wait_state(client: Client, job_id: str, state: str, within_s: float) -> dict:
    with anyio.fail_after(within_s):
        while (info := await job_status(client, job_id))["state"] != state:
            await anyio.sleep(0.2)
    return info


async def test_a_background_job_over_its_timeout_is_killed_by_the_watchdog(tmp_path):
    marker = f"bifrost_watchdog_{secrets.token_hex(4)}"  # unique: a leftover of another run must not count
    async with Client(build_server(local_only(tmp_path), tmp_path)) as client:
        started = (
            await client.call_tool(
                "exec",
                {"command": f"bash -c 'exec -a {marker} sleep 60'", "background": True, "timeout_s": 1},
            )
        ).structured_content
        job = started["job_id"]
        assert (await job_status(client, job))["state"] == "running"
        info = await _wait_state(client, job, "killed", within_s=15)
        alive = await client.call_tool("exec", {"command": f"pgrep -f '[{marker[0]}]{marker[1:]}' || true"})
    assert info["exit_code"] is None or info["exit_code"] in (137, 143)
    assert alive.structured_content["stdout"] == ""
    assert Path(info["log_dir"], "timed_out").exists()


async def test_jobs_are_listed_as_running_finished_and_killed(tmp_path):
    from mcp_bifrost.app import Bifrost
    from mcp_bifrost.requests import ExecRequest

    app = Bifrost(local_only(tmp_path), tmp_path)
    try:
        running = (await app.exec(ExecRequest(command="sleep 30", background=True))).job_id
        finished = (await app.exec(ExecRequest(command="true", background=True))).job_id
        killed = (await app.exec(ExecRequest(command="sleep 30", background=True))).job_id
        await app.job_cancel(killed)
        with anyio.fail_after(10):
            while (await app.job_status(finished)).state != "finished":
                await anyio.sleep(0.1)
        states = {j.job_id: j.state for j in await app.list_jobs()}
        assert states == {running: "running", finished: "finished", killed: "killed"}
        await app.job_cancel(running)
    finally:
        await app.close()


async def test_the_configured_output_cap_reaches_exec_through_the_server(tmp_path):
    async with Client(build_server(local_only(tmp_path, output_cap_bytes=300), tmp_path)) as client:
        result = (
            await client.call_tool("exec", {"command": r"head -c 5000 /dev/zero | tr '\000' x"})
        ).structured_content
    assert result["stdout_bytes"] == 5000 and result["truncated"]
    assert result["stdout"].count("x") == 300
