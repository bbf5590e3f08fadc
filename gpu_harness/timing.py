"""Benchmarking, written to be audited: `time_case` reads top to bottom as the procedure.

    prepare rotated input sets -> warm up -> interleaved trials (reference, candidate, alternating
    order) until both stopping rules are satisfied or the budget is spent -> summarise.

Every sample goes through `_sample`: refill the working set in place with new values (outside the
timed region, version counters kept so a cache keyed on pointer, id or version sees "unchanged"),
poison output buffers, flush L2, synchronise, then time the call with CUDA events and with a host
clock around a device-wide synchronize. A random subset of candidate samples is verified against
the reference computed afterwards on a pristine copy. On a CPU-only machine the host clock alone
is used and the result says so (`clock: "host"`).
"""

from __future__ import annotations

import ctypes
import math
import os
import random
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from gpu_harness.check import clone_tree, poison, scrub, tensor_leaves
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

# Cold cache: flush at least twice the last-level cache between samples.
L2_FLUSH_FACTOR = 2
DEFAULT_L2_BYTES = {"cuda": 64 << 20, "cpu": 32 << 20}
# A spin kernel queued after the flush keeps the GPU busy while the CPU launches the call, so the
# start event fires when the GPU is ready, not when Python got there (nvbench's blocking-kernel
# idea). Its length is LAUNCH_COVER_FACTOR times the slower host-side call time seen in warm-up
# (the same cover for reference and candidate), within these bounds. The host clock still spans
# everything from the synchronize on, and the host-side call time is reported.
LAUNCH_COVER_FACTOR = 2.5
LAUNCH_COVER_MIN_US = 50.0
LAUNCH_COVER_MAX_US = 1000.0
ASSUMED_CLOCK_MHZ = 2000
# Host-clock samples per function, taken without the cover (see time_case step 4).
HOST_SAMPLES = 10
# Input rotation: working sets (fixed pointers) refilled from value sets; sized by free memory.
MIN_INPUT_SETS = 2
MAX_INPUT_SETS = 8
INPUT_MEMORY_SHARE = 0.25
CPU_INPUT_MEMORY = 1 << 30
# Verification of timed candidate outputs.
VERIFY_SHARE = 0.1
MIN_VERIFIED = 3


class StoppingRule:
    """Adaptive stopping: at least `min_samples`; stop once the relative standard error of the
    median is under `target_rse`, or at `max_samples`, or when the caller's budget is spent."""

    def __init__(self, min_samples: int = MIN_SAMPLES, max_samples: int = MAX_SAMPLES,
                 target_rse: float = TARGET_RSE):
        self.min_samples = min_samples
        self.max_samples = max_samples
        self.target_rse = target_rse
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
        return ""


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


