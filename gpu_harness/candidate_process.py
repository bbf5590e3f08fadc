"""The candidate's process: forked by the judge before CUDA starts, confined (Landlock nested in the
judge's, seccomp, no capabilities, dies with its judge), then handed to candidate_host.main, the only
place the candidate is imported. The judge speaks to it through remote.RemoteCandidate."""

from __future__ import annotations

import ctypes
import os
import socket
import traceback
from collections.abc import Callable

from gpu_harness import confine
from gpu_harness.channel import close_other_fds, socket_pair


def spawn(setup: Callable[[], None] | None = None) -> tuple[int, socket.socket]:
    """Fork the candidate's process. It keeps stdin/stdout/stderr (the capture files) and its end of
    the channel, nothing else; it has not initialised CUDA and neither has its parent yet."""
    judge_sock, cand_sock = socket_pair()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            judge_sock.close()
            confine.die_with_parent()  # a judge killed outright takes its candidate along
            close_other_fds({cand_sock.fileno()})
            if setup is not None:
                setup()
            from gpu_harness.candidate_host import main

            code = main(cand_sock.detach())
        except BaseException:  # noqa: BLE001  its channel closes: the judge reports it
            traceback.print_exc()
        finally:
            os._exit(code)
    cand_sock.close()
    return pid, judge_sock


_CAP_VERSION_3 = 0x20080522
PR_CAPBSET_DROP = 24
CAP_LAST = 63


def drop_capabilities() -> bool:
    """Every capability out of the bounding, permitted, effective and inheritable sets. Where the
    harness runs as root, non-dumpable parents are reachable through CAP_SYS_PTRACE (/proc/<pid>/mem,
    /proc/<pid>/fd, ptrace) and files through CAP_DAC_OVERRIDE; the candidate's process keeps none."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(CAP_LAST + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last: harmless
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # two {effective, permitted, inheritable}
    return libc.capset(header, data) == 0


def confine_process(scratch: str) -> None:
    """In the candidate's process, right after the fork, one thread: a Landlock domain nested in the
    judge's (a process cannot ptrace or open /proc of one outside its own domain), its seccomp
    filter, and no capabilities (confine.py; drop_capabilities)."""
    confine.confine_candidate(scratch)
    drop_capabilities()
