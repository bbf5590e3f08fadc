"""The operations both surfaces (MCP server, CLI) call: config + live targets + the local workspace.

`Bifrost` holds the shell's operations (exec, jobs, push, copy_files, targets) and `loop`, the kernel
loop's entry (loop/kernel_loop.py); each target's kind (ops/kinds.py) runs its commands and jobs.

Job ids carry their target (`gpu:20261125-093012-a1b2c3`, a `JobRef`), so `job_status(job_id)` needs
no target argument and still works after a server restart; a bare id means the default target.
Messages use the vocabulary of the surface that made the app (`Words`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path

from mcp_bifrost.arguments import check_timeout
from mcp_bifrost.config import Config
from mcp_bifrost.errors import CommandError, ConfigError, JobNotFound
from mcp_bifrost.local_paths import COPY, PUSH, confined_path, local_path
from mcp_bifrost.loop import fanout
from mcp_bifrost.loop.kernel_loop import KernelLoop
from mcp_bifrost.messages import Words, say
from mcp_bifrost.models import (
    CopyResult,
    ExecResult,
    FanoutResult,
    JobCancelResult,
    JobInfo,
    JobLogs,
    ProfileReport,
    PushResult,
    SmokeReport,
    TargetHealth,
    TargetsReport,
)
from mcp_bifrost.ops import copy_files as copy_op
from mcp_bifrost.ops import push as push_op
from mcp_bifrost.ops.execute import ExecLimits
from mcp_bifrost.ops.jobs import JobRef, JobSpec
from mcp_bifrost.ops.kinds import kind_of
from mcp_bifrost.ops.workspace import RemoteWorkspace, open_workspace, workspace_name
from mcp_bifrost.requests import CopyRequest, ExecRequest, PushRequest
from mcp_bifrost.targets.base import Target
from mcp_bifrost.targets.factory import TargetPool


class Bifrost:
    def __init__(self, config: Config, workspace: Path, *, words: Words = Words.TOOL) -> None:
        self.config = config
        self.workspace = workspace.expanduser().resolve()
        if not self.workspace.is_dir():
            raise ConfigError(
                f"the workspace {self.workspace} is not an existing folder; give the folder "
                "you work in (it is never created)"
            )
        self.words = words
        self.pool = TargetPool(config)
        self._remote: dict[str, RemoteWorkspace] = {}
        self.loop = KernelLoop(self, project=self.twin_name)
        # the kernel loop's operations, reached on the one object both surfaces hold (loop/ has them)
        self.history = self.loop.history
        self.harness = self.loop.harness
        self.run_smoke_test = self.loop.run_smoke_test
        self.run_smoke_tests = self.loop.run_smoke_tests
        self.profile_ncu = self.loop.profile_ncu
        self.history_report = self.loop.history_report
        self.history_plot = self.loop.history_plot
        self.problems = self.loop.problems

    @property
    def last_report(self) -> SmokeReport | ProfileReport | None:
        return self.loop.last_report

    def target(self, name: str | None = None) -> Target:
        return self.pool.get(name)

    async def remote_workspace(self, target: Target) -> RemoteWorkspace:
        """The target's workspace model, built on first use (one remote call) and kept."""
        if target.name not in self._remote:
            self._remote[target.name] = await open_workspace(target, self.workspace, self.config.project)
        return self._remote[target.name]

    def timeout(self, timeout_s: float | None, default: float) -> float:
        """A call's timeout, or the default; refused (one sentence) before anything starts."""
        if timeout_s is None:
            return default
        if not timeout_s > 0:
            raise CommandError(say("timeout_positive", self.words, value=timeout_s, default=default))
        check_timeout(say("timeout_name", self.words), timeout_s)
        return timeout_s

    def exec_limits(self, timeout_s: float | None, *, use_budget: bool) -> ExecLimits:
        lim = self.config.limits
        return ExecLimits(
            timeout_s=self.timeout(timeout_s, lim.default_timeout_s),
            budget_s=lim.call_budget_s if use_budget else None,
            cap_bytes=lim.output_cap_bytes,
            progress_interval_s=lim.progress_interval_s,
            grace_s=lim.kill_grace_s,
        )

    async def exec(self, request: ExecRequest) -> ExecResult:
        """Run the request's command where its target's kind runs commands; background: as a job."""
        command, timeout_s, env = request.command, request.timeout_s, request.env
        t = self.target(request.target)
        limits = self.exec_limits(timeout_s, use_budget=request.use_budget)
        job_timeout = self.timeout(timeout_s, self.config.limits.job_timeout_s)
        where = (await self.remote_workspace(t)).cwd(request.cwd)
        if request.background:
            job = JobSpec(command, where, env, job_timeout, limits.grace_s)
            job_id = await kind_of(t).submit(t, job)
            ref = JobRef(t.name, job_id)
            note = say("started_job", self.words, job=str(ref), timeout=job_timeout)
            return ExecResult.started_job(t.name, command, where, str(ref), note)
        result = await kind_of(t).run(
            t, command, where, limits, env=env, progress=request.progress, words=self.words, tee=request.tee
        )
        if result.job_id:
            ref = JobRef(t.name, result.job_id)
            result.job_id = str(ref)
            result.note = say(
                "became_job", self.words, budget=limits.budget_s, job=str(ref), timeout=limits.timeout_s
            )
        return result

    async def exec_candidates(
        self,
        commands: list[str],
        *,
        target: str | None = None,
        cwd: str | None = None,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
        progress: fanout.FanoutProgress | None = None,
    ) -> FanoutResult:
        """Run several candidate commands at once over the target's GPUs (Slurm: one job each), ranked."""
        t = self.target(target)
        where = (await self.remote_workspace(t)).cwd(cwd)
        gpus = getattr(self.config.target(target)[1], "gpus", [])
        slots = fanout.slots_for(t, gpus, len(commands), idle_gpus=await kind_of(t).idle_gpus(t))
        return await fanout.exec_candidates(
            t,
            commands,
            where,
            self.exec_limits(timeout_s, use_budget=False),
            slots,
            env=env,
            progress=progress,
        )

    def _job(self, job_id: str, target: str | None = None) -> tuple[Target, JobRef]:
        ref = JobRef.parse(job_id, target or self.config.default_target)
        if target and ref.target != target:
            raise JobNotFound(f"job {job_id} belongs to target {ref.target!r}, not {target!r}")
        if ref.target not in self.config.targets:
            raise JobNotFound(
                f"job id {job_id!r} names target {ref.target!r}, which is not configured "
                f"(configured: {', '.join(sorted(self.config.targets))})"
            )
        return self.target(ref.target), ref

    async def job_status(self, job_id: str, target: str | None = None) -> JobInfo:
        t, ref = self._job(job_id, target)
        info = await kind_of(t).job_status(t, ref.id)
        info.job_id = str(ref)
        report = await self.loop.job_report(t, info)
        if report is not None:
            info.report = report
        return info

    async def job_logs(self, job_id: str, tail_lines: int = 200, target: str | None = None) -> JobLogs:
        t, ref = self._job(job_id, target)
        logs = await kind_of(t).job_logs(t, ref.id, tail_lines, self.config.limits.output_cap_bytes)
        logs.job_id = str(ref)
        return logs

    async def job_cancel(self, job_id: str, target: str | None = None) -> JobCancelResult:
        t, ref = self._job(job_id, target)
        result = await kind_of(t).job_cancel(t, ref.id, self.config.limits.kill_grace_s)
        result.job_id = str(ref)
        return result

    async def list_jobs(self, target: str | None = None, limit: int = 20) -> list[JobInfo]:
        t = self.target(target)
        found = await kind_of(t).list_jobs(t, limit)
        for info in found:
            info.job_id = str(JobRef(t.name, info.job_id))
        return found

    async def push(self, request: PushRequest) -> PushResult:
        """Make the remote twin equal the local folder (default: the workspace).

        confined: local_dir must lie in the workspace or a configured push root (the MCP tool: an agent
        must not send /etc to a shared host); the CLI's user owns the disk and passes False."""
        local_dir = request.local_dir
        t = self.target(request.target)
        local = local_path(self.workspace, local_dir) if local_dir else self.workspace
        if request.confined and local_dir:
            local = confined_path(self.workspace, local_dir, local, self.config.limits.push_roots, PUSH)
        dest = (await self.remote_workspace(t)).push_destination(request.remote_dir, local)
        return await push_op.push(
            t,
            local,
            dest,
            delete=request.delete,
            checksum=request.checksum,
            dry_run=request.dry_run,
            limits=self.config.limits,
            progress=request.progress,
        )

    async def copy_files(self, request: CopyRequest) -> CopyResult:
        """Fetch remote files/folders (relative to the remote workspace) into a local folder.

        confined: the folder must lie in the workspace or a configured copy root (the MCP tool; a
        client reached over HTTP must not write anywhere on this machine). The CLI's user is the
        authority on their own disk and passes False."""
        local_dir = request.local_dir
        local = local_path(self.workspace, local_dir)
        if request.confined:
            local = confined_path(self.workspace, local_dir, local, self.config.limits.copy_roots, COPY)
        t = self.target(request.target)
        ws = await self.remote_workspace(t)
        resolved = [ws.transfer_path(p) for p in request.remote_paths]
        return await copy_op.copy_files(
            t,
            resolved,
            local,
            workspace_remote_dir=ws.twin,
            limits=self.config.limits,
            progress=request.progress,
        )

    async def targets(self) -> TargetsReport:
        def probe(name: str) -> Awaitable[TargetHealth]:
            t = self.target(name)
            return kind_of(t).probe(t, is_default=name == self.config.default_target)

        checks = [probe(n) for n in self.pool.names()]
        return TargetsReport(
            default_target=self.config.default_target,
            targets=list(await asyncio.gather(*checks)),
            workspace=str(self.workspace),
            twin=self.twin_name,
        )

    @property
    def twin_name(self) -> str:
        """The folder of this workspace's twin under <workdir>/workspaces on every target."""
        return workspace_name(str(self.workspace), self.config.project)

    async def close(self) -> None:
        await self.loop.close()
        await self.pool.close()
