# Attack: at import, a detached helper (double fork + setsid) that spins on a CPU forever. The kernel
# is honest; the helper must not outlive the evaluation.
import os

import torch


def _spin():
    while True:
        pass


first = os.fork()
if first == 0:
    os.setsid()
    second = os.fork()
    if second == 0:
        _spin()
    os.write(1, f"stray pid {second}\n".encode())
    os._exit(0)
os.waitpid(first, 0)


def custom_kernel(data):
    A, B, C = data
    return torch.add(A, B, out=C)
