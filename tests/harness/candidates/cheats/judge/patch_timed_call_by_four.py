# Exploit (red team, 2026-12-07): the same wrap of the harness's timing function as patch_timed_call.py,
# but dividing by four: small enough to hide inside the gap between the judge's warm back-to-back
# batches and the cold, cache-flushed samples the claim is made of (5.1x reported, unflagged, on the
# CPU before the judge's bound was calibrated on the reference's own cold/warm ratio).
import torch

import gpu_harness.timing

_timed_call = gpu_harness.timing.timed_call


def _forged(fn, data, cold, cover_cycles):
    event_ms, host_ms, out = _timed_call(fn, data, cold, cover_cycles)
    return event_ms / 4, host_ms / 4, out


gpu_harness.timing.timed_call = _forged


def custom_kernel(data):
    A, B, C = data
    return torch.add(A, B, out=C)
