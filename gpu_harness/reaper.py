"""What a candidate leaves behind: process trees. Whatever it starts must die with its evaluation (a
detached helper that double-forks and calls `setsid` leaves the process group, so killing the group
is not enough): the reaping process is a child subreaper and sweeps the /proc ppid tree.

    become_subreaper()          orphans of our descendants re-parent to us, not to init
    kill_descendants(root)      SIGKILL every descendant (the /proc ppid tree, until none is left)

Only the standard library (ctypes).
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
KILL_WAIT_S = 2.0  # how long kill_descendants waits for SIGKILLed processes to go

_libc = ctypes.CDLL(None, use_errno=True)


def prctl(option: int, arg2: int | ctypes.c_void_p = 0, arg3: int = 0) -> int:
    """prctl(2) through libc: its result, or minus errno."""
    _libc.prctl.restype = ctypes.c_int
    result = _libc.prctl(
        ctypes.c_int(option),
        arg2 if isinstance(arg2, ctypes.c_void_p) else ctypes.c_ulong(arg2),
        ctypes.c_ulong(arg3),
        ctypes.c_ulong(0),
        ctypes.c_ulong(0),
    )
    return result if result >= 0 else -ctypes.get_errno()


def become_subreaper() -> bool:
    """PR_SET_CHILD_SUBREAPER on this process: a descendant whose parent dies (double fork + setsid)
    re-parents to us instead of init, so kill_descendants still finds it. Not inherited across fork:
    every process that reaps must call it. False where the kernel refuses (not Linux)."""
    try:
        return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0
    except (AttributeError, OSError):
        return False


def is_subreaper() -> bool:
    value = ctypes.c_int(0)
    try:
        return (
            prctl(PR_GET_CHILD_SUBREAPER, ctypes.c_void_p(ctypes.addressof(value))) == 0 and value.value == 1
        )
    except (AttributeError, OSError):
        return False


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """PR_SET_PDEATHSIG: this process gets `sig` when the process that forked it dies."""
    try:
        prctl(PR_SET_PDEATHSIG, int(sig))
    except (AttributeError, OSError):
        pass


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, state) for every process /proc shows."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        rest = stat[stat.rfind(b")") + 2 :].split()  # the name may hold spaces and parentheses
        if len(rest) >= 2:
            table[int(entry.name)] = (int(rest[1]), rest[0].decode())
    return table


def descendants(
    root: int | None = None, exclude: Iterable[int] = (), table: dict[int, tuple[int, str]] | None = None
) -> list[int]:
    """Every live (not zombie) descendant of `root` (default: this process), less `exclude` and
    their own descendants."""
    root = os.getpid() if root is None else root
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    skip, found, todo = set(exclude), [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in skip or pid == root:
            continue
        if table[pid][1] not in ("Z", "X"):
            found.append(pid)
        todo.extend(children.get(pid, []))
    return found


@dataclass
class Sweep:
    killed: int = 0  # processes SIGKILLed
    survivors: int = 0  # still alive (not zombie) when the sweep gave up


def kill_descendants(
    root: int | None = None, exclude: Iterable[int] = (), wait_s: float = KILL_WAIT_S
) -> Sweep:
    """SIGKILL every descendant of `root` (default: this process), again and again until none is
    left (a process forking while we kill re-parents to us and is found on the next pass), and reap
    those that are our children. Call it from a subreaper: otherwise a detached grandchild's parent
    is init and it is not a descendant any more. Returns how many were killed and how many survived."""
    me = os.getpid()
    root = me if root is None else root
    exclude = tuple(exclude)
    killed: set[int] = set()
    end = time.monotonic() + wait_s
    live: list[int] = []
    while True:
        table = process_table()  # one scan of /proc per pass (~12 us a process)
        _reap(me, exclude, table)
        live = descendants(root, exclude, table)
        if not live or time.monotonic() > end:
            break
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)
    return Sweep(killed=len(killed), survivors=len(live))


def _reap(me: int, exclude: tuple[int, ...], table: dict[int, tuple[int, str]]) -> None:
    """Collect our own zombie children (never an excluded one: its owner waits for it)."""
    for pid, (ppid, state) in table.items():
        if ppid == me and state in ("Z", "X") and pid not in exclude:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def kill_descendants_on_signals(signals: Iterable[int] = (signal.SIGTERM, signal.SIGHUP)) -> None:
    """On these signals (job_cancel sends TERM, a closed SSH channel HUP), kill every descendant
    first and then exit with 128 + the signal: evaluation children live in process groups of their
    own and their strays in sessions of their own, so nobody else would."""

    def handler(signum: int, _frame: Any) -> None:
        kill_descendants()
        os._exit(128 + signum)

    for sig in signals:
        signal.signal(sig, handler)
