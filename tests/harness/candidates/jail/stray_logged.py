# Attack: at import, a detached sleeper (double fork + setsid), and calls that each sleep, so that a
# smoke test or a fan-out of them outlives its budget and is cancelled: no report comes back to print
# the sleeper's pid in, so it goes to LOG, in /dev/shm (a confined candidate may write nowhere else).
# A test that wants its own log writes its path over LOG's.
import os
import time

import torch

LOG = "/dev/shm/bifrost-stray-pids.log"

first = os.fork()
if first == 0:
    os.setsid()
    second = os.fork()
    if second == 0:
        time.sleep(600)
        os._exit(0)
    with open(LOG, "a") as f:
        f.write("stray %d\n" % second)
    os._exit(0)
os.waitpid(first, 0)


def custom_kernel(data):
    A, B, C = data
    time.sleep(0.15)
    return torch.add(A, B, out=C)
