"""The Python API, for people who write their own agent loop: `async with GPU() as gpu: await gpu.exec(...)`.

RL and evaluation harnesses (a best-of-N search, KernelBench-style batch evaluation, a fine-tuning
loop) call Python between their own LLM calls, not an MCP client. `GPU` is the one client the MCP
tools, the CLI and such scripts share, so the three never drift: the same config file, targets and
audit log, the same pydantic models back (models.py). `GPUSync` is the same client for a plain
script or a notebook, each call blocking.

Every call made through the API is written to the audit log (a start and an end entry, surface
"api"), as the server writes its tool calls; the server drives this client with `audit=False` so
that one tool call stays one pair of entries. Arguments are checked as they enter, by the rules the
tools apply (arguments.py). ARCHITECTURE.md has the layers below.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Literal, NamedTuple, ParamSpec, TypeVar

from pydantic import BaseModel

from mcp_bifrost.app import Bifrost
from mcp_bifrost.arguments import check_arguments
from mcp_bifrost.audit import AuditLog, summary
from mcp_bifrost.config import Config, load_config
from mcp_bifrost.loop import evaluation, fanout
from mcp_bifrost.messages import Words
from mcp_bifrost.models import (
    CopyResult,
    ExecResult,
    FanoutSmokeReport,
    HistoryReport,
    JobCancelResult,
    JobInfo,
    JobLogs,
    ProblemsReport,
    ProfileReport,
    PushResult,
    SmokeReport,
    TargetsReport,
)
from mcp_bifrost.ops import push as push_op
from mcp_bifrost.ops.execute import Progress, Tee

if TYPE_CHECKING:
    from typing_extensions import Self  # (typing.Self is 3.11+; annotations here are never evaluated)

T = TypeVar("T")
P = ParamSpec("P")
Mode = Literal["test", "benchmark", "both"]
PathLike = str | os.PathLike[str]
MAX_LINE_BYTES = 64 * 1024  # a stream with no newline (a progress bar) still yields, in pieces of this size


class OutputLine(NamedTuple):
    """One line of a running command's output (without its newline), and the stream it came on."""

    stream: Literal["stdout", "stderr"]
    text: str


