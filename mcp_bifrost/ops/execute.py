"""exec: run a command in the workspace with caps, a timeout, a call budget, kill and progress.

Procedure: start the command (ops/process_group.py) -> pump stdout/stderr into head+tail buffers -> every
progress interval report the latest line and ping the wrapper -> on timeout or cancellation ask the
wrapper to kill the whole process group (TERM, grace, KILL) over the command's own channel -> past
the call budget, claim the run as a job and return its id instead of blocking the client. Every
call returns within its timeout plus the kill grace, even when it never got a channel.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypedDict

import anyio

from mcp_bifrost.config import KILL_GRACE_S, PROGRESS_INTERVAL_S
from mcp_bifrost.errors import ConnectionLost, TargetError
from mcp_bifrost.messages import Words, say
from mcp_bifrost.models import ExecResult
from mcp_bifrost.ops import process_group
from mcp_bifrost.ops.jobs import job_dir
from mcp_bifrost.ops.output_cap import HeadTail
from mcp_bifrost.ops.remote_command import drain
from mcp_bifrost.targets.base import Target

RECONNECT_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 0.0)  # ~4 s of retries to clean up after a dropped connection
KILL_SETTLE_S = 1.0  # after the grace, how long the channel may take to report the group's end
Progress = Callable[[float, str], Awaitable[None]]


@dataclass(frozen=True)
class ExecLimits:
    timeout_s: float
    budget_s: float | None  # None: wait as long as the timeout allows (CLI)
    cap_bytes: int
    progress_interval_s: float = PROGRESS_INTERVAL_S
    grace_s: float = KILL_GRACE_S


Tee = Callable[[str, bytes], None]  # ("stdout" | "stderr", chunk): the CLI writes output as it comes


class RunOptions(TypedDict, total=False):
    """execute()'s keywords, as a target's kind passes them on."""

    env: dict[str, str] | None
    progress: Progress | None
    words: Words
    tee: Tee | None


async def execute(
    target: Target,
    command: str,
    cwd: str,
    limits: ExecLimits,
    *,
    env: dict[str, str] | None = None,
    progress: Progress | None = None,
    words: Words = Words.TOOL,
    tee: Tee | None = None,
) -> ExecResult:
    jdir = await job_dir(target, process_group.new_job_id())
    out, err = HeadTail(limits.cap_bytes), HeadTail(limits.cap_bytes)
    started = time.monotonic()

    def result(exit_code: int | None, *, job: bool = False, **extra) -> ExecResult:
        hint = say("omitted_job" if job else "omitted_no_log", words)
        return ExecResult(
            target=target.name,
            command=command,
            cwd=cwd,
            exit_code=exit_code,
            stdout=out.text(hint),
            stderr=err.text(hint),
            stdout_bytes=out.total,
            stderr_bytes=err.total,
            truncated=out.truncated or err.truncated,
            duration_s=round(time.monotonic() - started, 4),
            **extra,
        )

    try:
        # a target whose channels are all busy must not stretch the call past its timeout
        fg = await asyncio.wait_for(
            process_group.start_foreground(target, jdir, command, cwd, env), limits.timeout_s
        )
    except (TimeoutError, asyncio.TimeoutError):
        return result(
            None,
            timed_out=True,
            note=say("never_started", words, timeout=limits.timeout_s, target=target.name),
        )
    proc = fg.proc
    pumps = [
        asyncio.ensure_future(drain(proc.read_stdout, out, tee and functools.partial(tee, "stdout"))),
        asyncio.ensure_future(drain(proc.read_stderr, err, tee and functools.partial(tee, "stderr"))),
    ]
    finished = asyncio.ensure_future(_finish(proc, pumps))

    try:
        while True:
            now = time.monotonic() - started
            deadline = limits.timeout_s
            if limits.budget_s is not None and limits.budget_s < limits.timeout_s:
                deadline = min(deadline, limits.budget_s)
            wait = min(limits.progress_interval_s, max(0.0, deadline - now))
            done, _ = await asyncio.wait({finished}, timeout=wait)
            if done:
                code = finished.result()
                missing = process_group.no_dir_error(code, err.text(""), cwd)
                if missing is not None:
                    raise missing
                return result(code)
            now = time.monotonic() - started
            if now >= limits.timeout_s:
                killed = await _kill(fg, finished, limits.grace_s)
                return result(killed, timed_out=True, note=say("timed_out", words, timeout=limits.timeout_s))
            if limits.budget_s is not None and now >= limits.budget_s:
                if await fg.claim(limits.timeout_s - now, limits.grace_s):
                    job_id = jdir.rsplit("/", 1)[1]
                    proc.detach()
                    finished.cancel()
                    return result(
                        None,
                        job=True,
                        job_id=job_id,
                        note=say(
                            "became_job", words, budget=limits.budget_s, job=job_id, timeout=limits.timeout_s
                        ),
                    )
                return result(await _collect(finished))
            await fg.ping()
            if progress is not None:
                line = out.last_line if out.total >= err.total or not err.last_line else err.last_line
                await progress(now, line)
    except ConnectionLost as exc:
        with anyio.CancelScope(shield=True):
            survivors = await _kill_after_reconnect(target, fg, limits.grace_s)
        raise ConnectionLost(
            f"{target.describe()}: the connection was lost after {time.monotonic() - started:.1f} s while the "
            f"command ran ({exc}); {survivors}. Output so far: {out.text('')[-500:]!r}. Run the command again."
        ) from exc
    except BaseException:
        with anyio.CancelScope(shield=True):
            if not finished.done():
                await _kill(fg, finished, limits.grace_s)
                finished.cancel()
        raise


async def _finish(proc, pumps: list[asyncio.Task[None]]) -> int:
    await asyncio.gather(*pumps)
    return await proc.wait()


async def _kill(fg: process_group.Foreground, finished: asyncio.Future, grace_s: float) -> int | None:
    """Kill the group through the wrapper (no new channel); the reserved channel if that fails."""
    if await fg.kill(grace_s):
        code = await _collect(finished, grace_s + KILL_SETTLE_S, give_up=False)
        if code is not None:
            return code
    await process_group.kill_group(fg.target, fg.pgid, grace_s, remove_dir=fg.jdir)
    return await _collect(finished)


async def _kill_after_reconnect(target: Target, fg: process_group.Foreground, grace_s: float) -> str:
    """The command may still run on the host: reconnect and kill its group. (If we cannot, its
    wrapper kills it once it notices the client is gone.)"""
    for delay in RECONNECT_DELAYS_S:
        try:
            survivors = await process_group.kill_group(target, fg.pgid, grace_s, remove_dir=fg.jdir)
        except TargetError as exc:
            error = exc
            await asyncio.sleep(delay)
            continue
        return f"its process group {fg.pgid} was killed after reconnecting ({survivors} survivors)"
    return (
        f"could not reconnect to kill it ({error}); its wrapper on the target kills process group "
        f"{fg.pgid} within {process_group.SILENCE_S} s of losing us"
    )


async def _collect(finished: asyncio.Future, wait_s: float = 5.0, *, give_up: bool = True) -> int | None:
    """The exit status if the command ends within wait_s, else None (and stop listening if give_up)."""
    try:
        return await asyncio.wait_for(asyncio.shield(finished), wait_s)
    except (TimeoutError, asyncio.TimeoutError):
        if give_up:
            finished.cancel()
        return None
