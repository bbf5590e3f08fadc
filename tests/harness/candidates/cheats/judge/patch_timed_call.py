# Exploit (issue 18, class 3): wrap the harness's own timing function where the benchmark step looks
# it up, dividing every time it reports by ten. The kernel itself is honest.
import torch

import gpu_harness.timing

_timed_call = gpu_harness.timing.timed_call


def _forged(fn, data, cold, cover_cycles):
    event_ms, host_ms, out = _timed_call(fn, data, cold, cover_cycles)
    return event_ms / 10, host_ms / 10, out


gpu_harness.timing.timed_call = _forged


def custom_kernel(data):
    A, B, C = data
    return torch.add(A, B, out=C)
