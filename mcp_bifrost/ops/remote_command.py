"""Commands of our own on a target: quoting for its shell, and a run that captures everything."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from mcp_bifrost.targets.base import Process, Target

quote = shlex.quote


def home_path(path: str) -> str:
    """Quote a path for the shell, expanding a leading `~` to $HOME on the target."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + quote(path[2:])
    return quote(path)


@dataclass
class Completed:
    """Like subprocess.CompletedProcess: everything a short internal command produced."""

    command: str
    exit_status: int
    stdout: bytes
    stderr: bytes

    def check(self, what: str) -> Completed:
        """Raise for a failure: the remote scripts' named exit codes map to their error class."""
        from mcp_bifrost.errors import CommandError, error_for_exit

        if self.exit_status != 0:
            named = error_for_exit(
                self.exit_status, f"{what} ({self.stderr.decode(errors='replace').strip()[-300:]})"
            )
            if named is not None:
                raise named
            raise CommandError(
                f"{what} failed (exit {self.exit_status}): {self.stderr.decode(errors='replace').strip()[-500:]}"
            )
        return self


class Sink(Protocol):
    def append(self, chunk: bytes, /) -> None: ...


async def drain(
    read: Callable[[], Awaitable[bytes]], sink: Sink, tee: Callable[[bytes], None] | None = None
) -> None:
    """The one pump of a remote stream: every chunk into `sink` (a list, or output_cap.HeadTail), and to
    `tee` as it comes (the CLI prints output live), until the stream ends."""
    while chunk := await read():
        sink.append(chunk)
        if tee is not None:
            tee(chunk)


async def run_capture(
    target: Target, command: str, *, input: bytes | None = None, reserved: bool = False
) -> Completed:
    """Run a short internal command to completion, collecting all output (no caps: we wrote it)."""
    proc: Process = await target.start(command, stdin=input is not None, reserved=reserved)
    out: list[bytes] = []
    err: list[bytes] = []

    async def feed() -> None:
        if input is not None:
            await proc.write_stdin(input)
            await proc.close_stdin()

    await asyncio.gather(feed(), drain(proc.read_stdout, out), drain(proc.read_stderr, err))
    status = await proc.wait()
    return Completed(command, status, b"".join(out), b"".join(err))
