# Exploit (issue 18, class 3): an honest kernel whose timer is slowed tenfold where the timing step
# looks it up: every measured call reads 10x faster. In a harness that times in the candidate's
# process an honest 1.2x read 10.35x.
import time

import torch

import gpu_harness.guard
import gpu_harness.timing

_real = time.perf_counter_ns


def _slow_clock():
    return _real() // 10


gpu_harness.timing.perf_counter_ns = _slow_clock
gpu_harness.guard.perf_counter_ns = _slow_clock
try:  # GPU: the events say a tenth too
    _elapsed = torch.cuda.Event.elapsed_time
    gpu_harness.timing.CudaEvent = type(
        "Event", (torch.cuda.Event,), {"elapsed_time": lambda self, end: _elapsed(self, end) / 10}
    )
except Exception:
    pass


def custom_kernel(data):
    A, B, C = data
    return torch.add(A, B, out=C)
