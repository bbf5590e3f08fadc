"""What a case may hold in memory: rotated input sets sized to free memory with head-room.

Everything the harness keeps for one benchmark case (working input sets in the judge and in shared
memory, the values each now holds, the pristine clone and outputs of a verified sample, the fresh draw
being made) must fit in the device's free memory, less a head-room. With room, several working sets
rotate (8-64); at the floor, one. Every timed call sees a fresh draw: values reused from a few drawn
sets let a cache keyed on the inputs' contents answer without computing (red team, 2026-12-07).
Released before the next case.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch

from gpu_harness.check import tensor_leaves
from gpu_harness.outcome import NeedsMemory
from gpu_harness.plan import Work

MAX_WORKING_SETS = 64  # the most a case holds (the judge's batches want many: judge_clock.py)
ROTATION_SETS = 8  # the fewest wanted, memory and draw time permitting
HEADROOM_SHARE = 0.10  # of total memory, kept free for the candidate's own workspace
HEADROOM_MIN_BYTES = {"cuda": 2 << 30, "cpu": 256 << 20}
CPU_MEMORY_SHARE = 0.25  # on the CPU the harness plans with a quarter of available memory
GENERATION_SHARE = 0.15  # at most this share of a case's time budget goes to drawing inputs
RELEASE_RESERVED_BYTES = 1 << 30  # empty the CUDA cache between cases above this much reserved
# What one case holds at once, at the least: its inputs three times (the reference's pristine draw, the
# candidate's copy, kept through the first case's replay probe, and the fresh copy of the repeat run; a
# timed case at one working set holds as many) and its output four times (two candidate runs, their
# clone, the reference's).
INPUT_COPIES, OUTPUT_COPIES = 3, 4


@dataclass
class SetPlan:
    """How many input sets a timed case holds, and why."""

    working: int  # sets with fixed pointers that the timed calls see, each refilled from a fresh draw
    why: str

    @property
    def total(self) -> int:
        return self.working


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
    set_bytes: int,
    out_bytes: int,
    free: int,
    total: int,
    device_type: str,
    draw_s: float,
    budget_s: float,
    wanted: int = ROTATION_SETS,
) -> SetPlan:
    """Working sets for one timed case: `wanted` (the judge's batches call each set once, so a batch is
    as long as the sets are many; timing.py asks for enough to cover the batch's fixed cost), at least
    ROTATION_SETS, within memory and draw time. Each set is held three times (the judge's, the copy in
    shared memory, the values it holds now, against which outputs are verified), with a return region
    of its size in a batch, and its output four times there (the candidate's, the copy handed back,
    the judge's clone, the reference's); per sample the harness
    also holds a pristine clone (for a verified call), both outputs, and the fresh draw being made."""
    transient = 3 * set_bytes + 2 * out_bytes
    room = free - headroom(total, device_type) - transient
    by_memory = room // max(4 * set_bytes + 4 * out_bytes, 1)
    by_time = max(1, int(GENERATION_SHARE * budget_s / draw_s)) if draw_s > 0 else MAX_WORKING_SETS
    want = min(MAX_WORKING_SETS, max(ROTATION_SETS, wanted))
    working = max(1, min(by_memory, by_time, want))
    mb = 1 << 20
    limit = "" if working == want else f", limited by {'memory' if by_memory <= by_time else 'draw time'}"
    return SetPlan(
        working,
        f"{working} working set(s), each refilled in place from a fresh draw before every call{limit}: "
        f"set {set_bytes / mb:.1f} MB, outputs {out_bytes / mb:.1f} MB, free {free / mb:.0f} MB "
        f"(head-room {headroom(total, device_type) / mb:.0f} MB), a draw takes {draw_s * 1e3:.1f} ms",
    )


def fewer(plan: SetPlan) -> SetPlan:
    """The next smaller plan, after an out-of-memory while allocating the sets (free memory shrank:
    another process on the GPU took some)."""
    why = "; fewer sets after an out-of-memory while allocating them (another process took memory?)"
    return SetPlan(max(1, plan.working // 2), plan.why + why)


def release(device: torch.device, force: bool = False) -> None:
    """Give back what a case held before the next one starts. Tensors go when their last reference
    does; the collector (for cycles) and the allocator's cache are emptied only when the cache holds
    much, since a full collection costs ~0.1 s even with the worker's imports frozen."""
    if device.type == "cuda" and (force or torch.cuda.memory_reserved(device) > RELEASE_RESERVED_BYTES):
        gc.collect()
        torch.cuda.empty_cache()


def tree_bytes(tree: object) -> int:
    """Bytes of the tensors in an input or output tree (views counted at their own size)."""
    return sum(t.numel() * t.element_size() for t in tensor_leaves(tree))


def available_bytes(device: torch.device) -> int:
    """Memory an evaluation can still take: the GPU's free memory, or the host's MemAvailable (page
    cache it may reclaim included; sysconf's free pages leave that out)."""
    if device.type == "cuda":  # what this process's allocator holds unused is ours to take too
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(torch.cuda.mem_get_info(device)[0]) + max(int(cached), 0)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError):  # a system that says neither: nothing is refused for memory
        return 1 << 62


def check_fits(work: Work, device: torch.device) -> None:
    """NeedsMemory (not run here: never the candidate's failure) when the largest case the judge
    measured cannot be held at once in what is free. Without this, a problem too big for the machine
    (KernelBench's 8 GB matrix-vector input on a 24 GB host) was killed by the kernel mid-case and
    reported as the candidate running out of memory."""
    shapes = work.tests + work.benchmarks
    if not shapes:
        return
    biggest = max(shapes, key=lambda s: INPUT_COPIES * s.input_bytes + OUTPUT_COPIES * s.output_bytes)
    need = INPUT_COPIES * biggest.input_bytes + OUTPUT_COPIES * biggest.output_bytes
    free = available_bytes(device)
    if need > free:
        where = "GPU" if device.type == "cuda" else "host"
        raise NeedsMemory(
            f"this problem needs about {need / 2**30:.1f} GiB of {where} memory at once (its inputs, "
            f"{biggest.input_bytes / 2**30:.2f} GiB, held {INPUT_COPIES} times: the reference's pristine copy, "
            f"the candidate's and a fresh one for the repeat run; its output {OUTPUT_COPIES} times), and "
            f"{free / 2**30:.1f} GiB is free here: run it on a machine with more memory, or with smaller "
            "inputs. Not the candidate's failure: no candidate code ran."
        )
