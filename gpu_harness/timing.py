"""Benchmarking, written to be audited: `time_case` reads top to bottom as the procedure.

    draw once and plan the input sets (memory.py) -> warm up -> interleaved trials (reference,
    candidate, alternating order) until both stopping rules are satisfied, the case's budget is
    spent or its share of the deadline is gone -> host-clock samples -> the judge's batches ->
    summarise.

Every sample refills the working set in place with values from a fresh draw, which no earlier call
saw (outside the timed region, version counters kept so a cache keyed on pointer, id or version sees
"unchanged", and a cache keyed on contents never hits), poisons output buffers, and goes through
`timed_call`: flush L2, synchronise, time the call with CUDA events and with a host clock around a
device-wide synchronize. The reference is timed here, in the judge; the
candidate in its own process (remote.py), next to its kernel, by the same `timed_call` - so its
event times are its own claims. A random subset of its samples is verified against the reference
computed afterwards on the judge's copy of the values. Then the judge checks the claim with its own
clock (`judge_batches`); benchmark.py flags a claim beyond noise below it (`timing_disagrees`)
and never reports a speed-up better than the judge's clock supports. On a CPU-only machine the
host clock alone is used and the result says so (`clock: "host"`).
"""

from __future__ import annotations

import math
import os
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from gpu_harness import memory, timing_flags
from gpu_harness.check import clone_tree, scrub, shares_memory, tensor_leaves
from gpu_harness.clocks import (
    ASSUMED_CLOCK_MHZ,
    ColdCache,
    clock_mhz,
    launch_cover_cycles,
    reset_persisting_l2,
)
from gpu_harness.guard import CudaEvent, cuda_sleep, cuda_synchronize, perf_counter_ns
from gpu_harness.host_clock import host_call, host_rounds
from gpu_harness.judge_clock import JudgeCheck, batch_sets_wanted, judge_batches
from gpu_harness.outcome import TimingResult
from gpu_harness.remote import RemoteCandidate
from gpu_harness.rotation import InputRotation
from gpu_harness.stopping import (
    BUDGET_S,
    MAX_SAMPLES,
    MIN_SAMPLES,
    MIN_SAMPLES_SLOW,
    MIN_TIME_MS,
    TARGET_RSE,
    WARMUP_CALLS,
    StoppingRule,
    summarise,
)

# Of a case's share of the deadline, the trials may use this much; the rest is host samples and slack.
TRIAL_SHARE = 0.7
# Host-clock samples per function, taken without the cover (see time_case step 5).
HOST_SAMPLES = 10
MIN_HOST_SAMPLES = 3
# Verification of timed candidate outputs.
VERIFY_SHARE = 0.1
MIN_VERIFIED = 3
JUDGE_SHARE = 0.15  # of a case's cap, kept for the judge's batches (judge_clock.py)


# -- the procedure ----------------------------------------------------------------------------
class Phases:
    """Seconds each step of `time_case` took (first draw and sets, warm-up, trials, host samples, the
    judge's batches): a slow smoke test says where its time went, and a speed-up of the harness is
    measured per step."""

    def __init__(self, elapsed: Callable[[], float]):
        self._elapsed, self._last = elapsed, 0.0
        self.seconds: dict[str, float] = {}

    def mark(self, step: str) -> None:
        now = self._elapsed()
        self.seconds[step] = round(now - self._last, 4)
        self._last = now


@dataclass
class TimingInputs:
    """What `time_case` needs from the problem, the candidate's process, the guard and the deadline."""

    reference: Callable[[Any], Any]
    candidate: RemoteCandidate
    generate: Callable[[int], Any]  # seed -> fresh input set of the case's shape
    verify: Callable[[Any, Any], tuple[bool, str]]  # (pristine copy, output) -> (correct?, why not)
    seed: int
    time_cap_s: float = math.inf  # this case's share of the evaluation's deadline
    poisonable: set[int] = field(default_factory=set)
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class TimingOutcome:
    result: TimingResult
    failed_verifications: int
    changed_after_return: int  # verified outputs that changed after the call returned
    first_set: Any  # one input set, for the roofline floor's flop count
    read_bytes: int = 0  # bytes of the inputs a call must read (output buffers excluded)
    out_bytes: int = 0  # bytes a call must write (output buffer or reference output)
    hidden_work: str | None = None  # host time the events missed, confirmed twice (GPU)
    first_failure: str = ""  # which verified timed call was wrong, and how
    judge: JudgeCheck | None = None


