# Honest: names its threads the way CUDA's start-up does (cuInit writes /proc/<pid>/task/<tid>/comm and
# fails with error 304 where that write is refused), then asks for a write into the rest of /proc,
# which must stay refused. Says what it saw.
import threading

import torch

tid = threading.get_native_id()
with open(f"/proc/self/task/{tid}/comm", "w") as comm:
    comm.write("cuda-like")
print("thread named:", open(f"/proc/self/task/{tid}/comm").read().strip())
try:
    with open("/proc/self/oom_score_adj", "w") as adj:
        adj.write("0")
    print("proc write: allowed")
except OSError as exc:
    print(f"proc write: refused ({exc.strerror})")


def custom_kernel(data):
    A, B, C = data
    return torch.add(A, B, out=C)
