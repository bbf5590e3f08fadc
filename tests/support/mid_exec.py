"""Stands in for a process caught in the middle of an execve, when the kernel shows an empty
/proc/PID/environ (it fills in the new one last): it hides its environment for HIDE_S seconds
(creating READY once hidden), then shows it again and sleeps on under the name NAME.
prctl(PR_SET_MM_MAP) moves where the kernel looks for the environment: allowed to an ordinary
process for its own memory where the kernel has checkpoint/restore (else it exits with "prctl: ...").
Usage: python3 mid_exec.py NAME HIDE_S READY  (detached: setsid python3 mid_exec.py ... &)"""

import ctypes
import os
import sys
import time

PR_SET_MM, PR_SET_MM_MAP = 35, 14


class MmMap(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "start_code", "end_code", "start_data", "end_data", "start_brk", "brk", "start_stack",
            "arg_start", "arg_end", "env_start", "env_end", "auxv",
        )
    ] + [("auxv_size", ctypes.c_uint32), ("exe_fd", ctypes.c_uint32)]  # fmt: skip


def layout() -> MmMap:
    """This process's memory layout as the kernel has it (/proc/self/stat), brk from sbrk(0)."""
    after_name = open("/proc/self/stat").read().rsplit(")", 1)[1].split()

    def field(n: int) -> int:  # proc(5) numbers the fields from 1; the name is field 2
        return int(after_name[n - 3])

    libc.sbrk.restype = ctypes.c_void_p
    code, data, start_brk, args, env = (
        (field(26), field(27)),
        (field(45), field(46)),
        field(47),
        (field(48), field(49)),
        (field(50), field(51)),
    )
    return MmMap(*code, *data, start_brk, libc.sbrk(0), field(28), *args, *env, 0, 0, 0xFFFFFFFF)


def set_layout(m: MmMap) -> None:
    if libc.prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.byref(m), ctypes.sizeof(m), 0) != 0:
        sys.exit(f"prctl(PR_SET_MM_MAP): {os.strerror(ctypes.get_errno())}")


libc = ctypes.CDLL(None, use_errno=True)
shown = layout()
hidden = MmMap.from_buffer_copy(shown)
hidden.env_end = hidden.env_start
set_layout(hidden)
open(sys.argv[3], "w").close()
time.sleep(float(sys.argv[2]))
set_layout(shown)
os.execvp("sleep", [sys.argv[1], "300"])