class GPU:
    """An async client for the configured GPU targets: `async with GPU() as gpu:`.

    config: a Config, the path of a config TOML, or None for the file the server reads ($BIFROST_CONFIG
    or the platform config dir; with no file, the one target `local`). workspace: the local folder the
    remote twin mirrors (default: the current directory). Methods take `target=` (default: the
    configured default) and return the MCP tools' models. Unlike a tool call, a call waits for its work
    to end (up to its timeout) instead of turning into a job after the call budget; pass
    `use_budget=True` for the tools' behaviour, or `background=True` to start a job at once.
    """

    def __init__(
        self,
        config: Config | PathLike | None = None,
        workspace: PathLike | None = None,
        *,
        audit: bool = True,
        words: Words = Words.TOOL,
    ) -> None:
        """audit=False: the caller audits at its own level (the MCP server does). words: the vocabulary
        of messages that name a next step (the CLI passes Words.CLI)."""
        self.config = (
            config if isinstance(config, Config) else load_config(None if config is None else Path(config))
        )
        self._app = Bifrost(
            self.config, Path(workspace if workspace is not None else os.getcwd()), words=words
        )
        self.workspace: Path = self._app.workspace
        self._audit = AuditLog(self.config.audit_log_path(), surface="api") if audit else None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections and warm harness workers this client opened."""
        await self._app.close()

    # -- the audit trail ------------------------------------------------------------------------
    async def _call(self, tool: str, target: str | None, arguments: dict[str, Any], work: Awaitable[T]) -> T:
        """Check the arguments, run `work`, and write its start and end entries (one code path for all)."""
        entry = {k: v for k, v in arguments.items() if v is not None}
        call = self._audit.start(tool, target, entry) if self._audit else ""
        started = time.monotonic()
        try:
            check_arguments({k: v for k, v in entry.items() if k != "timeout_s"})  # (the app words timeouts)
            result = await work
        except BaseException as exc:
            if isinstance(work, Coroutine):
                work.close()  # refused before it started: no "never awaited" warning
            if self._audit:
                self._audit.end(
                    call,
                    tool,
                    target,
                    {
                        "error": f"{type(exc).__name__}: {exc}"[:2000],
                        "seconds": round(time.monotonic() - started, 3),
                    },
                )
            raise
        if self._audit:
            self._audit.end(
                call,
                tool,
                target,
                {"result": _summary(result), "seconds": round(time.monotonic() - started, 3)},
            )
        return result

    def _target(self, target: str | None) -> str:
        return target or self.config.default_target

    def _job_target(self, job_id: str, target: str | None) -> str:
        return job_id.rpartition(":")[0] or self._target(target)

    # -- commands and jobs ---------------------------------------------------------------------
    async def exec(
        self,
        command: str,
        *,
        target: str | None = None,
        cwd: str | None = None,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
        background: bool = False,
        use_budget: bool = False,
        progress: Progress | None = None,
        tee: Tee | None = None,
    ) -> ExecResult:
        """Run a shell command in the workspace's twin on a target; the exit code always comes back.

        Output is kept head+tail within the config's cap. Cancelling the call (task.cancel(), Ctrl-C in
        GPUSync) kills the command's whole process group on the target. background=True starts a job
        and returns its job_id at once; use_budget=True turns a run past the call budget into a job
        (the MCP tool's behaviour). progress(elapsed_s, last_line) is called every progress interval;
        tee(stream, chunk) with each chunk of output as it arrives (exec_stream is built on it)."""
        args = {
            "command": command,
            "target": target,
            "cwd": cwd,
            "timeout_s": timeout_s,
            "env": env,
            "background": background or None,
        }
        return await self._call(
            "exec",
            self._target(target),
            args,
            self._app.exec(
                command,
                target=target,
                cwd=cwd,
                timeout_s=timeout_s,
                env=env,
                background=background,
                use_budget=use_budget,
                progress=progress,
                tee=tee,
            ),
        )

    def exec_stream(
        self,
        command: str,
        *,
        target: str | None = None,
        cwd: str | None = None,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
    ) -> ExecStream:
        """Run a command and yield its output lines as they arrive: `async for line in gpu.exec_stream(c)`.

        Lines of stdout and stderr come in the order each stream wrote them (OutputLine: stream, text);
        when they end, the stream's `result` is the ExecResult. Leaving early through `async with` (or
        aclose(), or cancelling the consumer) kills the command's process group."""

        async def run(tee: Tee) -> ExecResult:
            args = {"command": command, "target": target, "cwd": cwd, "timeout_s": timeout_s, "env": env}
            return await self._call(
                "exec_stream",
                self._target(target),
                args,
                self._app.exec(
                    command, target=target, cwd=cwd, timeout_s=timeout_s, env=env, use_budget=False, tee=tee
                ),
            )

        return ExecStream(run)

    async def job_status(self, job_id: str, *, target: str | None = None) -> JobInfo:
        """State of a detached job (its `report` carries a finished smoke test's or profile's report)."""
        return await self._call(
            "job_status",
            self._job_target(job_id, target),
            {"job_id": job_id, "target": target},
            self._app.job_status(job_id, target=target),
        )

    async def job_logs(self, job_id: str, *, tail_lines: int = 200, target: str | None = None) -> JobLogs:
        """The last lines of a job's stdout and stderr."""
        return await self._call(
            "job_logs",
            self._job_target(job_id, target),
            {"job_id": job_id, "tail_lines": tail_lines, "target": target},
            self._app.job_logs(job_id, tail_lines, target=target),
        )

    async def job_cancel(self, job_id: str, *, target: str | None = None) -> JobCancelResult:
        """Stop a job: TERM its process group, then KILL what is left; `survivors` should be 0."""
        return await self._call(
            "job_cancel",
            self._job_target(job_id, target),
            {"job_id": job_id, "target": target},
            self._app.job_cancel(job_id, target=target),
        )

    async def list_jobs(self, *, target: str | None = None, limit: int = 20) -> list[JobInfo]:
        """Recent jobs on a target, newest first."""
        return await self._call(
            "list_jobs",
            self._target(target),
            {"target": target, "limit": limit},
            self._app.list_jobs(target, limit),
        )

    # -- files ------------------------------------------------------------------------------------
    async def push(
        self,
        *,
        target: str | None = None,
        local_dir: str | None = None,
        remote_dir: str | None = None,
        delete: bool = True,
        checksum: bool = False,
        dry_run: bool = False,
        progress: push_op.Progress | None = None,
        confined: bool = True,
    ) -> PushResult:
        """Make the remote twin equal the local folder (default: the workspace); only changes travel.

        confined (default, as the MCP tool): local_dir must lie in the workspace or a configured
        push root, since a model-chosen path must not send /etc to a shared host; False lifts it."""
        args = {
            "target": target,
            "local_dir": local_dir,
            "remote_dir": remote_dir,
            "delete": delete,
            "checksum": checksum,
            "dry_run": dry_run,
        }
        return await self._call(
            "push",
            self._target(target),
            args,
            self._app.push(
                target=target,
                local_dir=local_dir,
                remote_dir=remote_dir,
                delete=delete,
                checksum=checksum,
                dry_run=dry_run,
                progress=progress,
                confined=confined,
            ),
        )

    async def copy_files(
        self,
        remote_paths: list[str],
        local_dir: str,
        *,
        target: str | None = None,
        progress: push_op.Progress | None = None,
        confined: bool = True,
    ) -> CopyResult:
        """Fetch files or folders (relative to the remote twin) into a local folder, atomically.

        confined (default, as the MCP tool): local_dir must lie in the workspace or a configured copy
        root; False lets your script write anywhere it may."""
        args = {"remote_paths": remote_paths, "local_dir": local_dir, "target": target}
        return await self._call(
            "copy_files",
            self._target(target),
            args,
            self._app.copy_files(
                remote_paths, local_dir, target=target, progress=progress, confined=confined
            ),
        )

    async def targets(self) -> TargetsReport:
        """Every configured target with its health: reachable, python, torch, CUDA, GPUs, ncu."""
        return await self._call("targets", None, {}, self._app.targets())

    # -- the kernel loop --------------------------------------------------------------------------
    async def run_smoke_test(
        self,
        problem: str,
        candidate: str,
        *,
        target: str | None = None,
        mode: Mode = "both",
        push: bool = True,
        timeout_s: float | None = None,
        use_budget: bool = False,
        progress: evaluation.Progress | None = None,
    ) -> SmokeReport:
        """Check and time a candidate (a workspace path) against a problem's reference on a target.

        Read `report.summary` first; `passed`, `speedup`, `cases`, `error` and `flags` say the rest.
        Every report is kept in the history database."""
        args = {
            "problem": problem,
            "candidate": candidate,
            "target": target,
            "mode": mode,
            "push": push,
            "timeout_s": timeout_s,
        }
        return await self._call(
            "run_smoke_test",
            self._target(target),
            args,
            self._app.loop.run_smoke_test(
                problem,
                candidate,
                target=target,
                mode=mode,
                push=push,
                timeout_s=timeout_s,
                progress=progress,
                use_budget=use_budget,
            ),
        )

    async def run_smoke_tests(
        self,
        problem: str,
        candidates: list[str],
        *,
        target: str | None = None,
        mode: Mode = "both",
        push: bool = True,
        timeout_s: float | None = None,
        use_budget: bool = False,
        progress: fanout.FanoutProgress | None = None,
    ) -> FanoutSmokeReport:
        """Smoke-test many candidates at once, one per free GPU of the target (Slurm: one job each), ranked.

        progress(done, total, line) as each one finishes."""
        args = {
            "problem": problem,
            "candidates": candidates,
            "target": target,
            "mode": mode,
            "push": push,
            "timeout_s": timeout_s,
        }
        return await self._call(
            "run_smoke_test",
            self._target(target),
            args,
            self._app.loop.run_smoke_tests(
                problem,
                candidates,
                target=target,
                mode=mode,
                push=push,
                timeout_s=timeout_s,
                progress=progress,
                use_budget=use_budget,
            ),
        )

    async def profile_ncu(
        self,
        problem: str,
        candidate: str,
        *,
        target: str | None = None,
        sections: list[str] | None = None,
        kernel_regex: str | None = None,
        launch_count: int | None = None,
        baseline: str | None = None,
        push: bool = True,
        timeout_s: float | None = None,
        use_budget: bool = False,
        progress: evaluation.Progress | None = None,
    ) -> ProfileReport:
        """Nsight Compute on one call of the candidate (and of `baseline`, e.g. "reference"), per kernel:
        what bounds it, its stalls and ncu's advice. Use it when the speedup stops growing."""
        args = {
            "problem": problem,
            "candidate": candidate,
            "target": target,
            "sections": sections,
            "kernel_regex": kernel_regex,
            "launch_count": launch_count,
            "baseline": baseline,
            "push": push,
            "timeout_s": timeout_s,
        }
        return await self._call(
            "profile_ncu",
            self._target(target),
            args,
            self._app.loop.profile_ncu(
                problem,
                candidate,
                target=target,
                sections=sections,
                kernel_regex=kernel_regex,
                launch_count=launch_count,
                baseline=baseline,
                push=push,
                timeout_s=timeout_s,
                progress=progress,
                use_budget=use_budget,
            ),
        )

    async def history(self, problem: str, *, limit: int = 20) -> HistoryReport:
        """Past smoke tests and profiles of a problem, newest first, and the best passing candidate."""
        return await self._call(
            "history",
            None,
            {"problem": problem, "limit": limit},
            self._app.loop.history_report(problem, limit),
        )

    async def history_plot(self, problem: str) -> bytes:
        """A PNG of the problem's progress: speedup per attempt and the best so far."""
        return await self._call(
            "history", None, {"problem": problem, "plot": True}, self._app.loop.history_plot(problem)
        )

    async def problems(self) -> ProblemsReport:
        """The kernel problems in the workspace, with their sizes and example candidates."""
        return await self._call("problems", None, {}, self._app.loop.problems())

    @property
    def last_report(self) -> SmokeReport | ProfileReport | None:
        """The last smoke test or profile this client produced."""
        return self._app.last_report


