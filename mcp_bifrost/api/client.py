"""GPU, the async client: the shell's calls (exec, exec_stream, jobs, push, copy_files, targets).

The kernel loop's calls come from KernelLoopCalls (loop_calls.py), the audit trail from
AuditedClient (audited.py).
"""

from __future__ import annotations

from mcp_bifrost.api.audited import own_arguments
from mcp_bifrost.api.loop_calls import KernelLoopCalls
from mcp_bifrost.api.stream import ExecStream
from mcp_bifrost.models import (
    CopyResult,
    ExecResult,
    JobCancelResult,
    JobInfo,
    JobLogs,
    PushResult,
    TargetsReport,
)
from mcp_bifrost.ops import push as push_op
from mcp_bifrost.ops.execute import Progress, Tee
from mcp_bifrost.requests import CopyRequest, ExecRequest, PushRequest


class GPU(KernelLoopCalls):
    """An async client for the configured GPU targets: `async with GPU() as gpu:`.

    config: a Config, the path of a config TOML, or None for the file the server reads ($BIFROST_CONFIG
    or the platform config dir; with no file, the one target `local`). workspace: the local folder the
    remote twin mirrors (default: the current directory). Methods take `target=` (default: the
    configured default) and return the MCP tools' models. Unlike a tool call, a call waits for its work
    to end (up to its timeout) instead of turning into a job after the call budget; pass
    `use_budget=True` for the tools' behaviour, or `background=True` to start a job at once.
    """

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
        request = ExecRequest(**own_arguments(locals()))
        return await self._request("exec", request, self._app.exec(request))

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
        asked = own_arguments(locals())

        async def run(tee: Tee) -> ExecResult:
            request = ExecRequest(**asked, use_budget=False, tee=tee)
            return await self._request("exec_stream", request, self._app.exec(request))

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
        request = PushRequest(**own_arguments(locals()))
        return await self._request("push", request, self._app.push(request))

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
        request = CopyRequest(**own_arguments(locals()))
        return await self._request("copy_files", request, self._app.copy_files(request))

    async def targets(self) -> TargetsReport:
        """Every configured target with its health: reachable, python, torch, CUDA, GPUs, ncu."""
        return await self._call("targets", None, {}, self._app.targets())
