"""The harness without its worker: a one-shot evaluation (a fresh process, its last stdout line the
report), a failed start's stderr in one line, and the job records of an evaluation that outlives its
tool call (ops/jobs.py's layout, remote/harness_job.sh).
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from collections.abc import Callable
from typing import Any

import anyio

from mcp_bifrost.errors import (
    BifrostError,
    HarnessProtocolError,
)
from mcp_bifrost.loop.harness_worker import KILL_GRACE_S, STDERR_KEEP, exit_status, json_line, stderr_gist
from mcp_bifrost.ops import jobs
from mcp_bifrost.ops.output_cap import HeadTail
from mcp_bifrost.ops.remote_command import drain, quote, run_capture
from mcp_bifrost.remote import command as remote_command
from mcp_bifrost.targets.base import Target


async def run_oneshot(
    target: Target, command: str, timeout_s: float, on_start: Callable[[int | None], None] | None = None
) -> tuple[dict[str, Any], int]:
    """Run a one-shot harness command; its last stdout line is the JSON document."""
    proc = await target.start(command)
    if on_start:
        on_start(proc.pgid)
    out, err = HeadTail(8 << 20), HeadTail(STDERR_KEEP)

    async def finish() -> int:
        await asyncio.gather(drain(proc.read_stdout, out), drain(proc.read_stderr, err))
        return await proc.wait()

    try:
        status = await asyncio.wait_for(finish(), timeout_s)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(BifrostError, OSError):
                await jobs.kill_group(target, proc.pgid, KILL_GRACE_S)
            proc.detach()
            await exit_status(proc)
        if isinstance(exc, asyncio.TimeoutError):
            raise HarnessProtocolError(
                f"the harness on {target.name} gave no answer within {timeout_s:g} s; "
                f"it was killed. stderr: {err.text().strip()[-500:]}"
            ) from None
        raise
    lines = [ln for ln in out.text().splitlines() if ln.strip()]
    doc = json_line(lines[-1].encode()) if lines else None
    if doc is None:
        raise HarnessProtocolError(
            f"the harness on {target.name} printed no JSON report (exit {status}): "
            f"{stderr_gist(err.text(), target.python)}"
        )
    return doc, proc.pgid


# -- jobs: an evaluation that outlives its tool call -------------------------------------------------
async def record_job_start(target: Target, pgid: int | None, command: str, cwd: str) -> str:
    """A job dir (ops/jobs.py layout) for an evaluation still running; returns the bare job id."""
    job_id = jobs.new_job_id()
    jdir = await jobs.job_dir(target, job_id)
    done = await run_capture(
        target, remote_command("harness_job", jdir, "start", str(pgid or 0), command, cwd)
    )
    done.check(f"recording job {job_id} on {target.name}")
    return job_id


async def record_job_finish(target: Target, job_id: str, exit_code: int, report_json: str) -> None:
    jdir = await jobs.job_dir(target, job_id)
    done = await run_capture(
        target, remote_command("harness_job", jdir, "finish", str(exit_code)), input=report_json.encode()
    )
    done.check(f"recording the end of job {job_id} on {target.name}")


async def read_job_report(target: Target, log_dir: str) -> str | None:
    done = await run_capture(target, f"cat {quote(posixpath.join(log_dir, 'report.json'))} 2>/dev/null")
    return done.stdout.decode(errors="replace") if done.exit_status == 0 and done.stdout else None
