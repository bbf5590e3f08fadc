"""The operations both surfaces (MCP server, CLI) call: config + live targets + the local workspace.

Job ids carry their target (`gpu:20261125-093012-a1b2c3`, a `JobRef`), so `job_status(job_id)` needs
no target argument and still works after a server restart; a bare id means the default target.
Messages use the vocabulary of the surface that made the app (`Words`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import posixpath
import secrets
import time
from pathlib import Path
from typing import Literal

from mcp_bifrost.arguments import check_timeout
from mcp_bifrost.config import Config
from mcp_bifrost.errors import BifrostError, CommandError, ConfigError, JobNotFound, LocalPathRefused, PathOutsideWorkdir
from mcp_bifrost.history import History
from mcp_bifrost.messages import Words, reword_report, say
from mcp_bifrost.models import (
    CopyResult,
    ExecResult,
    FanoutResult,
    FanoutSmokeReport,
    HarnessFailure,
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
from mcp_bifrost.ops import copy_files as copy_op
from mcp_bifrost.ops import evaluation, fanout, gpu_lock, health, jobs, slurm_doctor, slurm_jobs, slurm_run
from mcp_bifrost.ops import push as push_op
from mcp_bifrost.ops.harness import SmokeTime, TargetHarness, planned_words, read_job_report, run_oneshot, smoke_time
from mcp_bifrost.ops.problems import find_problems
from mcp_bifrost.ops.profile_check import against_smoke
from mcp_bifrost.ops.reports import parse_profile, parse_smoke
from mcp_bifrost.ops.execute import ExecLimits, Progress, Tee, execute
from mcp_bifrost.ops.jobs import JobRef
from mcp_bifrost.ops.workspace import RemoteWorkspace, open_workspace, workspace_name
from mcp_bifrost.ops.remote_command import quote
from mcp_bifrost.ops.workspace import workdir as remote_workdir
from mcp_bifrost.targets.base import Target
from mcp_bifrost.targets.factory import TargetPool
from mcp_bifrost.targets.slurm import SlurmTarget


JOB_COMMANDS = ("run_smoke_test ", "profile_ncu ")  # jobs whose dir holds a report.json


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class Bifrost:
    def __init__(self, config: Config, workspace: Path, *, words: Words = Words.TOOL) -> None:
        self.config = config
        self.workspace = workspace.expanduser().resolve()
        if not self.workspace.is_dir():
            raise ConfigError(f"the workspace {self.workspace} is not an existing folder; give the folder "
                              "you work in (it is never created)")
        self.words = words
        self.pool = TargetPool(config)
        self._remote: dict[str, RemoteWorkspace] = {}
        self._harnesses: dict[str, TargetHarness] = {}
        self.history = History(Path(config.history_db).expanduser() if config.history_db else None,
                               project=self.twin_name)
        self.last_report: SmokeReport | ProfileReport | None = None

    def target(self, name: str | None = None) -> Target:
        return self.pool.get(name)

    async def remote_workspace(self, target: Target) -> RemoteWorkspace:
        """The target's workspace model, built on first use (one remote call) and kept."""
        if target.name not in self._remote:
            self._remote[target.name] = await open_workspace(target, self.workspace, self.config.project)
        return self._remote[target.name]

    def _timeout(self, timeout_s: float | None, default: float) -> float:
        if timeout_s is None:
            return default
        if not timeout_s > 0:
            raise CommandError(say("timeout_positive", self.words, value=timeout_s, default=default))
        check_timeout(say("timeout_name", self.words), timeout_s)
        return timeout_s

    def exec_limits(self, timeout_s: float | None, *, use_budget: bool) -> ExecLimits:
        lim = self.config.limits
        return ExecLimits(
            timeout_s=self._timeout(timeout_s, lim.default_timeout_s),
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
        tee: Tee | None = None,
    ) -> ExecResult:
        t = self.target(target)
        limits = self.exec_limits(timeout_s, use_budget=use_budget)
        job_timeout = self._timeout(timeout_s, self.config.limits.job_timeout_s)
        where = (await self.remote_workspace(t)).cwd(cwd)
        if background:
            if isinstance(t, SlurmTarget):
                job_id = await slurm_jobs.submit(t, command, where, env, job_timeout)
            else:
                job_id = await jobs.start_job(t, command, where, env, job_timeout, limits.grace_s)
            ref = JobRef(t.name, job_id)
            return ExecResult(
                target=t.name, command=command, cwd=where, exit_code=None, stdout="", stderr="",
                stdout_bytes=0, stderr_bytes=0, truncated=False, duration_s=0.0, job_id=str(ref),
                note=say("started_job", self.words, job=str(ref), timeout=job_timeout),
            )
        on_gpu = await slurm_run.compute_command(t, command, timeout_s=limits.timeout_s)
        result = await execute(t, on_gpu, where, limits, env=env, progress=progress, words=self.words, tee=tee)
        result = slurm_run.check(result)
        result.command = command
        if result.job_id:
            ref = JobRef(t.name, result.job_id)
            result.job_id = str(ref)
            result.note = say("became_job", self.words, budget=limits.budget_s, job=str(ref), timeout=limits.timeout_s)
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
        idle = await fanout.idle_gpus(t) if isinstance(t, SlurmTarget) else None
        slots = fanout.slots_for(t, gpus, len(commands), idle_gpus=idle)
        return await fanout.exec_candidates(t, commands, where, self.exec_limits(timeout_s, use_budget=False),
                                            slots, env=env, progress=progress)

    @staticmethod
    def _jobs(t: Target):
        """The module that reads and controls detached runs on this kind of target."""
        return slurm_jobs if isinstance(t, SlurmTarget) else jobs

    def _job(self, job_id: str, target: str | None = None) -> tuple[Target, JobRef]:
        ref = JobRef.parse(job_id, target or self.config.default_target)
        if target and ref.target != target:
            raise JobNotFound(f"job {job_id} belongs to target {ref.target!r}, not {target!r}")
        if ref.target not in self.config.targets:
            raise JobNotFound(f"job id {job_id!r} names target {ref.target!r}, which is not configured "
                              f"(configured: {', '.join(sorted(self.config.targets))})")
        return self.target(ref.target), ref

    async def job_status(self, job_id: str, target: str | None = None) -> JobInfo:
        t, ref = self._job(job_id, target)
        info = await self._jobs(t).job_status(t, ref.id)
        info.job_id = str(ref)
        if info.state == "finished" and info.command.startswith(JOB_COMMANDS):
            text = await read_job_report(t, info.log_dir)
            if text:
                doc = json.loads(text)
                model = {"smoke": SmokeReport, "smoke_fanout": FanoutSmokeReport}.get(doc.get("kind"), ProfileReport)
                info.report = model.model_validate(doc)
        return info

    async def job_logs(self, job_id: str, tail_lines: int = 200, target: str | None = None) -> JobLogs:
        t, ref = self._job(job_id, target)
        logs = await self._jobs(t).job_logs(t, ref.id, tail_lines, self.config.limits.output_cap_bytes)
        logs.job_id = str(ref)
        return logs

    async def job_cancel(self, job_id: str, target: str | None = None) -> JobCancelResult:
        t, ref = self._job(job_id, target)
        result = await self._jobs(t).job_cancel(t, ref.id, self.config.limits.kill_grace_s)
        result.job_id = str(ref)
        return result

    async def list_jobs(self, target: str | None = None, limit: int = 20) -> list[JobInfo]:
        t = self.target(target)
        found = await self._jobs(t).list_jobs(t, limit)
        for info in found:
            info.job_id = str(JobRef(t.name, info.job_id))
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
        progress: push_op.Progress | None = None,
        confined: bool = True,
    ) -> PushResult:
        """Make the remote twin equal the local folder (default: the workspace).

        confined: local_dir must lie in the workspace or a configured push root (the MCP tool: an agent
        must not send /etc to a shared host); the CLI's user owns the disk and passes False."""
        t = self.target(target)
        local = self._local_path(local_dir) if local_dir else self.workspace
        if confined and local_dir:
            local = self._check_local(local_dir, local, self.config.limits.push_roots, "push may not read",
                                      "push_roots")
        dest = (await self.remote_workspace(t)).push_destination(remote_dir, local)
        return await push_op.push(t, local, dest, delete=delete, checksum=checksum,
                                  dry_run=dry_run, limits=self.config.limits, progress=progress)

    async def copy_files(
        self, remote_paths: list[str], local_dir: str, *, target: str | None = None,
        progress: push_op.Progress | None = None, confined: bool = True,
    ) -> CopyResult:
        """Fetch remote files/folders (relative to the remote workspace) into a local folder.

        confined: the folder must lie in the workspace or a configured copy root (the MCP tool; a
        client reached over HTTP must not write anywhere on this machine). The CLI's user is the
        authority on their own disk and passes False."""
        local = self._local_path(local_dir)
        if confined:
            local = self._check_copy_destination(local_dir, local)
        t = self.target(target)
        ws = await self.remote_workspace(t)
        resolved = [ws.transfer_path(p) for p in remote_paths]
        return await copy_op.copy_files(t, resolved, local, workspace_remote_dir=ws.twin,
                                        limits=self.config.limits, progress=progress)

    def _local_path(self, path: str) -> Path:
        """Relative local paths are relative to the workspace, as the agent sees it."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.workspace / p

    def _check_copy_destination(self, asked: str, path: Path) -> Path:
        return self._check_local(asked, path, self.config.limits.copy_roots, "copy_files may not write to",
                                 "copy_roots")

    def _check_local(self, asked: str, path: Path, extra_roots: list[str], refused: str, key: str) -> Path:
        """A local folder inside the workspace or a configured root, '..' and symlinks resolved."""
        real = path.resolve()  # '..' and symlinks on the way count where they lead
        roots = [self.workspace, *(Path(r).expanduser().resolve() for r in extra_roots)]
        if not any(real == root or root in real.parents for root in roots):
            allowed = ", ".join(str(r) for r in roots)
            raise LocalPathRefused(
                f"{refused} {asked!r} ({real}): local_dir must lie inside the workspace or a configured "
                f"root ({allowed}). Give a folder relative to the workspace, e.g. 'results', or add the "
                f"folder to [limits] {key} in the config."
            )
        return real

    async def targets(self) -> TargetsReport:
        names = self.pool.names()
        checks = [self._probe(self.target(n), is_default=n == self.config.default_target) for n in names]
        return TargetsReport(default_target=self.config.default_target, targets=list(await asyncio.gather(*checks)),
                             workspace=str(self.workspace), twin=self.twin_name)

    @property
    def twin_name(self) -> str:
        """The folder of this workspace's twin under <workdir>/workspaces on every target."""
        return workspace_name(str(self.workspace), self.config.project)

    # -- the kernel loop: smoke tests, profiles, history, problems ------------------------------
    def harness(self, target: Target, gpu: int | None = None) -> TargetHarness:
        """The target's harness (installed once, one warm worker), created on first use. With `gpu`, the
        harness of that one GPU (its own worker, CUDA_VISIBLE_DEVICES=gpu): fan-out runs one per GPU.
        A Slurm target's runs one-shot inside srun instead."""
        if isinstance(target, SlurmTarget):  # its worker would run on the login node, which has no GPU
            return self._slurm_harness(target)
        key = target.name if gpu is None else f"{target.name}#gpu{gpu}"
        if key not in self._harnesses:
            gpus = self.config.target(target.name)[1].gpus if gpu is None else [gpu]
            env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus))} if gpus else {}
            hs = self.config.harness
            self._harnesses[key] = TargetHarness(target, env=env, use_worker=hs.worker,
                                                 ready_timeout_s=hs.ready_timeout_s)
        return self._harnesses[key]

    def _slurm_harness(self, target: SlurmTarget) -> TargetHarness:
        """A Slurm target's harness: installed in the shared workdir by the login node, run one-shot
        inside srun on a compute node (a warm worker would live on the login node, which has no GPU)."""
        key = f"{target.name}#srun"
        if key not in self._harnesses:
            async def into_srun(command: str, timeout_s: float) -> str:
                return await slurm_run.compute_command(target, command, timeout_s=timeout_s)

            self._harnesses[key] = TargetHarness(target, use_worker=False, wrap=into_srun,
                                                 oneshot_reason="one-shot in srun (Slurm compute node)")
        return self._harnesses[key]

    def _gpu(self, target: Target) -> int:
        gpus = self.config.target(target.name)[1].gpus
        return gpus[0] if gpus else 0

    def _lock_gpu(self, target: Target) -> int | None:
        """The GPU whose lock an evaluation takes; None on Slurm, where the scheduler gives the GPU."""
        return None if isinstance(target, SlurmTarget) else self._gpu(target)

    def workspace_path(self, path: str, what: str, *, must_exist: bool) -> tuple[str, Path]:
        """(path relative to the workspace, local path). Absolute paths must lie inside the workspace."""
        p = Path(path).expanduser()
        if p.is_absolute():
            try:
                rel = p.resolve().relative_to(self.workspace).as_posix()
            except ValueError:
                raise PathOutsideWorkdir(f"{what} {path!r} is outside the workspace {self.workspace}; give a path "
                                         "relative to the workspace") from None
        else:
            rel = posixpath.normpath(p.as_posix())
            if rel == ".." or rel.startswith("../"):
                raise PathOutsideWorkdir(f"{what} {path!r} climbs out of the workspace {self.workspace}")
        local = self.workspace / rel
        if must_exist and not local.exists():
            raise CommandError(f"{what} {path!r} does not exist in the workspace {self.workspace} (paths are relative "
                               "to the workspace; the `problems` tool lists the problems and their examples)")
        return rel, local

    def _limits(self, timeout_s: float, use_budget: bool) -> evaluation.EvalLimits:
        lim = self.config.limits
        return evaluation.EvalLimits(timeout_s=timeout_s, budget_s=lim.call_budget_s if use_budget else None,
                                     gpu_wait_s=self.config.harness.gpu_wait_s,
                                     progress_interval_s=lim.progress_interval_s)

    async def _remember(self, report: SmokeReport | ProfileReport) -> None:
        self.last_report = report
        await asyncio.to_thread(self.history.record, report)

    async def run_smoke_test(
        self, problem: str, candidate: str, *, target: str | None = None,
        mode: Literal["test", "benchmark", "both"] = "both", push: bool = True, timeout_s: float | None = None,
        progress: evaluation.Progress | None = None, use_budget: bool = True,
    ) -> SmokeReport:
        """Check and time `candidate` against `problem` on a target (workspace paths), and remember it."""
        started = time.monotonic()
        self._timeout(timeout_s, self.config.harness.smoke_timeout_s)  # refused before anything starts
        limit = smoke_time(timeout_s, self.config.harness.smoke_timeout_s)
        t = self.target(target)
        prob, _ = self.workspace_path(problem, "problem", must_exist=push)
        cand, cand_local = self.workspace_path(candidate, "candidate", must_exist=push)
        sha = _sha256(cand_local)
        pushed = push_s = None
        if push:
            pushed, push_s = (await self.push(target=target)).files_sent, round(time.monotonic() - started, 4)
        ws = (await self.remote_workspace(t)).twin
        h = self.harness(t)
        work = self._smoke_work(t, h, prob, cand, mode, limit, ws=ws, sha=sha, started=started,
                                pushed=pushed, push_s=push_s)

        def failed(exc: BaseException) -> str:
            return _smoke_error(t, prob, cand, mode, exc).model_dump_json()

        result = await evaluation.evaluate(
            h, self._lock_gpu(t), f"smoke {prob} {cand}", self._limits(limit.wait_s, use_budget), work,
            job_command=f"run_smoke_test {prob} {cand}", job_cwd=ws, progress=progress, on_done=self._remember,
            on_job_report=lambda m: m.model_dump_json(), on_job_error=failed)
        if isinstance(result, evaluation.Started):
            qid = str(JobRef(t.name, result.job_id))
            return SmokeReport(
                summary=f"RUNNING as job {qid}: still evaluating after the {self.config.limits.call_budget_s:g} s call "
                        "budget; poll job_status (its `report` field carries this report when it is done)"
                        + planned_words(limit),
                status="running", passed=False, job_id=qid, problem=prob, candidate=cand, candidate_sha256=sha,
                target=t.name, mode=mode, cases_passed=0, cases_total=0, runner="job", pushed_files=pushed,
                duration_s=round(time.monotonic() - started, 3))
        return result

    def _smoke_work(self, t: Target, h: TargetHarness, prob: str, cand: str, mode: str, limit: SmokeTime, *,
                    ws: str, sha: str | None, started: float, pushed: int | None = None,
                    push_s: float | None = None, gpu: int | None = None) -> evaluation.Run[SmokeReport]:
        """The body of one smoke evaluation (run under the GPU lock by evaluation.evaluate)."""
        rp, rc = posixpath.join(ws, prob), posixpath.join(ws, cand)

        async def work(state: evaluation.EvalState) -> SmokeReport:
            outcome = await h.evaluate(
                {"op": "smoke", "problem": rp, "candidate": rc, "mode": mode, **limit.fields},
                f"smoke {quote(rp)} {quote(rc)} --mode {mode} --json {limit.args}", limit.wait_s,
                on_start=lambda pgid: setattr(state, "pgid", pgid), may_retry=lambda: not state.detached)
            report = parse_smoke(outcome.doc, target=t.name, problem=prob, candidate=cand, runner=outcome.runner)
            reword_report(report, self.words)
            report.candidate_sha256, report.pushed_files, report.gpu_wait_s = sha, pushed, state.gpu_wait_s
            report.push_s = push_s
            if gpu is not None:  # which GPU of the target it ran on (CUDA_VISIBLE_DEVICES=gpu)
                report.device["gpu_index"] = gpu
            report.duration_s = round(time.monotonic() - started, 3)
            return report

        return work

    async def run_smoke_tests(
        self, problem: str, candidates: list[str], *, target: str | None = None,
        mode: Literal["test", "benchmark", "both"] = "both", push: bool = True, timeout_s: float | None = None,
        progress: fanout.FanoutProgress | None = None, use_budget: bool = False,
    ) -> FanoutSmokeReport:
        """Smoke-test several candidates at once, one per free GPU of the target (ops/fanout.py), ranked.

        Each evaluation holds its GPU's lock and runs in that GPU's own warm worker; each report goes
        to history. With `use_budget` (MCP), a fan-out still running at the call budget continues as a
        job whose status carries the whole report; without (CLI), the call waits for every candidate."""
        started = time.monotonic()
        self._timeout(timeout_s, self.config.harness.smoke_timeout_s)  # refused before anything starts
        t = self.target(target)
        caller = [progress]  # dropped when the call returns early: nobody reads its progress any more

        async def tell(done: int, total: int, line: str) -> None:
            if caller[0] is not None:
                await caller[0](done, total, line)

        work = asyncio.ensure_future(self._fan_out(problem, candidates, t, mode, push, timeout_s, tell, started))
        if not use_budget:
            return await work
        await asyncio.wait({work}, timeout=self.config.limits.call_budget_s)
        if work.done():
            return work.result()
        caller[0] = None
        prob = self.workspace_path(problem, "problem", must_exist=False)[0]
        ws = (await self.remote_workspace(t)).twin

        def failed(exc: BaseException) -> str:
            return FanoutSmokeReport(summary=f"ERROR: {exc}", problem=prob, target=t.name, slots=0,
                                     duration_s=round(time.monotonic() - started, 3), ranking=[],
                                     failed=[f"(the fan-out): {exc}"], gpus=[], reports=[]).model_dump_json()

        try:
            job_id = await evaluation.detach(
                t, work, f"run_smoke_test {prob} candidates={len(candidates)}", ws,
                on_report=lambda m: (0 if not (m.failed or m.not_run) else 1, m.model_dump_json()), on_error=failed,
                grace_s=self.config.limits.kill_grace_s)
        except BaseException:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            raise
        qid = str(JobRef(t.name, job_id))
        return FanoutSmokeReport(
            summary=f"RUNNING as job {qid}: {len(candidates)} candidates still evaluating after the "
                    f"{self.config.limits.call_budget_s:g} s call budget; poll job_status (its `report` field "
                    "carries the ranked fan-out report when every candidate is done)",
            status="running", job_id=qid, problem=prob, target=t.name, slots=0,
            duration_s=round(time.monotonic() - started, 3), ranking=[], gpus=[], reports=[])

    async def _fan_out(self, problem: str, candidates: list[str], t: Target, mode: str, push: bool,
                       timeout_s: float | None, progress: fanout.FanoutProgress | None,
                       started: float) -> FanoutSmokeReport:
        if not candidates:
            raise CommandError("candidates is empty: give one or more candidate paths")
        prob, _ = self.workspace_path(problem, "problem", must_exist=push)
        cands = [self.workspace_path(c, "candidate", must_exist=push) for c in candidates]
        if push:
            await self.push(target=t.name)
        ws = (await self.remote_workspace(t)).twin
        self._timeout(timeout_s, self.config.harness.smoke_timeout_s)
        limit = smoke_time(timeout_s, self.config.harness.smoke_timeout_s)
        slurm = isinstance(t, SlurmTarget)
        if slurm:  # one srun step per candidate; Slurm picks each GPU
            slots = fanout.slots_for(t, [], len(cands), idle_gpus=await fanout.idle_gpus(t))
        else:  # one per GPU; a single configured GPU keeps the target's own worker
            gpus = self.config.target(t.name)[1].gpus
            slots = fanout.slots_for(t, gpus if len(gpus) > 1 else [], len(cands))
        await self.harness(t).folder()  # install once, before the workers look
        done = 0

        async def evaluate(index: str, slot: fanout.Slot) -> SmokeReport:
            cand, local = cands[int(index)]
            h = self.harness(t, slot.gpu)
            gpu = None if slurm else self._gpu(t) if slot.gpu is None else slot.gpu
            work = self._smoke_work(t, h, prob, cand, mode, limit, ws=ws, sha=_sha256(local),
                                    started=time.monotonic(), gpu=gpu)

            async def tick(elapsed: float, line: str) -> None:
                if progress is not None:
                    await progress(done, len(cands), f"{done}/{len(cands)} done; {cand}: {line}")

            try:  # on Slurm (gpu None) the scheduler keeps one job per GPU: no lock of ours
                return await evaluation.evaluate(
                    h, gpu, f"smoke {prob} {cand}", self._limits(limit.wait_s, False), work, job_command="",
                    job_cwd=ws, progress=tick, on_done=self._remember, on_job_report=str, on_job_error=str)
            except BifrostError as exc:
                report = _smoke_error(t, prob, cand, mode, exc)
                report.device["gpu_index"] = gpu
                await self._remember(report)
                return report

        async def finished(k: int, total: int, line: str) -> None:
            nonlocal done
            done = k
            if progress is not None:
                await progress(k, total, line)

        outcomes = await fanout.fan_out([str(i) for i in range(len(cands))], evaluate, slots,
                                        score=_smoke_score, progress=finished)
        return _fanout_smoke_report(t.name, prob, len(slots), outcomes, round(time.monotonic() - started, 3))

    async def profile_ncu(
        self, problem: str, candidate: str, *, target: str | None = None, sections: list[str] | None = None,
        kernel_regex: str | None = None, launch_count: int | None = None, baseline: str | None = None,
        push: bool = True, timeout_s: float | None = None, progress: evaluation.Progress | None = None,
        use_budget: bool = True,
    ) -> ProfileReport:
        """Nsight Compute on one NVTX-marked call of the candidate (and of `baseline`), summarised per kernel."""
        started = time.monotonic()
        timeout = self._timeout(timeout_s, self.config.harness.profile_timeout_s)  # before anything starts
        t = self.target(target)
        prob, _ = self.workspace_path(problem, "problem", must_exist=push)
        cand, cand_local = self.workspace_path(candidate, "candidate", must_exist=push)
        base = None
        if baseline and baseline != "reference":
            base = self.workspace_path(baseline, "baseline", must_exist=push)[0]
        if push:
            await self.push(target=target)
        ws = (await self.remote_workspace(t)).twin
        out_dir = posixpath.join(await remote_workdir(t), "profiles", f"{jobs.new_job_id()}-{secrets.token_hex(2)}")
        args = [f"profile {quote(posixpath.join(ws, prob))} {quote(posixpath.join(ws, cand))} --json",
                f"--out {quote(out_dir)}"]
        if launch_count is not None:
            args.append(f"--launch-count {int(launch_count)}")
        if baseline:
            args.append(f"--baseline {quote('reference' if base is None else posixpath.join(ws, base))}")
        if sections:
            args.append(f"--sections {quote(','.join(sections))}")
        if kernel_regex:
            args.append(f"--kernel-regex {quote(kernel_regex)}")
        args.append(f"--timeout {timeout:g}")
        h = self.harness(t)  # on Slurm: one-shot inside srun, on a compute node

        async def work(state: evaluation.EvalState) -> ProfileReport:
            command = await h.oneshot_command(await h.folder(), " ".join(args), timeout + 30)
            doc, _ = await run_oneshot(t, command, timeout + 30, on_start=lambda pgid: setattr(state, "pgid", pgid))
            report = parse_profile(doc, target=t.name, problem=prob, candidate=cand)
            report.candidate_sha256, report.gpu_wait_s = _sha256(cand_local), state.gpu_wait_s
            await asyncio.to_thread(against_smoke, report, self.history)
            report.duration_s = round(time.monotonic() - started, 3)
            return report

        def failed(exc: BaseException) -> str:
            return json.dumps({"kind": "profile", "summary": f"ERROR: {exc}", "problem": prob, "candidate": cand,
                               "target": t.name, "candidate_profile": None})

        result = await evaluation.evaluate(
            h, self._lock_gpu(t), f"profile {prob} {cand}", self._limits(timeout, use_budget), work,
            job_command=f"profile_ncu {prob} {cand}", job_cwd=ws, progress=progress, on_done=self._remember,
            on_job_report=lambda m: m.model_dump_json(), on_job_error=failed)
        if isinstance(result, evaluation.Started):
            qid = str(JobRef(t.name, result.job_id))
            return ProfileReport(summary=f"RUNNING as job {qid}: still profiling after the call budget; poll "
                                         "job_status (its `report` field carries the profile when it is done)",
                                 problem=prob, candidate=cand, target=t.name, job_id=qid, candidate_profile=None,
                                 duration_s=round(time.monotonic() - started, 3))
        return result

    async def history_report(self, problem: str, limit: int = 20) -> HistoryReport:
        prob = self.workspace_path(problem, "problem", must_exist=False)[0]
        return await asyncio.to_thread(self.history.report, prob, limit)

    async def history_plot(self, problem: str) -> bytes:
        prob = self.workspace_path(problem, "problem", must_exist=False)[0]
        return await asyncio.to_thread(self.history.plot, prob)

    async def problems(self) -> ProblemsReport:
        return await asyncio.to_thread(find_problems, self.workspace)

    @staticmethod
    def _probe(t: Target, *, is_default: bool):
        if isinstance(t, SlurmTarget):  # the login node, the partitions, and a check job on a compute node
            return slurm_doctor.probe(t, is_default=is_default)
        return health.probe(t, is_default=is_default)

    async def close(self) -> None:
        for h in self._harnesses.values():
            await h.close()
        await gpu_lock.finish_reaping()
        await self.pool.close()


