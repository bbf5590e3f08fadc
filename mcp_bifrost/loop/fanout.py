"""Fan-out: evaluate N candidates at once over the slots a target offers, then rank them.

An agent writes several variants per step; evaluating them one after another on one GPU leaves the
others idle. Slots:
- Slurm: one Slurm job per candidate; Slurm picks each GPU, so no GPU index is ours to give. As many
  jobs in flight as the partition has GPUs idle now (at most `max_parallel`): a job submitted when a
  GPU is free starts at once, while one left pending starts about a second after a GPU frees (measured
  on Slurm 22.05: 6 x 1 s candidates over 2 GPUs took 4.8 s with all six queued, 4.2 s with two in
  flight). With no GPU idle, all `max_parallel` are queued: they would wait anyway, and keep their place.
- ssh / local with several `gpus`: one slot per GPU, taken from a pool, so two candidates never share
  a GPU; the evaluation runs with CUDA_VISIBLE_DEVICES set to its slot's GPU.
- ssh / local without `gpus`: one slot (the candidates run one after another).
The procedure: take a free slot -> evaluate -> give the slot back -> report "k/N done"; a failed
evaluation is recorded and the others go on; cancelling the call cancels every evaluation in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mcp_bifrost.errors import BifrostError
from mcp_bifrost.models import CandidateResult, ExecResult, FanoutResult
from mcp_bifrost.ops.execute import ExecLimits
from mcp_bifrost.ops.host import Slot as Slot  # re-exported: a fan-out's callers name its slots
from mcp_bifrost.ops.kinds import kind_of
from mcp_bifrost.targets.base import Target

R = TypeVar("R")
FanoutProgress = Callable[[int, int, str], Awaitable[None]]


def slots_for(target: Target, gpus: Sequence[int], n: int, *, idle_gpus: int | None = None) -> list[Slot]:
    """The slots for n candidates on this target (see the module docstring); its kind decides."""
    return kind_of(target).slots(target, gpus, n, idle_gpus)


@dataclass
class Outcome(Generic[R]):
    index: int
    candidate: str
    slot: Slot
    result: R | None
    error: str | None
    score: float | None
    seconds: float


async def fan_out(
    candidates: Sequence[str],
    evaluate: Callable[[str, Slot], Awaitable[R]],
    slots: Sequence[Slot],
    *,
    score: Callable[[R], float | None],
    progress: FanoutProgress | None = None,
) -> list[Outcome[R]]:
    """Evaluate every candidate, at most one per slot at a time; outcomes in the candidates' order."""
    free: asyncio.Queue[Slot] = asyncio.Queue()
    for slot in slots:
        free.put_nowait(slot)
    done = 0

    async def one(index: int, candidate: str) -> Outcome[R]:
        nonlocal done
        slot = await free.get()
        started = time.monotonic()
        try:
            result = await evaluate(candidate, slot)
            outcome = Outcome(index, candidate, slot, result, None, score(result), time.monotonic() - started)
        except BifrostError as exc:
            outcome = Outcome(index, candidate, slot, None, str(exc), None, time.monotonic() - started)
        finally:
            free.put_nowait(slot)
        done += 1
        if progress is not None:
            await progress(done, len(candidates), f"{done}/{len(candidates)} done")
        return outcome

    return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(candidates))))


def rank(outcomes: Sequence[Outcome[Any]], *, lower_is_better: bool = True) -> list[int]:
    """Indices of the candidates that produced a score, best first; failed ones are not ranked."""
    scored = [o for o in outcomes if o.score is not None]
    scored.sort(key=lambda o: (o.score if lower_is_better else -o.score, o.index))  # type: ignore[operator]
    return [o.index for o in scored]


def exec_score(result: ExecResult) -> float | None:
    """A command candidate's score: the number on its last stdout line (its own measured time, say;
    lower is better). Wall time would count the time a Slurm job waited in the queue. A command that
    fails or ends without a number is not ranked."""
    if result.exit_code != 0:
        return None
    lines = result.stdout.strip().splitlines()
    try:
        return float(lines[-1]) if lines else None
    except ValueError:
        return None


async def exec_candidates(
    target: Target,
    commands: Sequence[str],
    cwd: str,
    limits: ExecLimits,
    slots: Sequence[Slot],
    *,
    env: dict[str, str] | None = None,
    progress: FanoutProgress | None = None,
) -> FanoutResult:
    """Run each command as one candidate (one srun job each on Slurm); rank by the score it prints."""
    started = time.monotonic()

    async def evaluate(command: str, slot: Slot) -> ExecResult:
        return await kind_of(target).run(target, command, cwd, limits, env={**(env or {}), **slot.env()})

    outcomes = await fan_out(commands, evaluate, slots, score=exec_score, progress=progress)
    return FanoutResult(
        target=target.name,
        slots=len(slots),
        duration_s=round(time.monotonic() - started, 3),
        score="the number on a successful command's last stdout line; lower is better",
        ranking=rank(outcomes),
        results=[
            CandidateResult(
                index=o.index,
                candidate=o.candidate,
                gpu=o.slot.gpu,
                score=o.score,
                error=o.error,
                seconds=round(o.seconds, 3),
                exec=o.result,
            )
            for o in outcomes
        ],
    )


def where_text(slots: int, devices: list[dict[str, Any]]) -> str:
    """Where a fan-out ran, in the words of what ran it: GPUs, or the CPU when no GPU did."""
    if devices and all(d.get("type") == "cpu" or d.get("name") == "cpu" for d in devices):
        return f"the CPU ({slots} at a time)"
    return f"{slots} GPU{'s' if slots != 1 else ''}"


def count_text(passed: int, failed: int, not_run: int) -> str:
    """'2 pass, 1 fail[, 3 not run]': a candidate the target could not run (no GPU) is no failure."""
    return f"{passed} pass, {failed} fail" + (f", {not_run} not run" if not_run else "")