def _summary(result: Any) -> dict[str, Any]:
    if isinstance(result, BaseModel):
        return summary(result.model_dump(mode="json"))
    if isinstance(result, list):
        return {"count": len(result)}
    if isinstance(result, bytes):
        return {"bytes": len(result)}
    return {}


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


# -- the synchronous facade -------------------------------------------------------------------------
def _blocking(method: Callable[Concatenate[GPU, P], Awaitable[T]]) -> Callable[Concatenate[GPUSync, P], T]:
    """GPU's coroutine method as a blocking method of GPUSync (same name, arguments, docstring)."""

    def call(self: GPUSync, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._wait(lambda: method(self._gpu, *args, **kwargs))

    call.__name__ = call.__qualname__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class GPUSync:
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

    def exec_stream(
        self,
        command: str,
        *,
        target: str | None = None,
        cwd: str | None = None,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
    ) -> SyncExecStream:
        """GPU.exec_stream, as a plain iterator of OutputLine: `for line in gpu.exec_stream(c)`."""
        return SyncExecStream(
            self, self._gpu.exec_stream(command, target=target, cwd=cwd, timeout_s=timeout_s, env=env)
        )

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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def _open(config: Config | PathLike | None, workspace: PathLike | None, audit: bool) -> GPU:
    return GPU(config, workspace, audit=audit)  # built on the loop that will use it


class SyncExecStream:
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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
