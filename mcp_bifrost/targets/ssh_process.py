"""A command's process on an ssh channel, and the one place that knows asyncssh's errors.

The waiting shell (remote/waiter.sh) prints its pid on stdout after PID_MARKER and starts stderr
with STDERR_MARKER, so the rc files' chatter before them is skipped (up to RC_NOISE_LIMIT bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

from mcp_bifrost.errors import (
    AuthFailed,
    ConnectionLost,
    HostKeyUnknown,
)
from mcp_bifrost.targets.sshlib import asyncssh

PID_MARKER = b"bifrost-pid "
STDERR_MARKER = b"bifrost-stderr\n"
RC_NOISE_LIMIT = 1 << 16  # bytes of rc-file chatter skipped before the markers, at most


class SshProcess:
    def __init__(self, proc: asyncssh.SSHClientProcess, pgid: int, release: asyncio.Semaphore) -> None:
        self._proc = proc
        self.pgid = pgid
        self._release = release
        self._released = False
        self._stderr_head: bytes | None = b""

    def _free(self) -> None:
        if not self._released:
            self._released = True
            self._release.release()

    async def read_stdout(self, n: int = 65536) -> bytes:
        with translated():
            return await self._proc.stdout.read(n)

    async def read_stderr(self, n: int = 65536) -> bytes:
        with translated():
            while self._stderr_head is not None:  # drop rc-file chatter up to the waiter's marker
                chunk = await self._proc.stderr.read(n)
                head = self._stderr_head + chunk
                at = head.find(STDERR_MARKER)
                if at < 0 and chunk and len(head) < RC_NOISE_LIMIT:
                    self._stderr_head = head
                    continue
                self._stderr_head = None
                rest = head[at + len(STDERR_MARKER) :] if at >= 0 else head
                if rest or not chunk:
                    return rest
            return await self._proc.stderr.read(n)

    async def write_stdin(self, data: bytes) -> None:
        with translated():
            self._proc.stdin.write(data)
            await self._proc.stdin.drain()

    async def close_stdin(self) -> None:
        with translated(), contextlib.suppress(BrokenPipeError, OSError):
            self._proc.stdin.write_eof()

    async def wait(self) -> int:
        try:
            with translated():
                completed = await self._proc.wait()
        finally:
            self._free()
        if completed.exit_signal:
            return 128 + _signal_number(completed.exit_signal[0])
        if completed.exit_status is None:
            raise ConnectionLost("the ssh channel closed without an exit status (connection lost?)")
        return completed.exit_status

    def detach(self) -> None:
        self._proc.close()
        self._free()


def _signal_number(name: str) -> int:
    return int(getattr(signal, f"SIG{name}", 0))


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Map asyncssh's exceptions onto ours; the original stays chained as __cause__."""
    try:
        yield
    except (
        asyncssh.ConnectionLost,
        asyncssh.DisconnectError,
        asyncssh.ChannelOpenError,
        BrokenPipeError,
        ConnectionResetError,
    ) as exc:
        if isinstance(exc, asyncssh.PermissionDenied):
            raise AuthFailed(f"authentication failed: {exc}") from exc
        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            raise HostKeyUnknown(str(exc)) from exc
        raise ConnectionLost(f"ssh connection lost: {exc}") from exc
