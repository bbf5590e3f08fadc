# Not a cheat: a correct kernel whose timed calls never return (a hang that only timing reaches).
# Its verdict must be "correct, not timed", never "failed".
import sys
import time

import torch


def custom_kernel(data):
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name in ("timed_call", "host_call", "op_batch"):
            time.sleep(3600)
        frame = frame.f_back
    A, B, C = data
    return torch.add(A, B, out=C)
