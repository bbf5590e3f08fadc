# Attack: at import, a detached helper (double fork + setsid) that keeps every inherited fd, the
# harness's result pipe among them, and sleeps. The kernel itself is honest: the verdict must come
# in normal time, and the helper must die with the evaluation. It prints its pid for the test.
import os
import time

import torch


def _detach(body):
    first = os.fork()
    if first == 0:
        os.setsid()
        second = os.fork()
        if second == 0:
            body()
            os._exit(0)
        os.write(1, f"stray pid {second}\n".encode())
        os._exit(0)
    os.waitpid(first, 0)


def _sleep():
    time.sleep(600)


_detach(_sleep)


def custom_kernel(data):
    A, B, C = data
    return torch.add(A, B, out=C)
