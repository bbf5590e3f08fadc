"""CUDA's first-call costs paid ahead of the evaluation, in the judge and in the candidate's process
(both import this; it imports only what the judge's comparisons need)."""

from __future__ import annotations

import os
import sys
from typing import Any

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"  # torch: ask NVML, not CUDA, whether there is a GPU


def initialise_cuda(comparisons: bool = True) -> None:
    """In the judge and in the candidate's process, after the fork, before the request: the CUDA
    context, a cuBLAS handle and Triton's driver are the slow parts of a first call (about 1.3 s
    measured on an H100); the judge also loads its comparison kernels."""
    torch = sys.modules.get("torch")
    trust_cuda_not_nvml()
    if torch is None or not torch.cuda.is_available():
        return
    torch.cuda.init()
    torch.cuda._cached_device_count = torch._C._cuda_getDeviceCount()  # see trust_cuda_not_nvml
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


def trust_cuda_not_nvml() -> None:
    """The worker asks NVML whether there is a GPU (PYTORCH_NVML_BASED_CUDA_CHECK) so that CUDA does
    not start before its forks. Here, after them, CUDA starts anyway, and NVML is not to be trusted: in
    a confined process that closed its inherited descriptors it failed (seen on an H100: "Can't
    initialize NVML"), and torch then counted no GPU once CUDA ran, so that torch.cuda.current_stream()
    failed ("invalid argument to getCurrentStream"). So the count comes from CUDA itself: torch asks
    CUDA once this variable is gone, and device_count() is given CUDA's answer once CUDA runs."""
    os.environ.pop(NVML_CHECK, None)


def _load_comparison_kernels(torch: Any) -> None:
    """CUDA loads each kernel module on its first use; the comparisons every evaluation makes (one per
    dtype family) load theirs here, while the child waits for its job, not inside the evaluation."""
    from gpu_harness.check import compare, same_bits

    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.int32):
        a = torch.ones(64, device="cuda", dtype=dtype)
        compare(a, a.clone())
        same_bits(a, a)
