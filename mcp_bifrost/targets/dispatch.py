"""The client side of the per-connection dispatcher (remote/dispatch.py holds the protocol).

Why: a call that needs a fresh ssh channel waits for sshd's session set-up and the login shell's rc
files (pyenv's or conda's ~/.bashrc: 100 ms and more), and back-to-back calls drain any pool of
pre-opened channels. One long-lived process per connection starts every command instead: a call
costs one frame each way. Each command still leads its own process group, streams stdout and
stderr separately, and takes stdin; the dispatcher kills what it started if we vanish.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shlex
import struct

from mcp_bifrost import remote
from mcp_bifrost.errors import ConnectionLost, RequestLost, TargetError
from mcp_bifrost.targets.sshlib import asyncssh

log = logging.getLogger(__name__)
HEADER = struct.Struct(">cII")
HELLO = b"bifrost-dispatch 1"
HELLO_FRAME = HEADER.pack(b"H", 0, len(HELLO)) + HELLO
RC_NOISE_LIMIT = 1 << 16
PING_EVERY_S = 10.0  # remote/dispatch.py gives up on a client silent for 30 s


class DispatchedProcess:
    """A command started by the dispatcher; implements targets.base.Process."""

    def __init__(self, link: DispatchLink, cid: int) -> None:
        self._link = link
        self._cid = cid
        self.pgid = 0
        self.started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._streams = {b"O": _Stream(), b"X": _Stream()}

    async def _read(self, kind: bytes, n: int) -> bytes:
        chunk = await self._streams[kind].read(n)
        if chunk:
            self._link.send(b"A", self._cid, struct.pack(">Q", len(chunk)))
        return chunk

    async def read_stdout(self, n: int = 65536) -> bytes:
        return await self._read(b"O", n)

    async def read_stderr(self, n: int = 65536) -> bytes:
        return await self._read(b"X", n)

    async def write_stdin(self, data: bytes) -> None:
        self._link.send(b"I", self._cid, data)
        await self._link.drain()

    async def close_stdin(self) -> None:
        with contextlib.suppress(ConnectionLost):
            self._link.send(b"E", self._cid)

    async def wait(self) -> int:
        return await asyncio.shield(self.exited)

    def detach(self) -> None:
        with contextlib.suppress(ConnectionLost):
            self._link.send(b"D", self._cid)
        self._link.forget(self._cid)

    def _end(self, error: BaseException | None = None) -> None:
        for stream in self._streams.values():
            stream.end()
        for fut in (self.started, self.exited):
            if not fut.done():
                fut.set_exception(error or ConnectionLost("the dispatcher ended"))
                fut.exception()  # retrieved: nobody may be waiting


class _Stream:
    """Bytes of one output stream, in order; b"" once it ended."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._ended = False
        self._ready = asyncio.Event()

    def put(self, data: bytes) -> None:
        self._chunks.append(data)
        self._ready.set()

    def end(self) -> None:
        self._ended = True
        self._ready.set()

    async def read(self, n: int) -> bytes:
        while not self._chunks and not self._ended:
            self._ready.clear()
            await self._ready.wait()
        if not self._chunks:
            return b""
        head = self._chunks[0]
        if len(head) <= n:
            return self._chunks.pop(0)
        self._chunks[0] = head[n:]
        return head[:n]


