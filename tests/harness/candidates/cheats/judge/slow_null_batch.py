# Exploit (red team, 2026-12-08): inflate the fixed cost the judge measures. A one-call batch is the
# call plus a fixed cost (the request, waking this process, its synchronisations); the harness's own
# one-call batch (op_null_batch) measures that cost, and a bound that took it off would grow with it.
# This candidate makes the harness's op slow at import, so the fixed cost looks 50 ms long, and would
# hide calls that overlapped in batches. The judge must ask before this module exists in the process:
# the report's judge_null_ms stays what the harness measured.
import time

import torch

import gpu_harness.candidate_host

_null = gpu_harness.candidate_host.Host.op_null_batch


def _slow_null(self, msg):
    time.sleep(0.05)
    return _null(self, msg)


gpu_harness.candidate_host.Host.op_null_batch = _slow_null


def custom_kernel(data):
    a, b, c = data
    return torch.add(a, b, out=c)
