"""What handing one output back costs the candidate's process against the judge's estimate of it, as the
arenas of an evaluation grow (CPU arenas here; the code path is the device's too).

The judge takes its own estimate of the hand-back off every batch (batch_call.py); whatever the
candidate's process spends beyond it counts as call time, and an honest candidate with many 64 MB
input sets (one arena each) was flagged `timing_disagrees` on the H100 and H200 (2026-12-08).

    python3 bench/harness/hand_back_cost.py          # one line per arena count
"""

import os
import statistics
import time

import torch

from gpu_harness.arena import create
from gpu_harness.check import clone_tree
from gpu_harness.hand_back import hand_back

REPEATS = 200


def per_output_us(fn) -> float:
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(REPEATS):
            fn()
        times.append((time.perf_counter() - t0) / REPEATS * 1e6)
    return statistics.median(times)


def row(count: int) -> str:
    arenas = {}
    for ident in range(count):
        arena, _msg, fd = create(ident, 1 << 20, torch.device("cpu"))
        os.close(fd)
        arenas[ident] = arena
    ret = (count - 1, 0, 1 << 16)
    fresh = torch.randn(4096)  # the candidate's output: in no arena, so copied into the region
    in_arena = arenas[count - 1].view(0, torch.float32, (4096,), (1,))  # the judge's rebuilt view
    clone = clone_tree(in_arena)
    candidate = per_output_us(lambda: hand_back(fresh, ret, arenas, lambda: None))
    judge_view = per_output_us(lambda: hand_back(in_arena, None, arenas, lambda: None))
    judge_clone = per_output_us(lambda: hand_back(clone, None, arenas, lambda: None))
    target = torch.empty_like(in_arena)
    # batch_call.copy_ms: a view of the region made and the output's bytes copied, as the candidate does
    judge_copy = per_output_us(
        lambda: (
            arenas[count - 1].view(0, in_arena.dtype, in_arena.shape, in_arena.stride()),
            target.copy_(in_arena),
        )
    )
    return (
        f"arenas {count:4d}: candidate's hand-back {candidate:7.1f} us; judge's describe estimate on its view "
        f"{judge_view:7.1f} us, on a clone {judge_clone:7.1f} us; its view-and-copy estimate {judge_copy:6.1f} us; "
        f"left uncounted {candidate - judge_clone - judge_copy:6.1f} us"
    )


def main() -> None:
    for count in (1, 8, 32, 64, 128):
        print(row(count))


if __name__ == "__main__":
    main()
