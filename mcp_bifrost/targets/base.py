"""The Target interface: start a shell command with piped streams, and close.

Kept as small as httpx's transport: everything built on top (timeouts, caps, kill, jobs, file
transfer as tar streams) lives in ops/ and works the same on every kind of target.
"""

from __future__ import annotations

import abc
from typing import Protocol


class Process(Protocol):
    """A running command. The command leads its own process group (`pgid`) on the target."""

    pgid: int

    async def read_stdout(self, n: int = 65536) -> bytes:
        """Up to n bytes of stdout; b"" at end of stream."""
        ...

    async def read_stderr(self, n: int = 65536) -> bytes:
        """Up to n bytes of stderr; b"" at end of stream."""
        ...

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def wait(self) -> int:
        """Exit status, shell-style: 128 + N when killed by signal N."""
        ...

    def detach(self) -> None:
        """Stop listening without killing: the command keeps running on the target."""
        ...


class Target(abc.ABC):
    """A named place where commands run. `workdir` may start with `~` (expanded by the shell there)."""

    kind: str

    def __init__(self, name: str, workdir: str, python: str = "python3") -> None:
        self.name = name
        self.workdir = workdir
        self.python = python
        self.resolved_workdir: str | None = None  # absolute path, filled in by ops.workspace

    @abc.abstractmethod
    async def start(
        self, command: str, *, stdin: bool = False, reserved: bool = False, bulk: bool = False
    ) -> Process:
        """Start `command` under a POSIX shell, in its own process group.

        stdin=False gives the command /dev/null as input. reserved=True: a short control command
        (kill, claim) that must not wait behind the calls holding the connection's channels.
        bulk=True: the command moves much data through stdin or stdout (push, copy_files).
        """

    async def close(self) -> None:  # noqa: B027  (optional: most targets hold nothing)
        """Release connections; running detached commands are not touched."""

    def describe(self) -> str:
        return f"{self.name} ({self.kind})"
