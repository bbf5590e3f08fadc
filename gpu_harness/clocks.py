"""The GPU's state around a timed call: cold L2, persisting L2, SM clock, and the launch cover.

Shared by timing (every sample) and the report (clock MHz); nothing here knows about candidates.
"""

from __future__ import annotations

import torch

from gpu_harness import persisting_l2

# Cold cache: flush at least twice the last-level cache between samples.
L2_FLUSH_FACTOR = 2
DEFAULT_L2_BYTES = {"cuda": 64 << 20, "cpu": 32 << 20}
# A spin kernel queued after the flush keeps the GPU busy while the CPU launches the call, so the
# start event fires when the GPU is ready, not when Python got there (nvbench's blocking-kernel
# idea). Its length is LAUNCH_COVER_FACTOR times the slower host-side call time seen in warm-up
# (the same cover for reference and candidate), within these bounds. The host clock still spans
# everything from the synchronize on, and the host-side call time is reported.
LAUNCH_COVER_FACTOR = 2.5
LAUNCH_COVER_MIN_US = 50.0
LAUNCH_COVER_MAX_US = 1000.0
ASSUMED_CLOCK_MHZ = 2000


# -- cold cache -------------------------------------------------------------------------------
class ColdCache:
    """A buffer at least twice the last-level cache, READ before every sample: reading evicts the
    previous sample's lines (their write-backs happen here, outside the timed region) and leaves
    clean lines, so the timed call pays no write-back of the flush itself (a write-flush did,
    measured: +8 % on a 137 us vector add against ncu)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.nbytes = L2_FLUSH_FACTOR * cache_bytes(device)
        self.buffer = torch.ones(self.nbytes // 4, dtype=torch.int32, device=device)
        self.sink = torch.empty((), dtype=torch.int32, device=device)

    def flush(self) -> None:
        torch.amax(self.buffer, dim=0, out=self.sink)


def cache_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return int(getattr(props, "L2_cache_size", 0) or DEFAULT_L2_BYTES["cuda"])
    try:
        text = open("/sys/devices/system/cpu/cpu0/cache/index3/size").read().strip()
        return int(text[:-1]) * 1024 if text.endswith("K") else int(text)
    except (OSError, ValueError):
        return DEFAULT_L2_BYTES["cpu"]


def reset_persisting_l2() -> bool:
    """A candidate's persisting-L2 carve-out and the access-policy window of the stream we time on,
    undone before every sample (persisting_l2.py); False if the runtime is unreachable."""
    return persisting_l2.reset_persisting_l2(torch.cuda.current_stream().cuda_stream)


def clock_mhz(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    try:
        return int(torch.cuda.clock_rate(device))
    except Exception:  # pynvml absent or no permission: the clock is simply not reported
        return None


def launch_cover_cycles(call_ms: float, device: torch.device) -> int:
    cover_us = min(max(LAUNCH_COVER_FACTOR * call_ms * 1e3, LAUNCH_COVER_MIN_US), LAUNCH_COVER_MAX_US)
    return int(cover_us * (clock_mhz(device) or ASSUMED_CLOCK_MHZ))
