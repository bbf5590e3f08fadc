"""Benchmarking, written to be audited: `time_case` reads top to bottom as the procedure.

    draw once and plan the input sets (memory.py) -> warm up -> interleaved trials (reference,
    candidate, alternating order) until both stopping rules are satisfied, the case's budget is
    spent or its share of the deadline is gone -> host-clock samples -> the judge's batches ->
    summarise.

Every sample refills the working set in place with new values (outside the timed region, version
counters kept so a cache keyed on pointer, id or version sees "unchanged"), poisons output
buffers, and goes through `timed_call`: flush L2, synchronise, time the call with CUDA events and
with a host clock around a device-wide synchronize. The reference is timed here, in the judge; the
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
from gpu_harness.check import clone_tree, poison, scrub, shares_memory, tensor_leaves
from gpu_harness.clocks import (
    ASSUMED_CLOCK_MHZ,
    ColdCache,
    clock_mhz,
    launch_cover_cycles,
    reset_persisting_l2,
)
from gpu_harness.guard import CudaEvent, cuda_sleep, cuda_synchronize, perf_counter_ns
from gpu_harness.outcome import Summary, TimingResult
from gpu_harness.remote import RemoteCandidate

# Stopping rule defaults (a problem overrides them under task.yml `timing:`).
MIN_SAMPLES = 10
MAX_SAMPLES = 2000
TARGET_RSE = 0.005  # relative standard error of the median
BUDGET_S = {"cuda": 1.0, "cpu": 0.5}  # per benchmark case, reference and candidate together
WARMUP_CALLS = 3
# Standard error of the median of n normal samples is sqrt(pi/2) * sigma / sqrt(n); sigma is
# estimated robustly as 1.4826 * MAD.
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)
MAD_TO_SIGMA = 1.4826

# Slow kernels: a minimum total measured time (nvbench's min_time) instead of a fixed count.
MIN_TIME_MS = {"cuda": 500.0, "cpu": 250.0}
MIN_SAMPLES_SLOW = 3
# Of a case's share of the deadline, the trials may use this much; the rest is host samples and slack.
TRIAL_SHARE = 0.7
# Host-clock samples per function, taken without the cover (see time_case step 5).
HOST_SAMPLES = 10
MIN_HOST_SAMPLES = 3
# Verification of timed candidate outputs.
VERIFY_SHARE = 0.1
MIN_VERIFIED = 3
# The judge's check (step 5): batches of back-to-back calls long enough that the channel's round trip
# (~0.1 ms) is noise, a few rounds (the fastest counts), and this share of the case's cap kept for them.
BATCH_TARGET_MS = {"cuda": 20.0, "cpu": 30.0}
MAX_BATCH_CALLS = 500
MIN_CALL_MS = 0.001
BATCH_ROUNDS = 3
BATCH_RETRIES = 2  # up to this many times BATCH_ROUNDS more while the claim disagrees
JUDGE_SHARE = 0.15


class StoppingRule:
    """Adaptive stopping: at least `min_samples`; stop once the relative standard error of the
    median is under `target_rse`, or at `max_samples`, or (slow kernels) once `min_samples_slow`
    samples add up to `min_time_ms`. The caller also stops when its budget is spent."""

    def __init__(
        self,
        min_samples: int = MIN_SAMPLES,
        max_samples: int = MAX_SAMPLES,
        target_rse: float = TARGET_RSE,
        min_time_ms: float = math.inf,
        min_samples_slow: int = MIN_SAMPLES_SLOW,
    ):
        self.min_samples = min_samples
        self.max_samples = max_samples
        self.target_rse = target_rse
        self.min_time_ms = min_time_ms
        self.min_samples_slow = min_samples_slow
        self.samples: list[float] = []

    def add(self, sample: float) -> None:
        self.samples.append(sample)

    def rse(self) -> float:
        return relative_se_of_median(self.samples)

    def done(self) -> bool:
        return self.reason() != ""

    def reason(self) -> str:
        n = len(self.samples)
        if n >= self.max_samples:
            return "max_samples"
        if n >= self.min_samples and self.rse() < self.target_rse:
            return "precision"
        if n >= self.min_samples_slow and sum(self.samples) >= self.min_time_ms:
            return "min_time"
        return ""

    def enough(self) -> bool:
        """Enough samples to stop on the budget: the minimum count, or the minimum time."""
        return len(self.samples) >= self.min_samples or self.reason() == "min_time"


def relative_se_of_median(samples: list[float]) -> float:
    n = len(samples)
    if n < 2:
        return math.inf
    median = statistics.median(samples)
    if median <= 0:
        return math.inf
    mad = statistics.median(abs(x - median) for x in samples)
    return MEDIAN_SE_FACTOR * MAD_TO_SIGMA * mad / math.sqrt(n) / median


def summarise(
    samples_ms: list[float], host_ms: list[float] | None = None, call_ms: list[float] | None = None
) -> Summary:
    ordered = sorted(samples_ms)
    return Summary(
        median_ms=statistics.median(ordered),
        p10_ms=_quantile(ordered, 0.10),
        p90_ms=_quantile(ordered, 0.90),
        n=len(ordered),
        rse=relative_se_of_median(ordered),
        host_median_ms=statistics.median(host_ms) if host_ms else None,
        host_call_median_ms=statistics.median(call_ms) if call_ms else None,
    )


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# -- input rotation ---------------------------------------------------------------------------
def set_version(t: torch.Tensor, version: int) -> None:
    setter = torch._C._autograd._unsafe_set_version_counter
    try:
        setter((t,), (version,))
    except TypeError:
        setter(t, version)


def refill_in_place(data: Any, values: Any, poisonable: set[int]) -> None:
    """Copy `values` into `data`'s buffers (same pointers, ids and version counters); poison the
    output buffers."""
    for i, (dst, src) in enumerate(zip(tensor_leaves(data), tensor_leaves(values))):
        version = dst._version
        if i in poisonable:
            poison(dst)
        else:
            dst.copy_(src)
        set_version(dst, version)


class InputRotation:
    """Working sets with fixed pointers, refilled in place before every sample: from value sets
    drawn up front, or (memory floor) from a fresh draw each time. Each working set has two
    copies: the judge's own, which the reference is timed on, and one in shared memory, which the
    candidate's process is timed on. The values a set holds now (`current`) are the judge's and
    are what a verified output is checked against."""

    def __init__(
        self,
        first: Any,
        generate: Callable[[int], Any],
        seed: int,
        plan: memory.SetPlan,
        poisonable: set[int],
        candidate: RemoteCandidate,
    ):
        self.generate, self.seed, self.plan, self.poisonable = generate, seed, plan, poisonable
        self.count = plan.working
        self.private = [first] + [generate(seed + 1 + k) for k in range(plan.working - 1)]
        self.values = [generate(seed + 1000 + k) for k in range(plan.values)]  # values = working + 1: coprime
        self.current: list[Any] = [clone_tree(w) for w in self.private]
        self.shared = [candidate.stage_data(w, poisonable) for w in self.private]

    def refill(self, sample: int) -> int:
        """Working set for `sample`, both copies refilled in place with new values; output buffers poisoned."""
        k = sample % self.count
        source = (
            self.values[sample % len(self.values)]
            if self.values
            else self.generate(self.seed + 2000 + sample)
        )
        refill_in_place(self.private[k], source, self.poisonable)
        refill_in_place(self.shared[k], source, self.poisonable)
        self.current[k] = source
        return k

    def close(self) -> None:
        for tree in self.values:
            scrub(tree)
        self.private.clear()
        self.shared.clear()
        self.values.clear()
        self.current.clear()


# -- the procedure ----------------------------------------------------------------------------
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
class JudgeCheck:
    """The judge's own clock over batches of candidate calls it ordered (and whose outputs it
    verified), against the candidate's claimed event time."""

    candidate_ms: float  # judge's clock: wall per call, batched, copy-back excluded
    reference_ms: float  # the same for the reference, in the judge
    calls: int  # per batch
    rounds: int
    verified: int
    failed: int


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

    # 1. one draw, timed; one reference call on a copy gives the output size and the call time; the
    #    input sets are planned from free memory, their size and the draw time (memory.py). A working
    #    set is held twice: the judge's, and the copy in shared memory the candidate's process sees.
    t0 = perf_counter_ns()
    first = job.generate(job.seed)
    if on_gpu:
        cuda_synchronize()
    draw_s = (perf_counter_ns() - t0) / 1e9
    set_bytes = _nbytes(first)
    probe = clone_tree(first)
    out = job.reference(probe)
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
        2 * set_bytes, out_bytes, free, total, device.type, draw_s, min(cap, max(budget_s, 1.0))
    )
    while True:
        try:
            remote.new_case()
            rotation = InputRotation(first, job.generate, job.seed, plan, job.poisonable, remote)
            cold = ColdCache(device)
            break
        except torch.OutOfMemoryError:
            if plan.total <= 1:
                raise
            memory.release(device, force=True)
            plan = memory.fewer(plan)
    if on_gpu:
        reset_persisting_l2()
    remote.sync()

    # 2. warm up both on the rotation (compiles, autotunes, allocator pools); learn the host-side
    #    call time (sizes the launch cover) and the whole sample time (sizes what fits the cap)
    calls: dict[str, list[float]] = {"reference": [], "candidate": []}
    sample_s = {"reference": 0.0, "candidate": 0.0}
    for i in range(WARMUP_CALLS):
        t0 = perf_counter_ns()
        k = rotation.refill(i)
        call_ms, _host, out = host_call(job.reference, rotation.private[k], cold)
        _release(out, "reference")
        calls["reference"].append(call_ms)
        sample_s["reference"] = (perf_counter_ns() - t0) / 1e9
        t0 = perf_counter_ns()
        k = rotation.refill(i)
        remote.sync()
        call_ms, _host = remote.host_sample(rotation.shared[k])
        calls["candidate"].append(call_ms)
        sample_s["candidate"] = (perf_counter_ns() - t0) / 1e9  # the judge's clock
        if elapsed() + 2 * sum(sample_s.values()) * (MIN_SAMPLES_SLOW + MIN_HOST_SAMPLES) > cap:
            break  # a slow kernel: keep what is left of the cap for the samples
    call_ms = {who: max(seen[1:] or seen) for who, seen in calls.items()}  # the first call compiles
    cover_cycles = launch_cover_cycles(max(call_ms.values()), device) if on_gpu else 0

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
                rules[who].add(event_ms)
                continue
            check = verified < MIN_VERIFIED or rng.random() < VERIFY_SHARE
            remote.sync()
            t0 = perf_counter_ns()
            event_ms, _host, at_return, moved = remote.sample(rotation.shared[k], cover_cycles, keep=check)
            judge_walls.append((perf_counter_ns() - t0) / 1e6)
            rules[who].add(event_ms)
            if check:
                ok, why = job.verify(rotation.current[k], at_return)
                verified += 1
                failed += 0 if ok else 1
                if not ok and not first_failure:
                    first_failure = f"timed sample {sample} (input set {k}): {why}"
                changed += 1 if moved else 0
                scrub(at_return)
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
            rounds = _host_rounds(job.reference, remote, rotation, sample + attempt * count, cold, count)
            hidden = timing_flags.hidden_work(rules["candidate"].samples, rounds, rules["reference"].samples)
            if attempt == 0:
                host_calls = {who: rounds[who][0] for who in host_calls}
                host = {who: rounds[who][1] for who in host}
            if hidden is None:
                break

    # 5. the judge's own clock: batches of calls on sets it filled and ordered, their outputs verified
    claimed = statistics.median(rules["candidate"].samples)
    judge = judge_batches(
        job,
        remote,
        rotation,
        claimed,
        statistics.median(judge_walls or [claimed]),
        max(cap - elapsed(), 0.0),
        rng,
        sample + 4 * HOST_SAMPLES,
        device,
    )
    failed += judge.failed
    verified += judge.verified

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
    )
    first_set = rotation.private[0]
    rotation.close()
    del cold, rotation
    return TimingOutcome(
        result, failed, changed, first_set, read_bytes, floor_out_bytes, hidden, first_failure, judge
    )


