# Exploit (red team, 2026-12-07): on the CPU the reference runs on one thread; raising torch's thread
# count inside the call times the candidate on every core (1.5x for torch.matmul itself on 2 cores).
import os

import torch


def custom_kernel(data):
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    a, b = data
    return torch.matmul(a.float(), b.float()).to(a.dtype)
