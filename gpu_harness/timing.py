"""Benchmarking, written to be audited: `time_case` reads top to bottom as the procedure.

    draw once and plan the input sets (memory.py) -> warm up -> interleaved trials (reference,
    candidate, alternating order) until both stopping rules are satisfied, the case's budget is
    spent or its share of the deadline is gone -> host-clock samples -> summarise.

Every sample goes through `_sample`: refill the working set in place with new values (outside the
timed region, version counters kept so a cache keyed on pointer, id or version sees "unchanged"),
poison output buffers, flush L2, synchronise, then time the call with CUDA events and with a host
clock around a device-wide synchronize. A random subset of candidate samples is verified against
the reference computed afterwards on a pristine copy. On a CPU-only machine the host clock alone
is used and the result says so (`clock: "host"`).
"""

from __future__ import annotations

import math
import os
import random
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from gpu_harness import memory, timing_flags
from gpu_harness.check import clone_tree, poison, same_bits, scrub, shares_memory, tensor_leaves
from gpu_harness.clocks import ASSUMED_CLOCK_MHZ, ColdCache, clock_mhz, launch_cover_cycles, reset_persisting_l2
from gpu_harness.guard import CudaEvent, cuda_sleep, cuda_synchronize, perf_counter_ns
from gpu_harness.outcome import Summary, TimingResult

# Stopping rule defaults (a problem overrides them under task.yml `timing:`).
MIN_SAMPLES = 10
MAX_SAMPLES = 2000
TARGET_RSE = 0.005                   # relative standard error of the median
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


class StoppingRule:
    """Adaptive stopping: at least `min_samples`; stop once the relative standard error of the
    median is under `target_rse`, or at `max_samples`, or (slow kernels) once `min_samples_slow`
    samples add up to `min_time_ms`. The caller also stops when its budget is spent."""

    def __init__(self, min_samples: int = MIN_SAMPLES, max_samples: int = MAX_SAMPLES,
                 target_rse: float = TARGET_RSE, min_time_ms: float = math.inf,
                 min_samples_slow: int = MIN_SAMPLES_SLOW):
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