# -- cold cache -------------------------------------------------------------------------------
class ColdCache:
    """A buffer at least twice the last-level cache, READ before every sample: reading evicts the
    previous sample's lines (their write-backs happen here, outside the timed region) and leaves
    clean lines, so the timed call pays no write-back of the flush itself (a write-flush did,
    measured: +8 % on a 137 us vector add against ncu)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.nbytes = L2_FLUSH_FACTOR * cache_bytes(device)
        self.buffer = torch.ones(self.nbytes // 4, dtype=torch.int32, device=device)
        self.sink = torch.empty((), dtype=torch.int32, device=device)

    def flush(self) -> None:
        torch.amax(self.buffer, dim=0, out=self.sink)


def cache_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return int(getattr(props, "L2_cache_size", 0) or DEFAULT_L2_BYTES["cuda"])
    try:
        text = open("/sys/devices/system/cpu/cpu0/cache/index3/size").read().strip()
        return int(text[:-1]) * 1024 if text.endswith("K") else int(text)
    except (OSError, ValueError):
        return DEFAULT_L2_BYTES["cpu"]


def reset_persisting_l2() -> bool:
    """cudaCtxResetPersistingL2Cache through the runtime torch already loaded; False if unreachable."""
    for name in ("libcudart.so", "libcudart.so.13", "libcudart.so.12"):
        try:
            return ctypes.CDLL(name).cudaCtxResetPersistingL2Cache() == 0
        except (OSError, AttributeError):
            continue
    return False


def clock_mhz(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    try:
        return int(torch.cuda.clock_rate(device))
    except Exception:       # pynvml absent or no permission: the clock is simply not reported
        return None


# -- input rotation ---------------------------------------------------------------------------
def set_version(t: torch.Tensor, version: int) -> None:
    setter = torch._C._autograd._unsafe_set_version_counter
    try:
        setter((t,), (version,))
    except TypeError:
        setter(t, version)


class InputRotation:
    """Working sets with fixed pointers, refilled in place from pre-generated value sets."""

    def __init__(self, generate: Callable[[int], Any], seed: int, writable: set[int], poisonable: set[int],
                 device: torch.device):
        first = generate(seed)
        set_bytes = sum(t.numel() * t.element_size() for t in tensor_leaves(first))
        if device.type == "cuda":
            free = torch.cuda.mem_get_info(device)[0]
        else:
            free = CPU_INPUT_MEMORY
        count = int(free * INPUT_MEMORY_SHARE // max(2 * set_bytes, 1))
        self.count = max(MIN_INPUT_SETS, min(MAX_INPUT_SETS, count))
        self.working = [first] + [generate(seed + 1 + k) for k in range(self.count - 1)]
        self.values = [generate(seed + 1000 + k) for k in range(self.count + 1)]   # coprime with count
        self.writable, self.poisonable = writable, poisonable
        self.set_bytes = set_bytes

    def refill(self, sample: int) -> Any:
        """Working set for `sample`, refilled in place with new values; output buffers poisoned."""
        data = self.working[sample % self.count]
        values = self.values[sample % len(self.values)]
        for i, (dst, src) in enumerate(zip(tensor_leaves(data), tensor_leaves(values))):
            version = dst._version
            if i in self.poisonable:
                poison(dst)
            else:
                dst.copy_(src)
            set_version(dst, version)
        return data


# -- the procedure ----------------------------------------------------------------------------
@dataclass
class TimingInputs:
    """What `time_case` needs from the problem, the candidate and the guard."""

    reference: Callable[[Any], Any]
    candidate: Callable[[Any], Any]
    generate: Callable[[int], Any]               # seed -> fresh input set of the case's shape
    verify: Callable[[Any, Any], bool]           # (pristine copy, candidate output) -> correct?
    seed: int
    writable: set[int] = field(default_factory=set)
    poisonable: set[int] = field(default_factory=set)
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class TimingOutcome:
    result: TimingResult
    ref_host_ms: list[float]
    cand_host_ms: list[float]
    failed_verifications: int
    rotation: InputRotation


def time_case(name: str, params: dict[str, Any], job: TimingInputs, device: torch.device) -> TimingOutcome:
    started = perf_counter_ns()
    on_gpu = device.type == "cuda"
    budget_s = float(job.overrides.get("budget_s", BUDGET_S[device.type]))
    rules = {who: StoppingRule(int(job.overrides.get("min_samples", MIN_SAMPLES)),
                               int(job.overrides.get("max_samples", MAX_SAMPLES)),
                               float(job.overrides.get("target_rse", TARGET_RSE)))
             for who in ("reference", "candidate")}
    fns = {"reference": job.reference, "candidate": job.candidate}
    host = {"reference": [], "candidate": []}

    # 1. prepare: rotated input sets, cold-cache buffer, persisting L2 reset
    rotation = InputRotation(job.generate, job.seed, job.writable, job.poisonable, device)
    cold = ColdCache(device)
    if on_gpu:
        reset_persisting_l2()

    # 2. warm up both on the rotation (compiles, autotunes, allocator pools); learn the host-side
    #    call time, which sizes the launch cover
    call_ms = {"reference": 0.0, "candidate": 0.0}
    for i in range(WARMUP_CALLS):
        for who in ("reference", "candidate"):
            data = rotation.refill(i)
            if on_gpu:
                cuda_synchronize()
            t0 = perf_counter_ns()
            out = fns[who](data)
            if i > 0:
                call_ms[who] = max(call_ms[who], (perf_counter_ns() - t0) / 1e6)
            _release(out, who)
    if on_gpu:
        cuda_synchronize()
    cover_cycles = launch_cover_cycles(max(call_ms.values()), device) if on_gpu else 0

    # 3. trials: interleaved, alternating order, until both rules are done or the budget is spent
    rng = random.Random(int.from_bytes(os.urandom(8), "little"))
    failed = verified = 0
    sample = 0
    stopped_by = "budget"
    while True:
        order = ("reference", "candidate") if sample % 2 == 0 else ("candidate", "reference")
        for who in order:
            check = who == "candidate" and (verified < MIN_VERIFIED or rng.random() < VERIFY_SHARE)
            event_ms, host_ms, ok = _sample(who, fns[who], rotation, sample, cold, cover_cycles,
                                            job.verify if check else None)
            rules[who].add(event_ms)
            host[who].append(host_ms)
            if check:
                verified += 1
                failed += 0 if ok else 1
        sample += 1
        if rules["reference"].done() and rules["candidate"].done():
            stopped_by = rules["candidate"].reason() or rules["reference"].reason()
            break
        if (perf_counter_ns() - started) / 1e9 > budget_s and all(
                len(r.samples) >= r.min_samples for r in rules.values()):
            break

    # 4. host-clock samples without the launch cover (work on a side stream would run under the
    #    cover unseen): synchronize, call, synchronize; the call's own host time is kept apart
    calls = {"reference": [], "candidate": []}
    if on_gpu:
        host = {"reference": [], "candidate": []}
        for i in range(HOST_SAMPLES):
            for who in (("reference", "candidate") if i % 2 == 0 else ("candidate", "reference")):
                call_ms_i, host_ms_i = _host_sample(who, fns[who], rotation, sample + i, cold)
                calls[who].append(call_ms_i)
                host[who].append(host_ms_i)

    # 5. summarise
    ref = summarise(rules["reference"].samples, host["reference"] if on_gpu else None, calls["reference"])
    cand = summarise(rules["candidate"].samples, host["candidate"] if on_gpu else None, calls["candidate"])
    result = TimingResult(
        case=name, params=params, clock="cuda_events" if on_gpu else "host", reference=ref, candidate=cand,
        speedup=ref.median_ms / cand.median_ms if cand.median_ms > 0 else math.inf,
        clock_mhz=clock_mhz(device), l2_flush_bytes=cold.nbytes, input_sets=rotation.count,
        verified_samples=verified, stopped_by=stopped_by, seconds=(perf_counter_ns() - started) / 1e9,
        host_call_ms=dict(call_ms), launch_cover_us=cover_cycles / (clock_mhz(device) or ASSUMED_CLOCK_MHZ)
        if on_gpu else 0.0)
    del cold
    return TimingOutcome(result, host["reference"], host["candidate"], failed, rotation)


def launch_cover_cycles(call_ms: float, device: torch.device) -> int:
    cover_us = min(max(LAUNCH_COVER_FACTOR * call_ms * 1e3, LAUNCH_COVER_MIN_US), LAUNCH_COVER_MAX_US)
    return int(cover_us * (clock_mhz(device) or ASSUMED_CLOCK_MHZ))


def _sample(who: str, fn, rotation: InputRotation, sample: int, cold: ColdCache, cover_cycles: int,
            verify: Callable[[Any, Any], bool] | None) -> tuple[float, float, bool]:
    """One timed call: refill, poison, flush, synchronise, time (events + host clock), verify."""
    data = rotation.refill(sample)
    pristine = clone_tree(data) if verify is not None else None
    if cold.device.type == "cuda":
        start, end = CudaEvent(enable_timing=True), CudaEvent(enable_timing=True)
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
    ok = True
    if verify is not None:
        ok = verify(pristine, out)
        scrub(pristine)
    _release(out, who)
    return event_ms, host_ms, ok


def _host_sample(who: str, fn, rotation: InputRotation, sample: int, cold: ColdCache) -> tuple[float, float]:
    """(host time inside the call, host time from a device-wide synchronize to the next one)."""
    data = rotation.refill(sample)
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
