"""Through the real MCP client: a candidate's detached helper processes (double fork + setsid) die
with its evaluation, a single smoke test or a cancelled fan-out, and the report says so truthfully."""

from __future__ import annotations

import re
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcp_bifrost.config import load_config
from mcp_bifrost.server import build_server
from tests.loop.conftest import budgeted
from tests.loop.test_fanout_smoke import calls_log, fan_out, with_gpus
from tests.support.procs import alive

pytestmark = pytest.mark.anyio

STRAYS = Path(__file__).resolve().parents[1] / "harness" / "candidates" / "jail"


def logs_its_stray(log: Path) -> str:
    """The candidate that leaves a detached sleeper behind at import, logs its pid to `log` and sleeps
    in every call (so a fan-out of them outlives the budget), with `log` written in."""
    line = f"LOG = {str(log)!r}"
    text, count = re.subn(r"(?m)^LOG = .*$", lambda _: line, (STRAYS / "stray_logged.py").read_text())
    assert count == 1, "stray_logged.py names its log in one line, LOG = ..."
    return text


async def test_a_stray_helper_dies_with_its_smoke_test_and_the_report_says_so(loop_config, workspace):
    (workspace / "vectoradd" / "stray.py").write_text((STRAYS / "stray_sleeper.py").read_text())
    started = time.monotonic()
    async with Client(build_server(load_config(loop_config), workspace)) as client:
        result = await client.call_tool(
            "run_smoke_test", {"problem": "vectoradd", "candidate": "vectoradd/stray.py", "mode": "test"}
        )
    report = result.structured_content
    assert report["passed"], report["summary"]
    assert time.monotonic() - started < 60, "the verdict waited for the stray"
    assert report["isolation"]["strays_killed"] >= 1 and report["isolation"]["survivors"] == 0, report[
        "isolation"
    ]
    assert "were killed" in report["summary"], report["summary"]
    pids = [int(p) for p in re.findall(r"stray pid (\d+)", report["stdout_tail"])]
    assert pids and not [p for p in pids if alive(p)], report["stdout_tail"]


async def cancel_and_wait_for_its_strays(client: Client, job_id: str, log: Path) -> None:
    """job_cancel the job: it ends killed with no survivor, and every stray in `log` dies within 10 s."""
    cancelled = (await client.call_tool("job_cancel", {"job_id": job_id})).structured_content
    assert cancelled["state"] == "killed" and cancelled["survivors"] == 0, cancelled
    strays = [int(p) for p in re.findall(r"stray (\d+)", log.read_text())]
    with anyio.fail_after(10):
        while [p for p in strays if alive(p)]:
            await anyio.sleep(0.1)


async def test_cancelling_a_fan_out_kills_the_strays_of_its_candidates(loop_config, workspace, tmp_path):
    config, log = with_gpus(loop_config, "[0, 1]"), calls_log(tmp_path)
    paths = []
    for name in ("held_a", "held_b", "held_c", "held_d"):
        (workspace / "vectoradd" / f"{name}.py").write_text(logs_its_stray(log))
        paths.append(f"vectoradd/{name}.py")
    async with Client(build_server(budgeted(config, 0.5), workspace)) as client:
        result = await fan_out(client, paths)
        started = result.structured_content
        assert started["status"] == "running", started["summary"]
        with anyio.fail_after(60):
            while (
                not log.exists() or len(log.read_text().split()) < 4
            ):  # two candidates (one per slot) started
                await anyio.sleep(0.1)
        await cancel_and_wait_for_its_strays(client, started["job_id"], log)


async def test_cancelling_a_smoke_test_job_kills_its_candidates_strays(loop_config, workspace, tmp_path):
    log = calls_log(tmp_path)
    (workspace / "vectoradd" / "held.py").write_text(logs_its_stray(log))
    async with Client(build_server(budgeted(loop_config, 0.5), workspace)) as client:
        result = await client.call_tool(
            "run_smoke_test",
            {"problem": "vectoradd", "candidate": "vectoradd/held.py", "mode": "both", "target": "local"},
        )
        started = result.structured_content
        assert started["status"] == "running", started["summary"]
        with anyio.fail_after(60):
            while not log.exists():
                await anyio.sleep(0.1)
        await cancel_and_wait_for_its_strays(client, started["job_id"], log)