def summarise(samples_ms: list[float], host_ms: list[float] | None = None,
              call_ms: list[float] | None = None) -> Summary:
    ordered = sorted(samples_ms)
    return Summary(median_ms=statistics.median(ordered), p10_ms=_quantile(ordered, 0.10),
                   p90_ms=_quantile(ordered, 0.90), n=len(ordered), rse=relative_se_of_median(ordered),
                   host_median_ms=statistics.median(host_ms) if host_ms else None,
                   host_call_median_ms=statistics.median(call_ms) if call_ms else None)


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
    drawn up front, or (memory floor) from a fresh draw each time."""

    def __init__(self, first: Any, generate: Callable[[int], Any], seed: int, plan: memory.SetPlan,
                 poisonable: set[int]):
        self.generate, self.seed, self.plan, self.poisonable = generate, seed, plan, poisonable
        self.count = plan.working
        self.working = [first] + [generate(seed + 1 + k) for k in range(plan.working - 1)]
        self.values = [generate(seed + 1000 + k) for k in range(plan.values)]   # values = working + 1: coprime

    def refill(self, sample: int) -> Any:
        """Working set for `sample`, refilled in place with new values; output buffers poisoned."""
        data = self.working[sample % self.count]
        if self.values:
            refill_in_place(data, self.values[sample % len(self.values)], self.poisonable)
        else:
            fresh = self.generate(self.seed + 2000 + sample)
            refill_in_place(data, fresh, self.poisonable)
            del fresh
        return data

    def close(self) -> None:
        for tree in self.values:
            scrub(tree)
        self.working.clear()
        self.values.clear()


# -- the procedure ----------------------------------------------------------------------------
@dataclass
class TimingInputs:
    """What `time_case` needs from the problem, the candidate, the guard and the deadline."""

    reference: Callable[[Any], Any]
    candidate: Callable[[Any], Any]
    generate: Callable[[int], Any]               # seed -> fresh input set of the case's shape
    verify: Callable[[Any, Any], tuple[bool, str]]   # (pristine copy, output) -> (correct?, why not)
    seed: int
    time_cap_s: float = math.inf                 # this case's share of the evaluation's deadline
    poisonable: set[int] = field(default_factory=set)
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class TimingOutcome:
    result: TimingResult
    failed_verifications: int
    changed_after_return: int                    # verified outputs that changed after the call returned
    first_set: Any                               # one input set, for the roofline floor's flop count
    read_bytes: int = 0                          # bytes of the inputs a call must read (output buffers excluded)
    out_bytes: int = 0                           # bytes a call must write (output buffer or reference output)
    hidden_work: str | None = None               # host time the events missed, confirmed twice (GPU)
    first_failure: str = ""                      # which verified timed call was wrong, and how


def time_case(name: str, params: dict[str, Any], job: TimingInputs, device: torch.device) -> TimingOutcome:
    started = perf_counter_ns()
    on_gpu = device.type == "cuda"
    elapsed = lambda: (perf_counter_ns() - started) / 1e9      # noqa: E731
    cap = job.time_cap_s
    budget_s = min(float(job.overrides.get("budget_s", BUDGET_S[device.type])), TRIAL_SHARE * cap)
    min_time = float(job.overrides.get("min_time_ms", MIN_TIME_MS[device.type]))
    rules = {who: StoppingRule(int(job.overrides.get("min_samples", MIN_SAMPLES)),
                               int(job.overrides.get("max_samples", MAX_SAMPLES)),
                               float(job.overrides.get("target_rse", TARGET_RSE)), min_time)
             for who in ("reference", "candidate")}
    fns = {"reference": job.reference, "candidate": job.candidate}

    # 1. one draw, timed; one reference call on a copy gives the output size and the call time; the
    #    input sets are planned from free memory, their size and the draw time (memory.py)
    t0 = perf_counter_ns()
    first = job.generate(job.seed)
    if on_gpu:
        cuda_synchronize()
    draw_s = (perf_counter_ns() - t0) / 1e9
    set_bytes = _nbytes(first)
    probe = clone_tree(first)
    out = job.reference(probe)
    out_bytes = sum(o.numel() * o.element_size() for o in tensor_leaves(out)
                    if not any(shares_memory(o, i) for i in tensor_leaves(probe)))
    scrub(out)
    scrub(probe)
    del out, probe
    leaves = tensor_leaves(first)
    read_bytes = sum(t.numel() * t.element_size() for i, t in enumerate(leaves) if i not in job.poisonable)
    buffer_bytes = set_bytes - read_bytes
    floor_out_bytes = min(out_bytes, buffer_bytes) if buffer_bytes and out_bytes else out_bytes or buffer_bytes
    free, total = memory.free_bytes(device, job.overrides.get("memory_bytes"))     # read right before use
    plan = memory.plan_sets(set_bytes, out_bytes, free, total, device.type, draw_s, min(cap, max(budget_s, 1.0)))
    while True:
        try:
            rotation = InputRotation(first, job.generate, job.seed, plan, job.poisonable)
            cold = ColdCache(device)
            break
        except torch.OutOfMemoryError:
            if plan.total <= 1:
                raise
            memory.release(device, force=True)
            plan = memory.fewer(plan)
    if on_gpu:
        reset_persisting_l2()

    # 2. warm up both on the rotation (compiles, autotunes, allocator pools); learn the host-side
    #    call time (sizes the launch cover) and the whole sample time (sizes what fits the cap)
    calls: dict[str, list[float]] = {"reference": [], "candidate": []}
    sample_s = {"reference": 0.0, "candidate": 0.0}
    for i in range(WARMUP_CALLS):
        for who in ("reference", "candidate"):
            t0 = perf_counter_ns()
            data = rotation.refill(i)
            if on_gpu:
                cuda_synchronize()
            t1 = perf_counter_ns()
            out = fns[who](data)
            t2 = perf_counter_ns()
            if on_gpu:
                cuda_synchronize()
            calls[who].append((t2 - t1) / 1e6)
            sample_s[who] = (perf_counter_ns() - t0) / 1e9
            _release(out, who)
        if elapsed() + 2 * sum(sample_s.values()) * (MIN_SAMPLES_SLOW + MIN_HOST_SAMPLES) > cap:
            break                  # a slow kernel: keep what is left of the cap for the samples
    call_ms = {who: max(seen[1:] or seen) for who, seen in calls.items()}    # the first call compiles
    cover_cycles = launch_cover_cycles(max(call_ms.values()), device) if on_gpu else 0

    # 3. trials: interleaved, alternating order, until both rules are done, the budget is spent with
    #    enough samples, or the case's share of the deadline is nearly gone
    rng = random.Random(int.from_bytes(os.urandom(8), "little"))
    failed = verified = changed = 0
    first_failure = ""
    sample = 0
    pair_s = sum(sample_s.values())
    while True:
        order = ("reference", "candidate") if sample % 2 == 0 else ("candidate", "reference")
        for who in order:
            check = who == "candidate" and (verified < MIN_VERIFIED or rng.random() < VERIFY_SHARE)
            event_ms, host_ms, verdict = _sample(fns[who], rotation, sample, cold, cover_cycles,
                                                 job.verify if check else None, who)
            rules[who].add(event_ms)
            if check:
                verified += 1
                failed += 0 if verdict.ok else 1
                if not verdict.ok and not first_failure:
                    first_failure = f"timed sample {sample} (input set {sample % rotation.count}): {verdict.why}"
                changed += 1 if verdict.changed else 0
        sample += 1
        if rules["reference"].done() and rules["candidate"].done():
            stopped_by = rules["candidate"].reason() or rules["reference"].reason()
            break
        if elapsed() > budget_s and all(r.enough() for r in rules.values()):
            stopped_by = "budget"
            break
        if elapsed() + pair_s * (1 + (MIN_HOST_SAMPLES if on_gpu else 0)) > cap:
            stopped_by = "deadline"          # keep what the host samples need inside the cap
            break

    # 4. host-clock samples without the launch cover (work on a side stream would run under the
    #    cover unseen): synchronize, call, synchronize; the call's own host time is kept apart. A null
    #    call (one tiny kernel) interleaved with them measures what synchronising costs right now (a
    #    busy host or a shared GPU inflates it for everyone). Host time the events do not explain,
    #    beyond the null call's, on most samples, is suspicious; a second round must confirm it.
    calls: dict[str, list[float]] = {"reference": [], "candidate": []}
    host: dict[str, list[float]] = {"reference": [], "candidate": []}
    hidden = None
    if on_gpu:
        fit = int((cap - elapsed()) / max(pair_s, 1e-6) * 0.5)
        count = max(MIN_HOST_SAMPLES, min(HOST_SAMPLES, fit))
        fns_null = dict(fns, null=lambda data: cold.sink.zero_())
        for attempt in range(2):
            rounds = _host_rounds(fns_null, rotation, sample + attempt * count, cold, count)
            hidden = timing_flags.hidden_work(rules["candidate"].samples, rounds, rules["reference"].samples)
            if attempt == 0:
                calls = {who: rounds[who][0] for who in calls}
                host = {who: rounds[who][1] for who in host}
            if hidden is None:
                break

    # 5. summarise
    ref = summarise(rules["reference"].samples, host["reference"] or None, calls["reference"])
    cand = summarise(rules["candidate"].samples, host["candidate"] or None, calls["candidate"])
    mhz = clock_mhz(device)
    result = TimingResult(
        case=name, params=params, clock="cuda_events" if on_gpu else "host", reference=ref, candidate=cand,
        speedup=ref.median_ms / cand.median_ms if cand.median_ms > 0 else math.inf,
        clock_mhz=mhz, l2_flush_bytes=cold.nbytes, input_sets=plan.total, input_sets_why=plan.why,
        verified_samples=verified, stopped_by=stopped_by, seconds=elapsed(),
        host_call_ms=dict(call_ms), launch_cover_us=cover_cycles / (mhz or ASSUMED_CLOCK_MHZ) if on_gpu else 0.0)
    first_set = rotation.working[0]
    rotation.close()
    del cold, rotation
    return TimingOutcome(result, failed, changed, first_set, read_bytes, floor_out_bytes, hidden, first_failure)


def _nbytes(tree: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tensor_leaves(tree))


@dataclass
class _Verdict:
    ok: bool = True
    changed: bool = False
    why: str = ""


def _sample(fn, rotation: InputRotation, sample: int, cold: ColdCache, cover_cycles: int,
            verify: Callable[[Any, Any], tuple[bool, str]] | None, who: str) -> tuple[float, float, _Verdict]:
    """One timed call: refill, poison, flush, synchronise, time (events + host clock), verify the
    output as it was when the call returned, and whether it changed after."""
    data = rotation.refill(sample)
    pristine = clone_tree(data) if verify is not None else None
    if cold.device.type == "cuda":
        start, end = CudaEvent(enable_timing=True), CudaEvent(enable_timing=True)
        reset_persisting_l2()           # lines a candidate pinned in L2 would survive the flush
        cuda_synchronize()
        t0 = perf_counter_ns()
        cold.flush()
        cuda_sleep(cover_cycles)        # GPU busy while the CPU launches: events see GPU time only
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
    verdict = _Verdict()
    if verify is not None:
        at_return = clone_tree(out)
        verdict.ok, verdict.why = verify(pristine, at_return)
        if cold.device.type == "cuda":
            cuda_synchronize()
        verdict.changed = not all(same_bits(a, b) for a, b in zip(tensor_leaves(out), tensor_leaves(at_return))
                                  if type(a) is torch.Tensor)
        scrub(pristine)
        del at_return
    _release(out, who)
    return event_ms, host_ms, verdict


def _host_rounds(fns: dict[str, Callable[[Any], Any]], rotation: InputRotation, first: int, cold: ColdCache,
                 count: int) -> dict[str, tuple[list[float], list[float]]]:
    """`count` interleaved host samples of every function (rotating order): {who: (call ms, host ms)}."""
    rounds: dict[str, tuple[list[float], list[float]]] = {who: ([], []) for who in fns}
    names = list(fns)
    for i in range(count):
        order = names[i % len(names):] + names[:i % len(names)]
        for who in order:
            call_ms, host_ms = _host_sample(fns[who], rotation, first + i, cold, who)
            rounds[who][0].append(call_ms)
            rounds[who][1].append(host_ms)
    return rounds


def _host_sample(fn, rotation: InputRotation, sample: int, cold: ColdCache, who: str) -> tuple[float, float]:
    """(host time inside the call, host time from a device-wide synchronize to the next one)."""
    data = rotation.refill(sample)
    reset_persisting_l2()
    cold.flush()
    cuda_synchronize()
    t0 = perf_counter_ns()
    out = fn(data)
    t_call = perf_counter_ns()
    cuda_synchronize()
    t1 = perf_counter_ns()
    _release(out, who)
    return (t_call - t0) / 1e6, (t1 - t0) / 1e6


def _release(out: Any, who: str) -> None:
    """Reference outputs are scrubbed before release, so no later allocation hands them out."""
    if who == "reference":
        scrub(out)
