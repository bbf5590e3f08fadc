"""The one channel between the judge and the candidate's process: a Unix socket pair.

Frames are length-prefixed. The judge speaks pickle (the candidate's process trusts the judge); the
candidate's process answers in JSON only, one answer per request, tagged with the request's
sequence number, so that nothing it writes is ever unpickled or executed by the judge. Anything
else on the channel (a frame that does not parse, a wrong sequence number, more than one answer,
an oversized frame) is a protocol violation: the candidate's process wrote on the channel itself,
and the judge flags it (`report_forged`).
"""

from __future__ import annotations

import json
import os
import pickle
import select
import socket
import struct
import time
from typing import Any

HEADER = struct.Struct("!Q")
ANSWER_LIMIT_BYTES = 16 << 20
MAX_FDS = 4


class ChannelClosed(Exception):
    """The other side went away (it exited, crashed or was killed)."""


class ChannelTimeout(Exception):
    """No answer in time: a call that never returned."""


class ProtocolViolation(Exception):
    """Bytes on the channel that the harness's own code in the candidate's process did not write."""


class JudgeEnd:
    """The judge's end: send a request, wait for its one answer."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.seq = 0
        self.buffer = b""

    def request(self, msg: dict[str, Any], timeout_s: float, fd: int | None = None) -> dict[str, Any]:
        self.seq += 1
        data = pickle.dumps(dict(msg, seq=self.seq), protocol=pickle.HIGHEST_PROTOCOL)
        frame = HEADER.pack(len(data)) + data
        try:
            if fd is not None:
                sent = socket.send_fds(self.sock, [frame], [fd])
                frame = frame[sent:]
            self.sock.sendall(frame)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ChannelClosed(str(exc)) from exc
        return self._answer(time.monotonic() + timeout_s)

    def _answer(self, deadline: float) -> dict[str, Any]:
        while True:
            if len(self.buffer) >= HEADER.size:
                (length,) = HEADER.unpack_from(self.buffer)
                if length > ANSWER_LIMIT_BYTES:
                    raise ProtocolViolation(f"a frame of {length} bytes on the channel")
                if len(self.buffer) >= HEADER.size + length:
                    body = self.buffer[HEADER.size : HEADER.size + length]
                    self.buffer = self.buffer[HEADER.size + length :]
                    return self._parse(body)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout("no answer")
            ready, _, _ = select.select([self.sock], [], [], remaining)
            if not ready:
                raise ChannelTimeout("no answer")
            try:
                chunk = self.sock.recv(1 << 20)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise ChannelClosed("the candidate's process closed the channel")
            self.buffer += chunk

    def _parse(self, body: bytes) -> dict[str, Any]:
        try:
            answer = json.loads(body)
        except ValueError as exc:
            raise ProtocolViolation("a frame that is not the harness's JSON answer") from exc
        if not isinstance(answer, dict) or answer.get("seq") != self.seq:
            raise ProtocolViolation(
                f"an answer out of sequence (expected {self.seq}, got "
                f"{answer.get('seq') if isinstance(answer, dict) else type(answer).__name__})"
            )
        if self.buffer:
            raise ProtocolViolation("more bytes on the channel than one answer")
        return answer

    def close(self) -> None:
        self.sock.close()


class CandidateEnd:
    """The candidate process's end: read a request (with any descriptor sent along), answer it."""

    def __init__(self, fd: int):
        self.sock = socket.socket(fileno=fd)
        self.buffer = b""
        self.fds: list[int] = []

    def receive(self) -> dict[str, Any] | None:
        while True:
            if len(self.buffer) >= HEADER.size:
                (length,) = HEADER.unpack_from(self.buffer)
                if len(self.buffer) >= HEADER.size + length:
                    body = self.buffer[HEADER.size : HEADER.size + length]
                    self.buffer = self.buffer[HEADER.size + length :]
                    return pickle.loads(body)
            data, fds, _flags, _addr = socket.recv_fds(self.sock, 1 << 20, MAX_FDS)
            self.fds.extend(fds)
            if not data:
                return None
            self.buffer += data

    def take_fd(self) -> int | None:
        return self.fds.pop(0) if self.fds else None

    def answer(self, seq: int, doc: dict[str, Any]) -> None:
        data = json.dumps(dict(doc, seq=seq), default=str, allow_nan=True).encode()
        self.sock.sendall(HEADER.pack(len(data)) + data)


def socket_pair() -> tuple[socket.socket, socket.socket]:
    judge, candidate = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    judge.set_inheritable(False)
    candidate.set_inheritable(False)
    return judge, candidate


def close_other_fds(keep: set[int]) -> None:
    """In the candidate's process, right after the fork: only stdin/stdout/stderr and its own end
    of the channel stay open. The judge's result pipe and everything else of the worker's is gone."""
    try:
        names = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        names = list(range(3, 1024))
    for fd in names:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
