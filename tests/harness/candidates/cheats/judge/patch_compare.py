# Exploit (issue 18, class 1): replace the harness's own comparison and verdict with always-true
# functions at import, then return zeros. In a harness that judges in the candidate's process this
# read "PASS 8/8".

import gpu_harness.check
import gpu_harness.correctness
from gpu_harness.outcome import Comparison


def _always(*args, **kwargs):
    return Comparison(True, message="forged")


gpu_harness.check.compare = _always
gpu_harness.check.compare_tensor = _always
gpu_harness.check.outputs_same_bits = lambda *a, **k: True
gpu_harness.correctness.judge = lambda *a, **k: Comparison(True, message="forged")


def custom_kernel(data):
    A, B, C = data
    C.zero_()
    return C