class DispatchLink:
    """One dispatcher on one connection: start commands, route their frames."""

    def __init__(self, proc: asyncssh.SSHClientProcess, pending: bytes = b"") -> None:
        self._proc = proc
        self._pending = pending
        self._ids = itertools.count(1)
        self._live: dict[int, DispatchedProcess] = {}
        self._closed: BaseException | None = None
        self._reader = asyncio.ensure_future(self._read_frames())
        self._pinger = asyncio.ensure_future(self._ping())

    @classmethod
    async def open(
        cls, conn: asyncssh.SSHClientConnection, python: str, timeout_s: float = 15.0
    ) -> DispatchLink:
        """Start the dispatcher with the target's python; rc-file chatter before its hello is skipped."""
        script = shlex.quote(remote.resource("dispatch.py"))
        proc = await conn.create_process(
            f"exec env -u BASH_ENV {shlex.quote(python)} -u -c {script}", encoding=None
        )
        seen = b""

        async def hello() -> None:
            nonlocal seen
            while HELLO_FRAME not in seen and len(seen) < RC_NOISE_LIMIT:
                chunk = await proc.stdout.read(4096)
                if not chunk:
                    return
                seen += chunk

        try:
            await asyncio.wait_for(hello(), timeout_s)
        except (asyncio.TimeoutError, asyncssh.Error, OSError) as exc:
            proc.close()
            raise TargetError(f"the dispatcher did not start: {exc!r}") from exc
        if HELLO_FRAME not in seen:
            err = await proc.stderr.read(2000)
            proc.close()
            raise TargetError(f"the dispatcher did not start with {python!r}: {err[-300:]!r}")
        return cls(proc, seen.split(HELLO_FRAME, 1)[1])

    @property
    def alive(self) -> bool:
        return self._closed is None and not self._proc.is_closing()

    def send(self, kind: bytes, cid: int, payload: bytes = b"") -> None:
        if self._closed is not None:
            raise ConnectionLost(f"the dispatcher's channel is gone ({self._closed})")
        try:
            self._proc.stdin.write(HEADER.pack(kind, cid, len(payload)) + payload)
        except (asyncssh.Error, OSError) as exc:
            raise ConnectionLost(f"the dispatcher's channel broke: {exc}") from exc

    async def drain(self) -> None:
        try:
            await self._proc.stdin.drain()
        except (asyncssh.Error, OSError) as exc:
            raise ConnectionLost(f"the dispatcher's channel broke: {exc}") from exc

    def forget(self, cid: int) -> None:
        proc = self._live.pop(cid, None)
        if proc is not None:
            proc._end()

    async def start(self, command: str, *, stdin: bool) -> DispatchedProcess:
        cid = next(self._ids)
        proc = self._live[cid] = DispatchedProcess(self, cid)
        try:
            self.send(b"S", cid, (b"1" if stdin else b"0") + command.encode("utf-8", "surrogateescape"))
        except ConnectionLost:
            self._live.pop(cid, None)
            raise  # never sent: safe to send again on a new connection
        await self.drain()
        try:
            proc.pgid = await proc.started
        except ConnectionLost as exc:
            if not isinstance(self._closed, EOFError):
                raise  # the connection itself broke: a new one may run it
            # The dispatcher ended on a live connection with our request in its input: the request may
            # be what ended it, or may have run. Sent again, it could end the next dispatcher too.
            raise RequestLost(
                f"the dispatcher on the target ended after it received this command ({exc}); the command "
                "was not sent again, in case it is what ended it. Check whether it ran, then run it again"
            ) from exc
        return proc

    async def _read_frames(self) -> None:
        buf = self._pending
        error: BaseException | None = None
        try:
            while True:
                while len(buf) >= HEADER.size:
                    kind, cid, n = HEADER.unpack_from(buf)
                    if len(buf) < HEADER.size + n:
                        break
                    self._route(kind, cid, buf[HEADER.size : HEADER.size + n])
                    buf = buf[HEADER.size + n :]
                chunk = await self._proc.stdout.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
        except (asyncssh.Error, OSError) as exc:
            error = exc
        self._closed = error or EOFError("the dispatcher exited")
        for proc in list(self._live.values()):
            proc._end(ConnectionLost(f"ssh connection lost while a command ran ({self._closed})"))
        self._live.clear()

    def _route(self, kind: bytes, cid: int, payload: bytes) -> None:
        proc = self._live.get(cid)
        if proc is None:
            return
        if kind == b"R":
            proc.started.set_result(int(payload))
        elif kind == b"F":
            proc.started.set_exception(
                TargetError(f"the target could not start the command: {payload.decode()}")
            )
            del self._live[cid]
        elif kind in (b"O", b"X"):
            proc._streams[kind].put(payload)
        elif kind == b"Z":
            for stream in proc._streams.values():
                stream.end()
            proc.exited.set_result(int(payload))
            del self._live[cid]

    async def _ping(self) -> None:
        with contextlib.suppress(ConnectionLost):
            while True:
                await asyncio.sleep(PING_EVERY_S)
                self.send(b"P", 0)

    def close(self) -> None:
        self._pinger.cancel()
        self._reader.cancel()
        self._proc.close()
