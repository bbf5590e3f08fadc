"""GPUSync, the blocking facade of GPU for plain scripts and notebooks, and its SyncExecStream."""

from __future__ import annotations

import asyncio
import inspect
import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from mcp_bifrost.api.audited import PathLike
from mcp_bifrost.api.client import GPU
from mcp_bifrost.api.stream import ExecStream, OutputLine
from mcp_bifrost.config import Config
from mcp_bifrost.models import ExecResult, ProfileReport, SmokeReport

if TYPE_CHECKING:
    from typing_extensions import Self  # (typing.Self is 3.11+; annotations here are never evaluated)

T = TypeVar("T")
C = TypeVar("C", bound=Callable[..., object])
P = ParamSpec("P")


def _blocking(method: Callable[Concatenate[GPU, P], Awaitable[T]]) -> Callable[Concatenate[GPUSync, P], T]:
    """GPU's coroutine method as a blocking method of GPUSync (same name, arguments, docstring)."""

    def call(self: GPUSync, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._wait(lambda: method(self._gpu, *args, **kwargs))

    return _twin_of(method, call, method.__doc__)


def _iterating(
    method: Callable[Concatenate[GPU, P], ExecStream],
) -> Callable[Concatenate[GPUSync, P], SyncExecStream]:
    """GPU's streaming method as GPUSync's (same name and arguments): its lines as a plain iterator."""

    def lines(self: GPUSync, *args: P.args, **kwargs: P.kwargs) -> SyncExecStream:
        return SyncExecStream(self, method(self._gpu, *args, **kwargs))

    name = method.__name__
    doc = f"GPU.{name}, as a plain iterator of OutputLine: `for line in gpu.{name}(c)`."
    return _twin_of(method, lines, doc, returns="SyncExecStream")


def _twin_of(method: Callable[..., object], twin: C, doc: str | None, returns: str | None = None) -> C:
    """`twin` named as GPU's `method`, with its docstring and, for help() and IDEs, its signature (the
    return type `returns` where the twin's differs)."""
    twin.__name__ = twin.__qualname__ = method.__name__
    twin.__doc__ = doc
    signature = inspect.signature(method)
    if returns is not None:
        signature = signature.replace(return_annotation=returns)
    twin.__signature__ = signature  # type: ignore[attr-defined]  # (inspect reads it)
    return twin


class _ClosedOnExit(ABC):
    """`with x:` closes x on the way out."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class GPUSync(_ClosedOnExit):
    """GPU for plain scripts and notebooks: the same methods, each blocking until its result.

    It runs its own event loop in one background thread, so it works from a script and from inside
    a running event loop (Jupyter) alike. Ctrl-C during a call cancels it (a command's process group
    on the target is killed). Use `with GPUSync() as gpu:` or call close()."""

    KILL_WAIT_S = 30.0  # after Ctrl-C, how long we wait for the target to confirm the kill

    def __init__(
        self,
        config: Config | PathLike | None = None,
        workspace: PathLike | None = None,
        *,
        audit: bool = True,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-bifrost-api", daemon=True)
        self._thread.start()
        self._closed = False
        try:
            self._gpu: GPU = self._wait(lambda: _open(config, workspace, audit))
        except BaseException:
            self._stop_loop()
            raise

    def _wait(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run one coroutine on our loop and block until it ends; if we are interrupted, cancel it and
        wait for its clean-up (the remote kill) before passing the interruption on."""
        if self._closed:
            raise RuntimeError("this GPUSync is closed; make a new one")
        if threading.current_thread() is self._thread:
            raise RuntimeError(
                "GPUSync was called from its own event loop thread; await the GPU client "
                "(gpu._gpu) there instead"
            )
        ended = threading.Event()

        async def run() -> T:
            try:
                return await make()
            finally:
                ended.set()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result()
        except BaseException:
            if not future.done():
                future.cancel()
                ended.wait(self.KILL_WAIT_S)
            raise

    exec = _blocking(GPU.exec)
    job_status = _blocking(GPU.job_status)
    job_logs = _blocking(GPU.job_logs)
    job_cancel = _blocking(GPU.job_cancel)
    list_jobs = _blocking(GPU.list_jobs)
    push = _blocking(GPU.push)
    copy_files = _blocking(GPU.copy_files)
    targets = _blocking(GPU.targets)
    run_smoke_test = _blocking(GPU.run_smoke_test)
    run_smoke_tests = _blocking(GPU.run_smoke_tests)
    profile_ncu = _blocking(GPU.profile_ncu)
    history = _blocking(GPU.history)
    history_plot = _blocking(GPU.history_plot)
    problems = _blocking(GPU.problems)

    exec_stream = _iterating(GPU.exec_stream)

    @property
    def config(self) -> Config:
        return self._gpu.config

    @property
    def workspace(self) -> Path:
        return self._gpu.workspace

    @property
    def last_report(self) -> SmokeReport | ProfileReport | None:
        return self._gpu.last_report

    def close(self) -> None:
        """Close the client (connections, warm workers) and stop the background thread."""
        if self._closed:
            return
        try:
            self._wait(self._gpu.close)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _open(config: Config | PathLike | None, workspace: PathLike | None, audit: bool) -> GPU:
    return GPU(config, workspace, audit=audit)  # built on the loop that will use it


class SyncExecStream(_ClosedOnExit):
    """GPUSync.exec_stream: each next() blocks for the next line; `result` once they end; close() kills."""

    def __init__(self, owner: GPUSync, stream: ExecStream) -> None:
        self._owner = owner
        self._stream = stream

    @property
    def result(self) -> ExecResult | None:
        return self._stream.result

    def __iter__(self) -> Iterator[OutputLine]:
        return self

    def __next__(self) -> OutputLine:
        try:
            return self._owner._wait(self._stream.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        self._owner._wait(self._stream.aclose)

    def __del__(self) -> None:
        task = self._stream._task  # (the task holds the ExecStream, not this wrapper, so this one dies)
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.get_loop().call_soon_threadsafe(task.cancel)  # abandoned mid-run: do not leave it running
