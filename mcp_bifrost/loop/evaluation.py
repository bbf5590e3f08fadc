"""One evaluation on a target, start to finish: harness installed -> GPU locked -> run -> report.

Runs as a task so that the call can return at its budget while the evaluation goes on: past the
budget, the run is filed as a job (ops/jobs.py layout, remote/harness_job.sh) and its report is
written there when it arrives, so job_status carries it, even after a server restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from mcp_bifrost.loop.gpu_lock import gpu_lock
from mcp_bifrost.loop.harness import TargetHarness, record_job_finish, record_job_start
from mcp_bifrost.ops.process_group import kill_group
from mcp_bifrost.remote import command as remote_command
from mcp_bifrost.targets.base import Process, Target

M = TypeVar("M", bound=BaseModel)
_DETACHED: set[asyncio.Future[Any]] = set()  # keeps the tasks that finish jobs alive
Progress = Callable[[float, str], Awaitable[None]]


@dataclass(frozen=True)
class EvalLimits:
    timeout_s: float
    budget_s: float | None  # None: wait to the end (CLI)
    gpu_wait_s: float
    progress_interval_s: float = 2.0


@dataclass
class EvalState:
    """What the running evaluation is doing, for progress messages and for filing it as a job."""

    phase: str = "installing the harness"
    pgid: int | None = None
    gpu_wait_s: float = 0.0
    detached: bool = False
    waiting: str = ""


@dataclass
class Started(Generic[M]):
    """The evaluation outlived the call budget and continues as job `job_id` (bare, unqualified)."""

    job_id: str
    elapsed_s: float
    phase: str
    extra: dict[str, Any] = field(default_factory=dict)


Run = Callable[[EvalState], Awaitable[M]]


async def run_locked(
    h: TargetHarness, gpu: int | None, purpose: str, limits: EvalLimits, state: EvalState, work: Run[M]
) -> M:
    """The evaluation body: the target's worker and its GPU, held for the duration. `gpu=None` (Slurm:
    the scheduler gives the GPU, each run is its own srun step) takes neither lock."""

    async def on_wait(message: str) -> None:
        state.waiting = message

    await h.folder()
    if gpu is None:
        state.phase = "evaluating"
        return await work(state)
    if h.gpu_less:  # one worker, one request at a time; no GPU to lock
        state.phase = "waiting for the worker"
        async with h.lock:
            state.phase = "evaluating"
            return await work(state)
    state.phase = "waiting for the worker"
    async with h.lock:
        state.phase = f"waiting for GPU {gpu}"
        async with gpu_lock(h.target, gpu, purpose, timeout_s=limits.gpu_wait_s, on_wait=on_wait) as waited:
            state.gpu_wait_s = round(waited, 3)
            state.waiting = ""
            state.phase = "evaluating"
            return await work(state)


async def evaluate(
    h: TargetHarness,
    gpu: int | None,
    purpose: str,
    limits: EvalLimits,
    work: Run[M],
    *,
    job_command: str,
    job_cwd: str,
    progress: Progress | None,
    on_done: Callable[[M], Awaitable[None]],
    on_job_report: Callable[[M], str],
    on_job_error: Callable[[BaseException], str],
) -> M | Started[M]:
    """Run `work` under the lock; return its model, or `Started` once past the call budget."""
    state = EvalState()
    started = time.monotonic()
    task: asyncio.Task[M] = asyncio.ensure_future(run_locked(h, gpu, purpose, limits, state, work))
    try:
        while True:
            await asyncio.wait({task}, timeout=limits.progress_interval_s)
            if task.done():
                model = task.result()
                await on_done(model)
                return model
            elapsed = time.monotonic() - started
            past_budget = limits.budget_s is not None and elapsed >= limits.budget_s
            if past_budget and state.phase == "evaluating" and state.pgid:
                job_id = await record_job_start(h.target, state.pgid, job_command, job_cwd)
                state.detached = True
                finisher = asyncio.ensure_future(
                    _finish_job(h, job_id, task, on_done, on_job_report, on_job_error)
                )
                _DETACHED.add(finisher)
                finisher.add_done_callback(_DETACHED.discard)
                return Started(job_id=job_id, elapsed_s=round(elapsed, 2), phase=state.phase)
            if progress is not None:
                await progress(elapsed, state.waiting or f"{state.phase} ({elapsed:.0f} s)")
    except BaseException:
        if not state.detached:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        raise


async def detach(
    target: Target,
    task: asyncio.Task[M],
    command: str,
    cwd: str,
    on_report: Callable[[M], tuple[int, str]],
    on_error: Callable[[BaseException], str],
    grace_s: float,
) -> str:
    """File `task` (work that runs in this server: a fan-out) as a job of `target`; return its id.

    A holder process on the target stands for the work: job_status sees it running while the holder
    lives, job_cancel kills the holder and the task is cancelled with it; when the task ends, its report
    goes into the job dir first (`on_report`: exit code and JSON), then the holder is stopped."""
    holder = await target.start(remote_command("harness_job", "-", "hold"), stdin=True)
    try:
        job_id = await record_job_start(target, holder.pgid, command, cwd)
    except BaseException:
        await kill_group(target, holder.pgid, 0)
        raise
    finisher = asyncio.ensure_future(_finish_held(target, job_id, holder, task, on_report, on_error, grace_s))
    _DETACHED.add(finisher)
    finisher.add_done_callback(_DETACHED.discard)
    return job_id


async def _finish_held(
    target: Target,
    job_id: str,
    holder: Process,
    task: asyncio.Task[M],
    on_report: Callable[[M], tuple[int, str]],
    on_error: Callable[[BaseException], str],
    grace_s: float,
) -> None:
    released = asyncio.ensure_future(holder.wait())
    try:
        await asyncio.wait({task, released}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():  # the holder is gone (job_cancel, or the link died): stop the work too
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return
        try:
            model = task.result()
        except BaseException as exc:  # noqa: BLE001 - the job record must say how it ended
            await record_job_finish(target, job_id, 2, on_error(exc))
            return
        await record_job_finish(target, job_id, *on_report(model))
    except Exception:  # noqa: BLE001 - nobody is waiting; the job shows as lost
        pass
    finally:
        if not released.done():
            released.cancel()
            try:  # end of input ends it; the kill is for a holder that did not see it
                await holder.close_stdin()
                await asyncio.wait_for(holder.wait(), grace_s + 1)
            except Exception:  # noqa: BLE001
                try:
                    await kill_group(target, holder.pgid, grace_s)
                except Exception:  # noqa: BLE001 - the link is gone: the holder went with it
                    pass


async def _finish_job(
    h: TargetHarness,
    job_id: str,
    task: asyncio.Task[M],
    on_done: Callable[[M], Awaitable[None]],
    on_job_report: Callable[[M], str],
    on_job_error: Callable[[BaseException], str],
) -> None:
    """When a detached evaluation ends: write its report into the job dir, and remember it."""
    try:
        model = await task
    except BaseException as exc:  # noqa: BLE001 - the job record must say how it ended
        try:
            await record_job_finish(h.target, job_id, 2, on_job_error(exc))
        except Exception:  # noqa: BLE001 - nobody is waiting; the job shows as lost
            pass
        return
    try:
        await record_job_finish(
            h.target, job_id, 0 if getattr(model, "passed", True) else 1, on_job_report(model)
        )
    finally:
        await on_done(model)
