# Exploit (red team, 2026-12-07): the timing wrap of patch_timed_call.py (every claim divided by four),
# and the judge's back-to-back batches memoised: the batch request names its calls' working sets, and
# the host code that serves it runs in this process, so each set is computed once and the rest of the
# batch is skipped. Its last output per set is still right, and the batch came back as fast as the claim.
import torch

import gpu_harness.candidate_host
import gpu_harness.timing

_timed_call = gpu_harness.timing.timed_call
_batch = gpu_harness.candidate_host.Host.op_batch


def _forged(fn, data, cold, cover_cycles):
    event_ms, host_ms, out = _timed_call(fn, data, cold, cover_cycles)
    return event_ms / 4, host_ms / 4, out


def _once_per_set(self, msg):
    return _batch(self, dict(msg, order=list(dict.fromkeys(msg["order"]))))


gpu_harness.timing.timed_call = _forged
gpu_harness.candidate_host.Host.op_batch = _once_per_set


def custom_kernel(data):
    A, B, C = data
    return torch.add(A, B, out=C)