def judge_batches(
    job: TimingInputs,
    remote: RemoteCandidate,
    rotation: InputRotation,
    claimed_ms: float,
    sample_wall_ms: float,
    left_s: float,
    rng: random.Random,
    first_sample: int,
    device: torch.device,
) -> JudgeCheck:
    """Wall time per call, on the judge's clock, over batches of back-to-back calls on every working
    set (refilled with fresh values first), in an order the judge draws; the last output of each set
    comes back and is verified. The copy-back is excluded by subtracting what the judge's own copy
    of the same bytes takes. The same batches of the reference, in the judge, for comparison.
    Batch size: enough calls to cover the channel's round trip, by the claimed time (a false claim
    only makes the batch longer), and bounded by the judge's own wall time per sample so it fits.
    The fastest round counts; while it disagrees with the claim, a few more rounds are measured (a
    busy host slows a round, never speeds one up)."""
    started = perf_counter_ns()
    per_call = max(claimed_ms, MIN_CALL_MS)
    calls = int(min(MAX_BATCH_CALLS, max(1.0, BATCH_TARGET_MS[device.type] / per_call)))
    rounds = BATCH_ROUNDS
    fits = int(left_s * 1e3 / max(2 * rounds * sample_wall_ms, 1e-6))
    if fits < calls:
        calls = max(1, fits)
        rounds = BATCH_ROUNDS if fits >= BATCH_ROUNDS else 1
    best = {"reference": math.inf, "candidate": math.inf}
    failed = verified = done = 0

    def more() -> bool:
        if done < rounds:
            return True
        in_time = (perf_counter_ns() - started) / 1e9 * (done + 1) / done < left_s
        return (
            done < rounds * (1 + BATCH_RETRIES)
            and in_time
            and timing_flags.timing_disagrees(claimed_ms, best["candidate"], calls, done, device.type)
            is not None
        )

    while more():
        for k in range(rotation.count):
            rotation.refill(first_sample + done * rotation.count + k)
        order = [rng.randrange(rotation.count) for _ in range(calls)]
        for who in ("candidate", "reference") if done % 2 == 0 else ("reference", "candidate"):
            if who == "reference":
                best[who] = min(best[who], _reference_batch(job.reference, rotation, order, device))
                continue
            remote.sync()
            used = sorted(set(order))
            wall_ms, outs = remote.batch(
                [rotation.shared[k] for k in order], used, [rotation.shared[k] for k in used]
            )
            best[who] = min(best[who], wall_ms / calls)
            for k, out in outs.items():
                ok, _why = job.verify(rotation.current[k], out)
                verified += 1
                failed += 0 if ok else 1
                scrub(out)
        done += 1
    return JudgeCheck(best["candidate"], best["reference"], calls, done, verified, failed)


