"""exec: run a command in the workspace with caps, a timeout, a call budget, kill and progress.

Procedure: start the wrapper (ops/jobs.py) on the target -> pump stdout/stderr into head+tail
buffers -> every progress interval report the latest line -> on timeout or cancellation kill the
whole process group (TERM, grace, KILL) over another channel -> past the call budget, claim the
run as a job and return its id instead of blocking the client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from mcp_bifrost.errors import ConnectionLost, TargetError
from mcp_bifrost.models import ExecResult
from mcp_bifrost.ops import jobs
from mcp_bifrost.ops.capture import HeadTail
from mcp_bifrost.targets.base import Process, Target

RECONNECT_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 0.0)  # ~4 s of retries to clean up after a dropped connection
Progress = Callable[[float, str], Awaitable[None]]


@dataclass(frozen=True)
class ExecLimits:
    timeout_s: float
    budget_s: float | None  # None: wait as long as the timeout allows (CLI)
    cap_bytes: int
    progress_interval_s: float = 2.0
    grace_s: float = 2.0


async def _pump(read: Callable[[], Awaitable[bytes]], sink: HeadTail) -> None:
    while chunk := await read():
        sink.add(chunk)


async def execute(
    target: Target,
    command: str,
    cwd: str,
    limits: ExecLimits,
    *,
    env: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> ExecResult:
    jdir = await jobs.job_dir(target, jobs.new_job_id())
    script = jobs.wrapper_script(jdir, command, cwd, env, foreground=True)
    out, err = HeadTail(limits.cap_bytes), HeadTail(limits.cap_bytes)
    started = time.monotonic()
    proc: Process = await target.start(script)
    pumps = [asyncio.ensure_future(_pump(proc.read_stdout, out)), asyncio.ensure_future(_pump(proc.read_stderr, err))]
    finished = asyncio.ensure_future(_finish(proc, pumps))

    def result(exit_code: int | None, **extra) -> ExecResult:
        return ExecResult(
            target=target.name, command=command, cwd=cwd, exit_code=exit_code,
            stdout=out.text(), stderr=err.text(), stdout_bytes=out.total, stderr_bytes=err.total,
            truncated=out.truncated or err.truncated, duration_s=round(time.monotonic() - started, 4), **extra,
        )

    try:
        while True:
            now = time.monotonic() - started
            deadline = limits.timeout_s
            if limits.budget_s is not None and limits.budget_s < limits.timeout_s:
                deadline = min(deadline, limits.budget_s)
            wait = min(limits.progress_interval_s, max(0.0, deadline - now))
            done, _ = await asyncio.wait({finished}, timeout=wait)
            if done:
                return result(finished.result())
            now = time.monotonic() - started
            if now >= limits.timeout_s:
                await _kill(target, proc, jdir, limits.grace_s)
                code = await _collect(finished)
                return result(code, timed_out=True, note=f"timed out after {limits.timeout_s:g} s; the process "
                              "group was killed (TERM, then KILL). Raise timeout_s or use background=true.")
            if limits.budget_s is not None and now >= limits.budget_s:
                if await jobs.claim(target, jdir, limits.timeout_s - now, limits.grace_s):
                    job_id = jdir.rsplit("/", 1)[1]
                    proc.detach()
                    finished.cancel()
                    return result(None, job_id=job_id, note=(
                        f"still running after the {limits.budget_s:g} s call budget, so it continues as job "
                        f"{job_id} (timeout {limits.timeout_s:g} s still applies). Poll job_status / job_logs, "
                        "or job_cancel it."))
                return result(await _collect(finished))
            if progress is not None:
                line = (out.last_line if out.total >= err.total or not err.last_line else err.last_line)
                await progress(now, line)
    except ConnectionLost as exc:
        with anyio.CancelScope(shield=True):
            survivors = await _kill_after_reconnect(target, proc, jdir, limits.grace_s)
        raise ConnectionLost(
            f"{target.describe()}: the connection was lost after {time.monotonic() - started:.1f} s while the "
            f"command ran ({exc}); {survivors}. Output so far: {out.text()[-500:]!r}. Run the command again."
        ) from exc
    except BaseException:
        with anyio.CancelScope(shield=True):
            if not finished.done():
                await _kill(target, proc, jdir, limits.grace_s)
                finished.cancel()
        raise


async def _finish(proc: Process, pumps: list[asyncio.Future]) -> int:
    await asyncio.gather(*pumps)
    return await proc.wait()


async def _kill(target: Target, proc: Process, jdir: str, grace_s: float) -> int:
    return await jobs.kill_group(target, proc.pgid, grace_s, remove_dir=jdir)


async def _kill_after_reconnect(target: Target, proc: Process, jdir: str, grace_s: float) -> str:
    """The command may still run on the host (sshd does not kill it): reconnect and kill its group."""
    for delay in RECONNECT_DELAYS_S:
        try:
            survivors = await _kill(target, proc, jdir, grace_s)
        except TargetError as exc:
            error = exc
            await asyncio.sleep(delay)
            continue
        return f"its process group {proc.pgid} was killed after reconnecting ({survivors} survivors)"
    return f"could not reconnect to kill it ({error}); it may still be running as process group {proc.pgid}"


async def _collect(finished: asyncio.Future, wait_s: float = 5.0) -> int | None:
    try:
        return await asyncio.wait_for(asyncio.shield(finished), wait_s)
    except TimeoutError:
        finished.cancel()
        return None