def time_case(name: str, params: dict[str, Any], job: TimingInputs, device: torch.device) -> TimingOutcome:
    started = perf_counter_ns()
    on_gpu = device.type == "cuda"
    elapsed = lambda: (perf_counter_ns() - started) / 1e9  # noqa: E731
    cap = job.time_cap_s
    budget_s = min(float(job.overrides.get("budget_s", BUDGET_S[device.type])), TRIAL_SHARE * cap)
    min_time = float(job.overrides.get("min_time_ms", MIN_TIME_MS[device.type]))
    rules = {
        who: StoppingRule(
            int(job.overrides.get("min_samples", MIN_SAMPLES)),
            int(job.overrides.get("max_samples", MAX_SAMPLES)),
            float(job.overrides.get("target_rse", TARGET_RSE)),
            min_time,
        )
        for who in ("reference", "candidate")
    }
    remote = job.candidate

    # 1. one draw, timed; reference calls on a copy give the output size and the call time; the input
    #    sets are planned from free memory, their size, the draw time and the sets the judge's batches
    #    want at that call time (memory.py, judge_clock.py). A working
    #    set is held twice: the judge's, and the copy in shared memory the candidate's process sees.
    t0 = perf_counter_ns()
    first = job.generate(job.seed)
    if on_gpu:
        cuda_synchronize()
    draw_s = (perf_counter_ns() - t0) / 1e9
    set_bytes = memory.tree_bytes(first)
    probe = clone_tree(first)
    scrub(job.reference(probe))  # the first call may compile or initialise a library
    if on_gpu:
        cuda_synchronize()
    t0 = perf_counter_ns()
    out = job.reference(probe)
    if on_gpu:
        cuda_synchronize()
    reference_ms = (perf_counter_ns() - t0) / 1e6
    out_bytes = sum(
        o.numel() * o.element_size()
        for o in tensor_leaves(out)
        if not any(shares_memory(o, i) for i in tensor_leaves(probe))
    )
    scrub(out)
    scrub(probe)
    del out, probe
    leaves = tensor_leaves(first)
    read_bytes = sum(t.numel() * t.element_size() for i, t in enumerate(leaves) if i not in job.poisonable)
    buffer_bytes = set_bytes - read_bytes
    floor_out_bytes = (
        min(out_bytes, buffer_bytes) if buffer_bytes and out_bytes else out_bytes or buffer_bytes
    )
    free, total = memory.free_bytes(device, job.overrides.get("memory_bytes"))  # read right before use
    plan = memory.plan_sets(
        set_bytes,
        out_bytes,
        free,
        total,
        device.type,
        draw_s,
        min(cap, max(budget_s, 1.0)),
        batch_sets_wanted(reference_ms, device),
    )
    while True:
        try:
            remote.new_case()
            rotation = InputRotation(first, job.generate, job.seed, plan, job.poisonable, remote)
            cold = ColdCache(device)
            break
        except torch.OutOfMemoryError:
            if plan.working <= 1:
                raise
            memory.release(device, force=True)
            plan = memory.fewer(plan)
    if on_gpu:
        reset_persisting_l2()
    remote.sync()
    phases = Phases(elapsed)
    phases.mark("sets")

    # 2. warm up both on the rotation (compiles, autotunes, allocator pools); learn the host-side
    #    call time (sizes the launch cover) and the whole sample time (sizes what fits the cap)
    calls: dict[str, list[float]] = {"reference": [], "candidate": []}
    sample_s = {"reference": 0.0, "candidate": 0.0}
    for i in range(WARMUP_CALLS):
        t0 = perf_counter_ns()
        k = rotation.refill(-1 - i)  # draws no trial sees (the trials' are 0, 1, ...)
        call_ms, _host, out = host_call(job.reference, rotation.private[k], cold)
        _release(out, "reference")
        del out
        calls["reference"].append(call_ms)
        sample_s["reference"] = (perf_counter_ns() - t0) / 1e9
        t0 = perf_counter_ns()
        k = rotation.refill(-1 - i)
        remote.sync()
        call_ms, _host = remote.host_sample(rotation.shared[k])
        calls["candidate"].append(call_ms)
        sample_s["candidate"] = (perf_counter_ns() - t0) / 1e9  # the judge's clock
        if elapsed() + 2 * sum(sample_s.values()) * (MIN_SAMPLES_SLOW + MIN_HOST_SAMPLES) > cap:
            break  # a slow kernel: keep what is left of the cap for the samples
    call_ms = {who: max(seen[1:] or seen) for who, seen in calls.items()}  # the first call compiles
    cover_cycles = launch_cover_cycles(max(call_ms.values()), device) if on_gpu else 0
    phases.mark("warmup")

    # 3. trials: interleaved, alternating order, until both rules are done, the budget is spent with
    #    enough samples, or the case's share of the deadline (less the judge's check) is nearly gone
    rng = random.Random(int.from_bytes(os.urandom(8), "little"))
    failed = verified = changed = 0
    first_failure = ""
    sample = 0
    pair_s = sum(sample_s.values())
    trial_cap = cap * (1 - JUDGE_SHARE)
    judge_walls: list[float] = []
    while True:
        order = ("reference", "candidate") if sample % 2 == 0 else ("candidate", "reference")
        for who in order:
            k = rotation.refill(sample)
            if who == "reference":
                event_ms, _host, out = timed_call(job.reference, rotation.private[k], cold, cover_cycles)
                _release(out, who)
                del out
                rules[who].add(event_ms)
                continue
            remote.sync()
            t0 = perf_counter_ns()
            event_ms, _host, at_return, moved = remote.sample(rotation.shared[k], cover_cycles)
            judge_walls.append((perf_counter_ns() - t0) / 1e6)
            rules[who].add(event_ms)
            # drawn after the call, from the judge's own generator: the candidate cannot know which of
            # its calls are checked, so skipping the work on any of them risks the verdict
            if verified < MIN_VERIFIED or rng.random() < VERIFY_SHARE:
                ok, why = job.verify(rotation.current[k], at_return)
                verified += 1
                failed += 0 if ok else 1
                if not ok and not first_failure:
                    first_failure = f"timed sample {sample} (input set {k}): {why}"
                changed += 1 if moved else 0
            scrub(at_return)
            del at_return
        sample += 1
        if rules["reference"].done() and rules["candidate"].done():
            stopped_by = rules["candidate"].reason() or rules["reference"].reason()
            break
        if elapsed() > budget_s and all(r.enough() for r in rules.values()):
            stopped_by = "budget"
            break
        if elapsed() + pair_s * (1 + (MIN_HOST_SAMPLES if on_gpu else 0)) > trial_cap:
            stopped_by = "deadline"  # keep what the host samples and the judge's check need
            break

    phases.mark("trials")

    # 4. host-clock samples without the launch cover (work on a side stream would run under the
    #    cover unseen): synchronize, call, synchronize; the call's own host time is kept apart. A null
    #    call (one tiny kernel) interleaved with them, in the candidate's process, measures what
    #    synchronising costs right now. Host time the events do not explain, beyond the null call's,
    #    on most samples, is suspicious; a second round must confirm it. (The candidate's process
    #    reports these numbers: they can only raise a flag; the judge's check, step 5, is the authority.)
    host_calls: dict[str, list[float]] = {"reference": [], "candidate": []}
    host: dict[str, list[float]] = {"reference": [], "candidate": []}
    hidden = None
    if on_gpu:
        fit = int((cap - elapsed()) / max(pair_s, 1e-6) * 0.3)
        count = max(MIN_HOST_SAMPLES, min(HOST_SAMPLES, fit))
        for attempt in range(2):
            rounds = host_rounds(job.reference, remote, rotation, sample + attempt * count, cold, count)
            hidden = timing_flags.hidden_work(rules["candidate"].samples, rounds, rules["reference"].samples)
            if attempt == 0:
                host_calls = {who: rounds[who][0] for who in host_calls}
                host = {who: rounds[who][1] for who in host}
            if hidden is None:
                break

    phases.mark("host_samples")

    # 5. the judge's own clock: batches of calls on sets it filled and ordered, their outputs verified
    claimed = statistics.median(rules["candidate"].samples)
    judge = judge_batches(
        job.reference,
        job.verify,
        remote,
        rotation,
        claimed,
        statistics.median(rules["reference"].samples),
        statistics.median(judge_walls or [claimed]) + draw_s * 1e3,  # each batch call is on a fresh draw
        max(cap - elapsed(), 0.0),
        rng,
        sample + 4 * HOST_SAMPLES,
        device,
    )
    failed += judge.failed
    verified += judge.verified
    phases.mark("judge")

    # 6. summarise
    ref = summarise(rules["reference"].samples, host["reference"] or None, host_calls["reference"])
    cand = summarise(rules["candidate"].samples, host["candidate"] or None, host_calls["candidate"])
    ref.judge_ms, cand.judge_ms = judge.reference_ms, judge.candidate_ms
    mhz = clock_mhz(device)
    result = TimingResult(
        case=name,
        params=params,
        clock="cuda_events" if on_gpu else "host",
        reference=ref,
        candidate=cand,
        speedup=ref.median_ms / cand.median_ms if cand.median_ms > 0 else math.inf,
        clock_mhz=mhz,
        l2_flush_bytes=cold.nbytes,
        input_sets=plan.total,
        input_sets_why=plan.why,
        verified_samples=verified,
        stopped_by=stopped_by,
        seconds=elapsed(),
        host_call_ms=dict(call_ms),
        launch_cover_us=cover_cycles / (mhz or ASSUMED_CLOCK_MHZ) if on_gpu else 0.0,
        judge_calls=judge.calls,
        judge_rounds=judge.rounds,
        phase_s=phases.seconds,
    )
    first_set = rotation.private[0]
    rotation.close()
    del cold, rotation
    return TimingOutcome(
        result, failed, changed, first_set, read_bytes, floor_out_bytes, hidden, first_failure, judge
    )


