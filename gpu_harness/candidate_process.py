"""The candidate's process: forked by the judge before CUDA starts, confined (Landlock nested in the
judge's, seccomp, no capabilities, dies with its judge), then handed to candidate_host.main, the only
place the candidate is imported. The judge speaks to it through remote.RemoteCandidate."""

from __future__ import annotations

import ctypes
import json
import os
import socket
import struct
import traceback
from collections.abc import Callable
from typing import Any

from gpu_harness import compile_cache, confine, reaper
from gpu_harness.channel import close_other_fds, socket_pair


def spawn(setup: Callable[[], confine.Isolation] | None = None) -> tuple[int, socket.socket, dict[str, Any]]:
    """Fork the candidate's process. It keeps stdin/stdout/stderr (the capture files) and its end of
    the channel, nothing else; it has not initialised CUDA and neither has its parent yet. Its first
    message, written after `setup` confined it and before any candidate code exists in it, says what
    confined it: that is the isolation the report gives."""
    judge_sock, cand_sock = socket_pair()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            judge_sock.close()
            reaper.die_with_parent()  # a judge killed outright takes its candidate along
            close_other_fds({cand_sock.fileno()})
            isolation = setup() if setup is not None else confine.Isolation()
            _send_first(cand_sock, isolation.to_json())
            from gpu_harness.candidate_host import main

            code = main(cand_sock.detach())
        except BaseException:  # noqa: BLE001  its channel closes: the judge reports it
            traceback.print_exc()
        finally:
            os._exit(code)
    cand_sock.close()
    return pid, judge_sock, _receive_first(judge_sock)


FIRST_WAIT_S = 60.0


def _send_first(sock: socket.socket, doc: dict[str, Any]) -> None:
    data = json.dumps(doc).encode()
    sock.sendall(struct.pack("=I", len(data)) + data)


def _receive_first(sock: socket.socket) -> dict[str, Any]:
    """The candidate's process's account of its confinement (length-prefixed JSON), or why none came."""
    missing = confine.Isolation()
    missing.why.append("the candidate's process did not say what confined it")
    sock.settimeout(FIRST_WAIT_S)
    try:
        head = _exactly(sock, 4)
        doc = json.loads(_exactly(sock, struct.unpack("=I", head)[0]))
        return doc if isinstance(doc, dict) else missing.to_json()
    except (OSError, ValueError, struct.error):
        return missing.to_json()
    finally:
        sock.settimeout(None)


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


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


def confine_process(scratch: str, caches: str | os.PathLike[str] | None = None) -> confine.Isolation:
    """In the candidate's process, right after the fork, one thread: a Landlock domain of its own (forked
    before the judge confines itself: neither domain holds the other, so neither process can ptrace
    the other or open its /proc; scoped, so it cannot signal the judge), its seccomp filter, and no
    capabilities (confine.py; drop_capabilities). Returns what it did, for the report."""
    isolation = confine.confine_candidate(scratch, caches=caches)
    if caches is not None:  # told to the worker once warm (candidate_host.main)
        os.environ[compile_cache.LIVE_ENV] = str(caches)
    drop_capabilities()
    return isolation
