"""ExecStream: a running command's output lines as they arrive, fed by exec's tee hook (no polling)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Literal, NamedTuple

from mcp_bifrost.models import ExecResult
from mcp_bifrost.ops.execute import Tee

if TYPE_CHECKING:
    from typing_extensions import Self  # (typing.Self is 3.11+; annotations here are never evaluated)

MAX_LINE_BYTES = 64 * 1024  # a stream with no newline (a progress bar) still yields, in pieces of this size


class OutputLine(NamedTuple):
    """One line of a running command's output (without its newline), and the stream it came on."""

    stream: Literal["stdout", "stderr"]
    text: str


class ExecStream:
    """The output lines of one running command (GPU.exec_stream), fed by exec's tee hook: no polling.

    `async for line in stream` starts the command; `result` is its ExecResult once the lines end
    (the error, if exec raised, comes out of the loop). aclose() or leaving `async with` early kills
    the command's process group (a stream merely dropped mid-run runs on until its timeout)."""

    def __init__(self, run: Callable[[Tee], Awaitable[ExecResult]]) -> None:
        self._run = run
        self._lines: asyncio.Queue[OutputLine | None] = asyncio.Queue()
        self._partial = {"stdout": b"", "stderr": b""}
        self._task: asyncio.Task[ExecResult] | None = None
        self.result: ExecResult | None = None

    def _tee(self, stream: str, chunk: bytes) -> None:
        """Called by exec's pump with each chunk: whole lines go to the queue, the rest waits."""
        pending = self._partial[stream] + chunk
        *lines, rest = pending.split(b"\n")
        while len(rest) > MAX_LINE_BYTES:
            lines.append(rest[:MAX_LINE_BYTES])
            rest = rest[MAX_LINE_BYTES:]
        self._partial[stream] = rest
        for line in lines:
            self._lines.put_nowait(OutputLine(stream, line.decode("utf-8", "replace")))  # type: ignore[arg-type]

    async def _command(self) -> ExecResult:
        try:
            self.result = await self._run(self._tee)
            return self.result
        finally:
            for stream, rest in self._partial.items():
                if rest:
                    self._lines.put_nowait(OutputLine(stream, rest.decode("utf-8", "replace")))  # type: ignore[arg-type]
            self._partial = {"stdout": b"", "stderr": b""}
            self._lines.put_nowait(None)

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._command())

    def __aiter__(self) -> AsyncIterator[OutputLine]:
        self._start()
        return self

    async def __anext__(self) -> OutputLine:
        self._start()
        assert self._task is not None
        try:
            line = await self._lines.get()
        except asyncio.CancelledError:  # the consumer was cancelled: so is the command
            await self.aclose()
            raise
        if line is None:
            self._lines.put_nowait(None)  # a second __anext__ ends too
            await self._task  # exec's error, if any
            raise StopAsyncIteration
        return line

    async def aclose(self) -> None:
        """Stop the command if it still runs (its process group is killed) and wait for that."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def __aenter__(self) -> Self:
        self._start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