def timed_call(
    fn: Callable[[Any], Any], data: Any, cold: ColdCache, cover_cycles: int
) -> tuple[float, float, Any]:
    """One timed call, the same procedure in the judge (the reference) and in the candidate's process:
    flush, synchronise, time (events around the call after a launch cover, and a host clock from a
    device-wide synchronize to the next). On the CPU both are the host clock."""
    if cold.device.type == "cuda":
        start, end = CudaEvent(enable_timing=True), CudaEvent(enable_timing=True)
        reset_persisting_l2()  # lines a candidate pinned in L2 would survive the flush
        cuda_synchronize()
        t0 = perf_counter_ns()
        cold.flush()
        cuda_sleep(cover_cycles)  # GPU busy while the CPU launches: events see GPU time only
        start.record()
        out = fn(data)
        end.record()
        cuda_synchronize()
        host_ms = (perf_counter_ns() - t0) / 1e6
        event_ms = start.elapsed_time(end)
    else:
        cold.flush()
        t0 = perf_counter_ns()
        out = fn(data)
        host_ms = event_ms = (perf_counter_ns() - t0) / 1e6
    return event_ms, host_ms, out


def _release(out: Any, who: str) -> None:
    """Reference outputs are scrubbed before release, so no later allocation hands them out."""
    if who == "reference":
        scrub(out)