def _reference_batch(
    reference: Callable[[Any], Any], rotation: InputRotation, order: list[int], device: torch.device
) -> float:
    """Per-call wall time of the reference over the same order, on the judge's own sets."""
    on_gpu = device.type == "cuda"
    if on_gpu:
        cuda_synchronize()
    t0 = perf_counter_ns()
    for k in order:
        out = reference(rotation.private[k])
    if on_gpu:
        cuda_synchronize()
    wall = (perf_counter_ns() - t0) / 1e6
    _release(out, "reference")
    return wall / len(order)


def _nbytes(tree: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tensor_leaves(tree))


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


def host_call(fn: Callable[[Any], Any], data: Any, cold: ColdCache) -> tuple[float, float, Any]:
    """(host time inside the call, host time from a device-wide synchronize to the next, output)."""
    on_gpu = cold.device.type == "cuda"
    if on_gpu:
        reset_persisting_l2()
    cold.flush()
    if on_gpu:
        cuda_synchronize()
    t0 = perf_counter_ns()
    out = fn(data)
    t_call = perf_counter_ns()
    if on_gpu:
        cuda_synchronize()
    t1 = perf_counter_ns()
    return (t_call - t0) / 1e6, (t1 - t0) / 1e6, out


def _host_rounds(
    reference: Callable[[Any], Any],
    remote: RemoteCandidate,
    rotation: InputRotation,
    first: int,
    cold: ColdCache,
    count: int,
) -> dict[str, tuple[list[float], list[float]]]:
    """`count` interleaved host samples of the reference (here), the candidate and a null call (in its
    process), rotating order: {who: (call ms, host ms)}."""
    rounds: dict[str, tuple[list[float], list[float]]] = {
        who: ([], []) for who in ("reference", "candidate", "null")
    }
    names = list(rounds)
    for i in range(count):
        order = names[i % len(names) :] + names[: i % len(names)]
        for who in order:
            k = rotation.refill(first + i)
            if who == "reference":
                call_ms, host_ms, out = host_call(reference, rotation.private[k], cold)
                _release(out, who)
            else:
                remote.sync()
                call_ms, host_ms = remote.host_sample(rotation.shared[k], null=who == "null")
            rounds[who][0].append(call_ms)
            rounds[who][1].append(host_ms)
    return rounds


def _release(out: Any, who: str) -> None:
    """Reference outputs are scrubbed before release, so no later allocation hands them out."""
    if who == "reference":
        scrub(out)
