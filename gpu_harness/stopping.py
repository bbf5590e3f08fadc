"""The adaptive stopping rule and the summary of a sequence of samples: pure arithmetic, no clock and
no device, so that it can be tested on synthetic sequences."""

from __future__ import annotations

import math
import statistics

from gpu_harness.outcome import Summary

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
