"""A batch of back-to-back calls in the candidate's process, timed on the judge's clock (judge_clock.py).

The clock runs from the request to the answer. What handing the outputs back took (the candidate's
copies into the return regions, describing them) is measured here, by the judge with its own code on
the same bytes, and taken off: it is not the calls. The cores the candidate's process used meanwhile
come from the kernel's scheduler statistics, which that process cannot write.
"""

from __future__ import annotations

import os
import statistics
from typing import Any

import torch

from gpu_harness.arena import DTYPES, ArenaError
from gpu_harness.check import clone_tree
from gpu_harness.guard import perf_counter_ns
from gpu_harness.hand_back import hand_back, tensor_descs
from gpu_harness.outcome import KIND_EXCEPTION, CandidateFailure
from gpu_harness.remote import RemoteCandidate

COPY_ESTIMATES = 3
NULL_ROUNDS = 5  # harness-only one-call batches before the candidate is imported


def batch(
    remote: RemoteCandidate, order: list[Any], keys: list[int], last: list[Any]
) -> tuple[float, dict[int, Any], float | None]:
    """Back-to-back calls on `order` (staged sets): (wall ms per batch, handing back taken off; the last
    output of each set in `last`, keyed by `keys`, cloned here; the cores the candidate's process used)."""
    mark = remote.pool.mark()
    ids = [remote.set_of(v) for v in order]
    rets = {str(remote.set_of(v)): remote.ret_region(v) for v in last}
    wall_ms, cores, answer = _timed_batch(remote, ids, rets)
    if "need" in answer:  # outputs larger than their regions: once more with room for them
        need = int(answer["need"])
        rets = {key: remote.region(need) for key in rets}
        wall_ms, cores, answer = _timed_batch(remote, ids, rets)
    docs = answer.get("outs")
    if not isinstance(docs, dict):
        raise CandidateFailure(
            remote.stage, KIND_EXCEPTION, "the candidate's process handed back no batch outputs"
        )
    shared = {key: remote.rebuild(docs.get(str(remote.set_of(views)))) for key, views in zip(keys, last)}
    outs = {key: clone_tree(tree) for key, tree in shared.items()}
    serve_ms = copy_ms(remote, [(docs.get(key), region) for key, region in rets.items()])
    # on the clones: like the candidate's own outputs, in no arena, so looked for in all of them
    serve_ms += _describe_ms(remote, list(outs.values()))
    remote.pool.rewind(mark)
    return max(wall_ms - serve_ms, 0.0), outs, cores


def null_batch_ms(remote: RemoteCandidate, rounds: int = NULL_ROUNDS) -> float:
    """The fastest of `rounds` one-call batches of the harness's own (op_null_batch), on the judge's
    clock, asked before the candidate is imported: the fixed cost of a one-call round (the request,
    waking the process, its synchronisations, the answer) measured where the candidate cannot slow it.
    Reported beside the one-call rounds (`judge_null_ms`); the bound still allows a constant."""
    best = float("inf")
    for _ in range(rounds):
        remote.sync()
        t0 = perf_counter_ns()
        remote.request({"op": "null_batch"})
        best = min(best, (perf_counter_ns() - t0) / 1e6)
    return best


def _timed_batch(
    remote: RemoteCandidate, ids: list[int], rets: dict[str, Any]
) -> tuple[float, float | None, dict[str, Any]]:
    """One batch request: (wall ms on the judge's clock, cores the candidate's process used (the CPU
    only: the flag that reads them is the CPU's), answer)."""
    on_cpu = remote.device.type == "cpu"
    remote.sync()
    cpu0 = cpu_ns(remote.pid) if on_cpu else None
    t0 = perf_counter_ns()
    answer = remote.request({"op": "batch", "order": ids, "ret": rets})
    wall_ms = (perf_counter_ns() - t0) / 1e6
    cpu1 = cpu_ns(remote.pid) if on_cpu else None
    cores = (cpu1 - cpu0) / 1e6 / wall_ms if cpu0 is not None and cpu1 is not None and wall_ms else None
    return wall_ms, cores, answer


def _describe_ms(remote: RemoteCandidate, trees: list[Any]) -> float:
    """What describing the outputs costs the candidate's process when it hands them back (the
    harness's own hand_back, run here by the judge on the same trees, and the synchronisation that
    ends it), median of a few: per output ~0.1 ms on the H100 (2026-12-07), which a batch that
    calls each set once no longer spreads over hundreds of calls."""
    arenas = {arena.ident: arena for arena in remote.pool.arenas}
    times = []
    for _ in range(COPY_ESTIMATES):
        t0 = perf_counter_ns()
        for tree in trees:
            hand_back(tree, None, arenas, remote.sync)
        remote.sync()
        times.append((perf_counter_ns() - t0) / 1e6)
    return statistics.median(times)


def copy_ms(remote: RemoteCandidate, handed: list[tuple[Any, tuple[int, int, int]]]) -> float:
    """What the candidate's copies into its return regions take, on the judge's clock: the same
    bytes copied here into memory already touched, median of a few. Outputs written in place
    (in an arena already) were not copied, and cost nothing."""
    copied = [
        (view, d)
        for doc, region in handed
        if isinstance(doc, dict)
        for d in tensor_descs(doc)
        if (view := _copied_view(remote, d, region)) is not None
    ]
    if not copied:
        return 0.0
    targets = [torch.empty_like(view) for view, _d in copied]
    for target, (source, _d) in zip(targets, copied):  # pages touched before the clock starts
        target.copy_(source)
    times = []
    for _ in range(COPY_ESTIMATES):
        remote.sync()
        t0 = perf_counter_ns()
        for target, (source, d) in zip(targets, copied):
            # the candidate's process makes a view of the return region for each copy; so does this
            remote.pool.view(int(d["arena"]), int(d["offset"]), source.dtype, source.shape, source.stride())
            target.copy_(source)
        remote.sync()
        times.append((perf_counter_ns() - t0) / 1e6)
    return statistics.median(times)


def _copied_view(
    remote: RemoteCandidate, d: dict[str, Any], region: tuple[int, int, int]
) -> torch.Tensor | None:
    """The judge's view of an output leaf the candidate copied into `region`; None for one written
    in place, or described so that it cannot be read (the rebuild flagged it already)."""
    arena, start, size = region
    try:
        if d.get("arena") != arena or not start <= int(d.get("offset", -1)) < start + size:
            return None
        return remote.pool.view(
            int(d["arena"]),
            int(d["offset"]),
            DTYPES[str(d["dtype"])],
            tuple(int(x) for x in d["shape"]),
            tuple(int(x) for x in d["stride"]),
        )
    except (ArenaError, KeyError, TypeError, ValueError, RuntimeError):
        return None


def cpu_ns(pid: int) -> int | None:
    """CPU time process `pid` has used, all its threads (the kernel's scheduler statistics, which the
    process cannot write); None where they cannot be read."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total
