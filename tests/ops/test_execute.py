"""exec against the local target and a real sshd: results, caps, timeouts, kill, budget -> job."""

from __future__ import annotations

import secrets

import anyio
import pytest

from mcp_bifrost.ops import jobs
from mcp_bifrost.ops.execute import ExecLimits, execute
from mcp_bifrost.ops.remote_command import run_capture
from mcp_bifrost.ops.workspace import workdir

pytestmark = pytest.mark.anyio
LIMITS = ExecLimits(timeout_s=30, budget_s=None, cap_bytes=4000, progress_interval_s=0.5, grace_s=1)


async def _cwd(target) -> str:
    return await workdir(target)


async def test_exec_returns_exit_code_and_both_streams(target):
    r = await execute(target, "echo out; echo err >&2; exit 7", await _cwd(target), LIMITS)
    assert (r.exit_code, r.stdout, r.stderr) == (7, "out\n", "err\n")
    assert not r.truncated and not r.timed_out


async def test_exec_reports_command_not_found_as_exit_127(target):
    r = await execute(target, "no-such-command-xyz", await _cwd(target), LIMITS)
    assert r.exit_code == 127
    assert "not found" in r.stderr


async def test_exec_caps_50_megabytes_of_output_to_head_and_tail(target):
    r = await execute(
        target, "head -c 50000000 /dev/zero | tr '\\0' x; echo; echo END", await _cwd(target), LIMITS
    )
    assert r.exit_code == 0
    assert r.stdout_bytes == 50_000_000 + 5
    assert r.truncated and len(r.stdout) < 5000
    assert r.stdout.startswith("xxx") and r.stdout.endswith("END\n")


async def test_exec_passes_env_and_cwd(target):
    base = await _cwd(target)
    r = await execute(target, "mkdir -p sub && cd sub && pwd", base, LIMITS)
    r = await execute(target, 'echo "$GREETING"; pwd', base + "/sub", LIMITS, env={"GREETING": "hi 'there'"})
    assert r.stdout.splitlines() == ["hi 'there'", base + "/sub"]


async def _group_alive(target, marker: str) -> bool:
    # "[x]yz" matches "xyz" but not this shell's own command line
    done = await run_capture(target, f"pgrep -f '[{marker[0]}]{marker[1:]}' || true")
    return bool(done.stdout.strip())


async def test_timeout_kills_the_whole_process_group(target):
    marker = "bifrost_timeout_marker"
    r = await execute(
        target,
        f"bash -c 'exec -a {marker} sleep 60' & bash -c 'exec -a {marker} sleep 60'; echo never",
        await _cwd(target),
        ExecLimits(timeout_s=1, budget_s=None, cap_bytes=1000, grace_s=1),
    )
    assert r.timed_out and r.exit_code in (143, 137, None)
    assert "never" not in r.stdout
    assert not await _group_alive(target, marker)


async def test_cancellation_kills_the_remote_command(target):
    marker = f"bifrost_cancel_{secrets.token_hex(4)}"  # unique: a leftover of another run must not count
    cwd = await _cwd(target)
    async with anyio.create_task_group() as tg:
        tg.start_soon(execute, target, f"bash -c 'exec -a {marker} sleep 60'", cwd, LIMITS)
        with anyio.fail_after(10):  # it must have started, or its absence below would prove nothing
            while not await _group_alive(target, marker):
                await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    assert not await _group_alive(target, marker)


async def test_command_past_the_call_budget_becomes_a_job(target):
    limits = ExecLimits(timeout_s=60, budget_s=1, cap_bytes=1000, progress_interval_s=0.3, grace_s=1)
    seen: list[str] = []

    async def progress(elapsed: float, line: str) -> None:
        seen.append(line)

    r = await execute(
        target, "echo started; sleep 2; echo finished", await _cwd(target), limits, progress=progress
    )
    assert r.job_id and r.exit_code is None and "job" in r.note
    assert "started" in seen
    with anyio.fail_after(10):
        while (info := await jobs.job_status(target, r.job_id)).state == "running":
            await anyio.sleep(0.2)
    assert info.state == "finished" and info.exit_code == 0
    logs = await jobs.job_logs(target, r.job_id, tail_lines=10, cap_bytes=1000)
    assert logs.stdout == "started\nfinished\n"


async def test_foreground_exec_leaves_no_job_dir_behind(target):
    await execute(target, "true", await _cwd(target), LIMITS)
    done = await run_capture(target, f"ls {await _cwd(target)}/jobs | wc -l")
    assert done.stdout.strip() == b"0"
