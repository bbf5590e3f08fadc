"""The operations both surfaces (MCP server, CLI) call: config + live targets + the local workspace.

Job ids carry their target (`gpu:20261125-093012-a1b2c3`), so `job_status(job_id)` needs no target
argument and still works after a server restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mcp_bifrost.config import Config
from mcp_bifrost.errors import JobNotFound
from mcp_bifrost.models import (
    CopyResult,
    ExecResult,
    JobCancelResult,
    JobInfo,
    JobLogs,
    PushResult,
    TargetsReport,
)
from mcp_bifrost.ops import health, jobs, sync
from mcp_bifrost.ops.execute import ExecLimits, Progress, execute
from mcp_bifrost.ops.shell import home_path, run_capture
from mcp_bifrost.ops.workspace import resolve_cwd, workspace_dir, workspace_name
from mcp_bifrost.targets.base import Target
from mcp_bifrost.targets.factory import TargetPool


def qualified_job_id(target: Target, job_id: str) -> str:
    return f"{target.name}:{job_id}"


class Bifrost:
    def __init__(self, config: Config, workspace: Path) -> None:
        self.config = config
        self.workspace = workspace.expanduser().resolve()
        self.pool = TargetPool(config)
        self._remote_workspaces: dict[str, str] = {}

    def target(self, name: str | None = None) -> Target:
        return self.pool.get(name)

    async def remote_workspace(self, target: Target) -> str:
        """`<workdir>/workspaces/<name of the local workspace>`, created on first use."""
        if target.name not in self._remote_workspaces:
            path = await workspace_dir(target, workspace_name(str(self.workspace)))
            (await run_capture(target, f"mkdir -p {home_path(path)}")).check(f"creating {path}")
            self._remote_workspaces[target.name] = path
        return self._remote_workspaces[target.name]

    def exec_limits(self, timeout_s: float | None, *, use_budget: bool) -> ExecLimits:
        lim = self.config.limits
        return ExecLimits(
            timeout_s=timeout_s or lim.default_timeout_s,
            budget_s=lim.call_budget_s if use_budget else None,
            cap_bytes=lim.output_cap_bytes,
            progress_interval_s=lim.progress_interval_s,
            grace_s=lim.kill_grace_s,
        )

    async def exec(
        self,
        command: str,
        *,
        target: str | None = None,
        cwd: str | None = None,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
        background: bool = False,
        use_budget: bool = True,
        progress: Progress | None = None,
    ) -> ExecResult:
        t = self.target(target)
        where = await resolve_cwd(t, await self.remote_workspace(t), cwd)
        limits = self.exec_limits(timeout_s, use_budget=use_budget)
        if background:
            job_timeout = timeout_s or self.config.limits.job_timeout_s
            job_id = await jobs.start_job(t, command, where, env, job_timeout, limits.grace_s)
            qid = qualified_job_id(t, job_id)
            return ExecResult(
                target=t.name, command=command, cwd=where, exit_code=None, stdout="", stderr="",
                stdout_bytes=0, stderr_bytes=0, truncated=False, duration_s=0.0, job_id=qid,
                note=f"started as job {qid} (timeout {job_timeout:g} s); poll job_status / job_logs, or job_cancel it",
            )
        result = await execute(t, command, where, limits, env=env, progress=progress)
        if result.job_id:
            qid = qualified_job_id(t, result.job_id)
            result.note = (result.note or "").replace(result.job_id, qid)
            result.job_id = qid
        return result

    def _job(self, job_id: str) -> tuple[Target, str]:
        name, sep, bare = job_id.rpartition(":")
        if not sep:
            name, bare = self.config.default_target, job_id
        if name not in self.config.targets:
            raise JobNotFound(f"job id {job_id!r} names target {name!r}, which is not configured")
        return self.target(name), bare

    async def job_status(self, job_id: str) -> JobInfo:
        t, bare = self._job(job_id)
        info = await jobs.job_status(t, bare)
        info.job_id = job_id
        return info

    async def job_logs(self, job_id: str, tail_lines: int = 200) -> JobLogs:
        t, bare = self._job(job_id)
        logs = await jobs.job_logs(t, bare, tail_lines, self.config.limits.output_cap_bytes)
        logs.job_id = job_id
        return logs

    async def job_cancel(self, job_id: str) -> JobCancelResult:
        t, bare = self._job(job_id)
        result = await jobs.job_cancel(t, bare, self.config.limits.kill_grace_s)
        result.job_id = job_id
        return result

    async def list_jobs(self, target: str | None = None, limit: int = 20) -> list[JobInfo]:
        t = self.target(target)
        found = await jobs.list_jobs(t, limit)
        for info in found:
            info.job_id = qualified_job_id(t, info.job_id)
        return found

    async def push(
        self,
        *,
        target: str | None = None,
        local_dir: str | None = None,
        remote_dir: str | None = None,
        delete: bool = True,
        checksum: bool = False,
        dry_run: bool = False,
        progress: sync.Progress | None = None,
    ) -> PushResult:
        """Make the remote twin equal the local folder (default: the workspace)."""
        local = self._local_path(local_dir) if local_dir else self.workspace
        return await sync.push(self.target(target), local, remote_dir, delete=delete, checksum=checksum,
                               dry_run=dry_run, limits=self.config.limits, progress=progress)

    async def copy_files(
        self, remote_paths: list[str], local_dir: str, *, target: str | None = None,
        progress: sync.Progress | None = None,
    ) -> CopyResult:
        """Fetch remote files/folders (relative to the remote workspace) into a local folder."""
        t = self.target(target)
        return await sync.copy_files(t, remote_paths, self._local_path(local_dir),
                                     workspace_remote_dir=await self.remote_workspace(t),
                                     limits=self.config.limits, progress=progress)

    def _local_path(self, path: str) -> Path:
        """Relative local paths are relative to the workspace, as the agent sees it."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.workspace / p

    async def targets(self) -> TargetsReport:
        names = self.pool.names()
        checks = [health.probe(self.target(n), is_default=n == self.config.default_target) for n in names]
        return TargetsReport(default_target=self.config.default_target, targets=list(await asyncio.gather(*checks)))

    async def close(self) -> None:
        await self.pool.close()
