"""The result pipe between an evaluation's judge and the worker: JSON frames tagged with the
request's nonce, read with the kill clock running (stopped while the candidate compiles, moved by
the judge's time plan). The candidate's process never holds this pipe."""

from __future__ import annotations

import json
import math
import os
import select
import time
from typing import Any

from gpu_harness.deadline import COMPILE_ALLOWANCE_S, KILL_GRACE_S

FRAME_LIMIT_BYTES = 64 << 20
# torch._dynamo: the dispatch mode that lists a candidate's ops imports it on first use (~2 s).
# triton.experimental.gluon: Triton 3.5+ imports it on a kernel's first compile or cache load.


class Channel:
    """The child's end of the result pipe: JSON frames tagged with the request's nonce."""

    def __init__(self, fd: int, nonce: str):
        self.fd, self.nonce = fd, nonce

    def send(self, **frame: Any) -> None:
        data = (json.dumps({"nonce": self.nonce, **frame}, default=jsonable) + "\n").encode()
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


def jsonable(value: Any) -> Any:
    return str(value)


def read_job(fd: int) -> dict[str, Any] | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return json.loads(data) if data.strip() else None


def planned_timeout(frames: list[dict[str, Any]], timeout: float, cap: float | None) -> float:
    """The hard kill an auto plan moved to: its last deadline (at most the cap) plus the grace."""
    planned = [
        f["plan"]["deadline_s"]
        for f in frames
        if isinstance(f.get("plan"), dict) and isinstance(f["plan"].get("deadline_s"), (int, float))
    ]
    if cap is None or not planned:
        return timeout
    return max(timeout, min(float(planned[-1]), float(cap)) + KILL_GRACE_S)


def read_frames(
    fd: int,
    nonce: str,
    deadline: float,
    allowance: float = COMPILE_ALLOWANCE_S,
    pid: int | None = None,
    plan_cap: tuple[float, float] | None = None,
    arrivals: list[float] | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Frames until the child closes the pipe or exits (`pid`: a detached process the candidate forked
    holds a copy of the pipe's end and would keep it open), or False -> True at the kill deadline.
    While the child says it is compiling (`{"compiling": true}` around the candidate's import and
    first call), the kill clock stops, for at most `allowance` seconds in all. `plan_cap` (started,
    cap seconds): an auto plan; the judge's `{"plan": {"deadline_s"}}` frames move the kill to that
    deadline plus the grace, never past the cap, never before the first kill deadline. `arrivals` gets
    the monotonic time each frame came (what the child's exit costs after its report)."""
    first_deadline = deadline
    buffer = b""
    frames: list[dict[str, Any]] = []
    extended, paused_since = 0.0, None
    exited = ExitWatch(pid)
    while True:
        now = time.monotonic()
        # compiling: the clock stands still until the allowance is used up; otherwise it runs
        remaining = deadline + (allowance if paused_since is not None else extended) - now
        if remaining <= 0:
            exited.close()
            return frames, True
        ready, _, _ = select.select([fd, *exited.fds], [], [], min(remaining, exited.poll_s))
        if fd in ready:
            chunk = os.read(fd, 1 << 16)
        elif exited.done():  # the child is gone: what it wrote is in the pipe already
            chunk = drain(fd)
        else:
            continue
        if not chunk:
            break
        buffer += chunk
        if len(buffer) > FRAME_LIMIT_BYTES:
            break
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                frame = json.loads(line)
            except ValueError:
                continue
            if isinstance(frame, dict) and frame.get("nonce") == nonce:
                frames.append(frame)
                if arrivals is not None:
                    arrivals.append(time.monotonic())
                if frame.get("compiling") is True and paused_since is None:
                    paused_since = time.monotonic()
                elif frame.get("compiling") is False and paused_since is not None:
                    extended = min(allowance, extended + time.monotonic() - paused_since)
                    paused_since = None
                elif plan_cap is not None and isinstance(frame.get("plan"), dict):
                    deadline = _plan_kill(frame["plan"], plan_cap, first_deadline, deadline)
        if fd not in ready:  # drained after the child's exit: nothing more will come from it
            break
    exited.close()
    return frames, False


def _plan_kill(plan: dict[str, Any], plan_cap: tuple[float, float], first: float, current: float) -> float:
    """Where the judge's auto plan puts the kill clock (the judge is trusted: no candidate code runs in
    it, and the channel is never the candidate's; the cap bounds it all the same)."""
    seconds = plan.get("deadline_s")
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return current
    started, cap = plan_cap
    return max(first, started + min(float(seconds), cap) + KILL_GRACE_S)


class ExitWatch:
    """Whether a child has exited, without reaping it: a pidfd to select on (Linux 5.3+), else a
    waitid(WNOWAIT) poll every `poll_s`."""

    def __init__(self, pid: int | None):
        self.pid, self.fds, self.poll_s = pid, [], float("inf")
        if pid is None:
            return
        try:
            self.fds = [os.pidfd_open(pid)]
        except (AttributeError, OSError):
            self.poll_s = 0.1

    def done(self) -> bool:
        if self.pid is None:
            return False
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def drain(fd: int) -> bytes:
    """Everything in the pipe now, without waiting for an end that a stray holder may never give."""
    os.set_blocking(fd, False)
    data = b""
    try:
        while chunk := os.read(fd, 1 << 16):
            data += chunk
    except BlockingIOError:
        pass
    return data
