"""The `local` target: subprocesses on this machine, each leading a new session/process group."""

from __future__ import annotations

import asyncio

from mcp_bifrost.errors import TargetError
from mcp_bifrost.targets.base import Process, Target


class LocalProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self.pgid = proc.pid
        # A command that ends while our writes to its stdin are buffered closes that pipe with a
        # BrokenPipeError; unless someone waits for the close, asyncio reports it as "never retrieved".
        # Writers already get their own error (write_stdin raises), so this one is collected here.
        self._stdin_closed = None
        if proc.stdin is not None:
            self._stdin_closed = asyncio.ensure_future(proc.stdin.wait_closed())
            self._stdin_closed.add_done_callback(_retrieve)

    async def read_stdout(self, n: int = 65536) -> bytes:
        assert self._proc.stdout is not None
        return await self._proc.stdout.read(n)

    async def read_stderr(self, n: int = 65536) -> bytes:
        assert self._proc.stderr is not None
        return await self._proc.stderr.read(n)

    async def write_stdin(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)
        await self._proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
            try:
                await self._proc.stdin.wait_closed()
            except (BrokenPipeError, ConnectionResetError):
                pass

    async def wait(self) -> int:
        code = await self._proc.wait()
        return 128 - code if code < 0 else code

    def detach(self) -> None:
        """Close our ends of the pipes: writers get EPIPE instead of blocking on a full pipe.
        Stdin is aborted, not closed: a close flushes what is still buffered into a command that has
        stopped reading, and that write's BrokenPipeError lands in the loop's exception handler."""
        transport = self._proc._transport  # type: ignore[attr-defined]  # asyncio keeps the pipe transports here
        for fd in (0, 1, 2):
            pipe = transport.get_pipe_transport(fd)
            if pipe is None:
                continue
            if fd == 0 and not pipe.is_closing():
                pipe.abort()
            else:
                pipe.close()


def _retrieve(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()


class LocalTarget(Target):
    kind = "local"

    async def start(
        self, command: str, *, stdin: bool = False, reserved: bool = False, bulk: bool = False
    ) -> Process:
        try:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                command,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except ValueError as exc:  # "embedded null byte": no command line can carry one
            raise TargetError(
                f"{self.describe()}: the target could not start the command: it contains a NUL "
                "byte, which no command line can carry: remove it"
            ) from exc
        except OSError as exc:
            raise TargetError(f"{self.describe()}: the target could not start the command: {exc}") from exc
        return LocalProcess(proc)
