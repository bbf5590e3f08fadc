"""What a case may hold in memory: rotated input sets sized to free memory with head-room.

Everything the harness keeps for one benchmark case (working input sets, value sets to refill them,
the pristine clone and outputs of a verified sample) must fit in the device's free memory, less a
head-room. With room, several working sets rotate (2-8) and are refilled from other draws; with
less, one working set is refilled from value sets; at the floor, one set is refilled in place from
a fresh draw before every sample (the L2 flush still runs). Released before the next case.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch

MAX_WORKING_SETS = 8
HEADROOM_SHARE = 0.10  # of total memory, kept free for the candidate's own workspace
HEADROOM_MIN_BYTES = {"cuda": 2 << 30, "cpu": 256 << 20}
CPU_MEMORY_SHARE = 0.25  # on the CPU the harness plans with a quarter of available memory
GENERATION_SHARE = 0.15  # at most this share of a case's time budget goes to drawing inputs
MIN_SETS_BY_TIME = 3
RELEASE_RESERVED_BYTES = 1 << 30  # empty the CUDA cache between cases above this much reserved


@dataclass
class SetPlan:
    """How many input sets a timed case holds, and why."""

    working: int  # sets with fixed pointers that the timed calls see
    values: int  # extra draws that refill the working sets in place (0: fresh draw each time)
    why: str

    @property
    def total(self) -> int:
        return self.working + self.values


def free_bytes(device: torch.device, cap: int | None = None) -> tuple[int, int]:
    """(free, total) bytes on `device`; `cap` (a request's `memory_bytes`) limits both, for tests
    and for sharing a GPU."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
    else:
        page = os.sysconf("SC_PAGE_SIZE")
        free = int(os.sysconf("SC_AVPHYS_PAGES") * page * CPU_MEMORY_SHARE)
        total = int(os.sysconf("SC_PHYS_PAGES") * page * CPU_MEMORY_SHARE)
    if cap is not None:
        free, total = min(free, int(cap)), min(total, int(cap))
    return int(free), int(total)


def headroom(total: int, device_type: str) -> int:
    floor = HEADROOM_MIN_BYTES.get(device_type, 0)
    return max(int(HEADROOM_SHARE * total), floor if total >= 8 * floor else 0)


def plan_sets(
    set_bytes: int, out_bytes: int, free: int, total: int, device_type: str, draw_s: float, budget_s: float
) -> SetPlan:
    """Sets for one timed case. Per sample the harness also holds a pristine clone of the set (for a
    verified call), the candidate's and the reference's outputs, and a fresh draw while refilling."""
    transient = 2 * set_bytes + 2 * out_bytes
    room = free - headroom(total, device_type) - transient
    by_memory = room // max(set_bytes, 1)
    # Slow draws limit the count, but never below three sets (one working set, two value sets to
    # alternate): a fresh draw before every sample would cost far more.
    by_time = (
        max(MIN_SETS_BY_TIME, int(GENERATION_SHARE * budget_s / draw_s))
        if draw_s > 0
        else 2 * MAX_WORKING_SETS + 1
    )
    sets = min(by_memory, by_time, 2 * MAX_WORKING_SETS + 1)
    mb = 1 << 20
    what = (
        f"set {set_bytes / mb:.1f} MB, outputs {out_bytes / mb:.1f} MB, free {free / mb:.0f} MB "
        f"(head-room {headroom(total, device_type) / mb:.0f} MB), a draw takes {draw_s * 1e3:.1f} ms"
    )
    if sets >= 4:
        working = min(MAX_WORKING_SETS, (sets - 1) // 2)
        return SetPlan(
            working, working + 1, f"{working} working sets refilled from {working + 1} other draws: {what}"
        )
    if sets >= 3:
        return SetPlan(
            1,
            sets - 1,
            f"1 working set refilled from {sets - 1} other draw(s), "
            f"limited by {'memory' if by_memory <= by_time else 'draw time'}: {what}",
        )
    return SetPlan(
        1,
        0,
        f"1 working set refilled in place from a fresh draw before every sample "
        f"(memory for three sets is lacking): {what}",
    )


def fewer(plan: SetPlan) -> SetPlan:
    """The next smaller plan, after an out-of-memory while allocating the sets (free memory shrank:
    another process on the GPU took some)."""
    why = "; fewer sets after an out-of-memory while allocating them (another process took memory?)"
    if plan.working > 1:
        working = plan.working // 2
        return SetPlan(working, working + 1, plan.why + why)
    if plan.values > 2:
        return SetPlan(1, 2, plan.why + why)
    return SetPlan(1, 0, plan.why + why)


def release(device: torch.device, force: bool = False) -> None:
    """Give back what a case held before the next one starts. Tensors go when their last reference
    does; the collector (for cycles) and the allocator's cache are emptied only when the cache holds
    much, since a full collection costs ~0.1 s even with the worker's imports frozen."""
    if device.type == "cuda" and (force or torch.cuda.memory_reserved(device) > RELEASE_RESERVED_BYTES):
        gc.collect()
        torch.cuda.empty_cache()
