"""CUDA's first-call costs paid ahead of the evaluation, in the judge and in the candidate's process
(both import this; it imports only what the judge's comparisons need)."""

from __future__ import annotations

import sys
from typing import Any


def initialise_cuda(comparisons: bool = True) -> None:
    """In the judge and in the candidate's process, after the fork, before the request: the CUDA
    context, a cuBLAS handle and Triton's driver are the slow parts of a first call (about 1.3 s
    measured on an H100); the judge also loads its comparison kernels."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return
    torch.cuda.init()
    x = torch.ones(8, 8, device="cuda")
    torch.mm(x, x)
    event = torch.cuda.Event(enable_timing=True)
    event.record()
    if comparisons:
        _load_comparison_kernels(torch)
    torch.cuda.synchronize()
    triton = sys.modules.get("triton")
    if triton is not None:
        try:
            triton.runtime.driver.active.get_current_device()
        except Exception:  # an older Triton: its driver starts on the first launch instead
            pass


def _load_comparison_kernels(torch: Any) -> None:
    """CUDA loads each kernel module on its first use; the comparisons every evaluation makes (one per
    dtype family) load theirs here, while the child waits for its job, not inside the evaluation."""
    from gpu_harness.check import compare, same_bits

    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.int32):
        a = torch.ones(64, device="cuda", dtype=dtype)
        compare(a, a.clone())
        same_bits(a, a)
