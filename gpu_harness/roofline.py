"""The roofline floor: no honest call moves its bytes faster than the measured copy bandwidth, or
does its flops faster than the measured matmul rate. A time below a margin of that floor is impossible.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from gpu_harness.guard import cuda_synchronize, perf_counter_ns

# Measured peaks are achievable, not theoretical; a time below this share of the floor is impossible.
# CPU caches and thread pools make host-side floors loose, so CPU mode keeps a wider margin.
ROOFLINE_MARGIN = {"cuda": 0.7, "cpu": 0.25}


def roofline_floor_ms(
    bytes_moved: float, flops: float | None, peak_bytes_per_s: float, peak_flops_per_s: float | None
) -> float:
    floor = bytes_moved / peak_bytes_per_s
    if flops and peak_flops_per_s:
        floor = max(floor, flops / peak_flops_per_s)
    return floor * 1e3


def below_roofline(candidate_ms: float, floor_ms: float, device_type: str = "cuda") -> str | None:
    margin = ROOFLINE_MARGIN[device_type]
    if floor_ms > 0 and candidate_ms < margin * floor_ms:
        return (
            f"p90 {candidate_ms:.4f} ms is below {margin:.0%} of the roofline floor "
            f"{floor_ms:.4f} ms (bytes / measured peak bandwidth, flops / measured peak rate): impossible"
        )
    return None


# -- measured peaks ---------------------------------------------------------------------------
PEAK_CACHE_DIR = Path(os.environ.get("GPU_HARNESS_CACHE", Path.home() / ".cache" / "gpu_harness"))
PEAK_COPY_BYTES = {"cuda": 512 << 20, "cpu": 64 << 20}
PEAK_MATMUL_N = {"cuda": 8192, "cpu": 512}
PEAK_REPEATS = 5


def measured_peaks(device: torch.device, dtype: torch.dtype) -> tuple[float, float]:
    """(bytes/s, flops/s) achievable on this device, measured once and cached on disk."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    key = f"{name}|{torch.__version__}|{dtype}"
    cache = PEAK_CACHE_DIR / "peaks.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return tuple(known[key])
    kind = device.type
    src = torch.empty(PEAK_COPY_BYTES[kind] // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    bandwidth = max(2 * src.numel() * 4 / t for t in _best_times(lambda: dst.copy_(src), device))
    n = PEAK_MATMUL_N[kind]
    mdtype = (
        dtype if dtype in (torch.float16, torch.bfloat16, torch.float32) and kind == "cuda" else torch.float32
    )
    a = torch.randn(n, n, device=device, dtype=mdtype)
    b = torch.randn(n, n, device=device, dtype=mdtype)
    flops = max(2 * n**3 / t for t in _best_times(lambda: torch.mm(a, b), device))
    known[key] = (bandwidth, flops)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(cache)
    except OSError:
        pass
    return bandwidth, flops


def _best_times(fn, device: torch.device) -> list[float]:
    fn()
    times = []
    for _ in range(PEAK_REPEATS):
        if device.type == "cuda":
            cuda_synchronize()
        t0 = perf_counter_ns()
        fn()
        if device.type == "cuda":
            cuda_synchronize()
        times.append(max(perf_counter_ns() - t0, 1) / 1e9)
    return times