def _smoke_error(t: Target, prob: str, cand: str, mode: str, exc: BaseException) -> SmokeReport:
    """The report of an evaluation that ended in an error before the harness could answer."""
    return SmokeReport(summary=f"ERROR: {exc}", status="error", passed=False, problem=prob, candidate=cand,
                       target=t.name, mode=mode, cases_passed=0, cases_total=0, runner="job",
                       error=HarnessFailure(stage="run", kind="internal_error", message=str(exc)))


def _smoke_score(report: SmokeReport) -> float | None:
    """Rank passing candidates by speedup (higher is better); an untimed pass (mode=test) ranks last."""
    if not report.passed:
        return None
    return -(report.speedup or 0.0)  # fanout.rank sorts lowest first


def _fanout_smoke_report(target: str, prob: str, slots: int, outcomes: list, wall: float) -> FanoutSmokeReport:
    reports: list[SmokeReport] = [o.result for o in outcomes]
    order = fanout.rank(outcomes)
    ranking = [reports[i].candidate for i in order]
    failed = [f"{r.candidate}: {r.summary}" for r in reports if not r.passed and r.status != "not_run"]
    not_run = [f"{r.candidate}: {r.summary}" for r in reports if r.status == "not_run"]
    gpus = [r.device.get("gpu_index") for r in reports]
    where = fanout.where_text(slots, [r.device for r in reports])
    if order:
        best = reports[order[0]]
        best_text = f"best {posixpath.basename(best.candidate)}" + (f" {best.speedup:.2f}x" if best.speedup else "")
    else:
        best_text = "no candidate passed"
    summary = (f"{len(reports)} candidate{'s' if len(reports) != 1 else ''} on {where} in {wall:.1f} s: {best_text}; "
               + fanout.count_text(sum(r.passed for r in reports), len(failed), len(not_run)))
    return FanoutSmokeReport(summary=summary, problem=prob, target=target, slots=slots, duration_s=wall,
                             ranking=ranking, failed=failed, not_run=not_run, gpus=gpus, reports=reports)
