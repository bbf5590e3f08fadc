"""The kernel loop's one entry object: smoke tests (one candidate or a fan-out), profiles, history and
problems, over the shell's targets, workspaces and push (app.py's `Bifrost`, seen through `Shell`).

A candidate enters once (`run_smoke_test` resolves it, loop/smoke.py builds the evaluation's body) and
its report comes back once; loop/evaluation.py runs the body under the GPU lock and files it as a job
past the call budget. ARCHITECTURE.md has the data path.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import secrets
import time
from pathlib import Path
from typing import Literal, Protocol

from mcp_bifrost.config import Config
from mcp_bifrost.errors import BifrostError, CommandError, PathOutsideWorkdir
from mcp_bifrost.loop import evaluation, fanout, smoke
from mcp_bifrost.loop.harness import read_job_report, run_oneshot, smoke_time
from mcp_bifrost.loop.harnesses import Harnesses
from mcp_bifrost.loop.history import History
from mcp_bifrost.loop.problems import find_problems
from mcp_bifrost.loop.profile_check import against_smoke
from mcp_bifrost.loop.reports import parse_profile
from mcp_bifrost.messages import Words
from mcp_bifrost.models import (
    FanoutSmokeReport,
    HistoryReport,
    JobInfo,
    ProblemsReport,
    ProfileReport,
    PushResult,
    SmokeReport,
)
from mcp_bifrost.ops import jobs
from mcp_bifrost.ops.jobs import JobRef
from mcp_bifrost.ops.kinds import kind_of
from mcp_bifrost.ops.remote_command import quote
from mcp_bifrost.ops.workspace import RemoteWorkspace
from mcp_bifrost.ops.workspace import workdir as remote_workdir
from mcp_bifrost.targets.base import Target

JOB_COMMANDS = ("run_smoke_test ", "profile_ncu ")  # jobs whose dir holds a report.json
Mode = Literal["test", "benchmark", "both"]


class Shell(Protocol):
    """What the loop uses of the application's shell operations (app.Bifrost)."""

    config: Config
    workspace: Path
    words: Words

    def target(self, name: str | None = None) -> Target: ...

    def timeout(self, timeout_s: float | None, default: float) -> float: ...

    async def remote_workspace(self, target: Target) -> RemoteWorkspace: ...

    async def push(self, *, target: str | None = None) -> PushResult: ...


class KernelLoop:
    def __init__(self, shell: Shell, *, project: str) -> None:
        self.shell = shell
        self.config = shell.config
        self.harnesses = Harnesses(self.config)
        self.harness = self.harnesses.get
        db = self.config.history_db
        self.history = History(Path(db).expanduser() if db else None, project=project)
        self.last_report: SmokeReport | ProfileReport | None = None

    def workspace_path(self, path: str, what: str, *, must_exist: bool) -> tuple[str, Path]:
        """(path relative to the workspace, local path). Absolute paths must lie inside the workspace."""
        workspace = self.shell.workspace
        p = Path(path).expanduser()
        if p.is_absolute():
            try:
                rel = p.resolve().relative_to(workspace).as_posix()
            except ValueError:
                raise PathOutsideWorkdir(
                    f"{what} {path!r} is outside the workspace {workspace}; give a path "
                    "relative to the workspace"
                ) from None
        else:
            rel = posixpath.normpath(p.as_posix())
            if rel == ".." or rel.startswith("../"):
                raise PathOutsideWorkdir(f"{what} {path!r} climbs out of the workspace {workspace}")
        local = workspace / rel
        if must_exist and not local.exists():
            raise CommandError(
                f"{what} {path!r} does not exist in the workspace {workspace} (paths are relative "
                "to the workspace; the `problems` tool lists the problems and their examples)"
            )
        return rel, local

    def _call(
        self,
        problem: str,
        candidate: str,
        target: str | None,
        push: bool,
        timeout_s: float | None,
        default_s: float,
    ) -> tuple[float, Target, str, tuple[str, Path]]:
        """What one evaluation is about, checked before anything starts: its timeout, target, problem and
        candidate (workspace paths; they must exist locally when the workspace is pushed first)."""
        timeout = self.shell.timeout(timeout_s, default_s)
        t = self.shell.target(target)
        prob, _ = self.workspace_path(problem, "problem", must_exist=push)
        return timeout, t, prob, self.workspace_path(candidate, "candidate", must_exist=push)

    def _limits(self, timeout_s: float, use_budget: bool) -> evaluation.EvalLimits:
        lim = self.config.limits
        return evaluation.EvalLimits(
            timeout_s=timeout_s,
            budget_s=lim.call_budget_s if use_budget else None,
            gpu_wait_s=self.config.harness.gpu_wait_s,
            progress_interval_s=lim.progress_interval_s,
        )

    async def _remember(self, report: SmokeReport | ProfileReport) -> None:
        self.last_report = report
        await asyncio.to_thread(self.history.record, report)

    # -- smoke tests -----------------------------------------------------------------------------
    async def run_smoke_test(
        self,
        problem: str,
        candidate: str,
        *,
        target: str | None = None,
        mode: Mode = "both",
        push: bool = True,
        timeout_s: float | None = None,
        progress: evaluation.Progress | None = None,
        use_budget: bool = True,
    ) -> SmokeReport:
        """Check and time `candidate` against `problem` on a target (workspace paths), and remember it."""
        started = time.monotonic()
        _, t, prob, (cand, cand_local) = self._call(
            problem, candidate, target, push, timeout_s, self.config.harness.smoke_timeout_s
        )
        limit = smoke_time(timeout_s, self.config.harness.smoke_timeout_s)
        sha = smoke.sha256(cand_local)
        pushed = push_s = None
        if push:
            pushed, push_s = (
                (await self.shell.push(target=target)).files_sent,
                round(time.monotonic() - started, 4),
            )
        ws = (await self.shell.remote_workspace(t)).twin
        h = self.harness(t)
        work = smoke.smoke_work(
            t.name,
            h,
            prob,
            cand,
            mode,
            limit,
            words=self.shell.words,
            ws=ws,
            sha=sha,
            started=started,
            pushed=pushed,
            push_s=push_s,
        )

        def failed(exc: BaseException) -> str:
            return smoke.smoke_error(t.name, prob, cand, mode, exc).model_dump_json()

        result = await evaluation.evaluate(
            h,
            self.harnesses.lock_gpu(t),
            f"smoke {prob} {cand}",
            self._limits(limit.wait_s, use_budget),
            work,
            job_command=f"run_smoke_test {prob} {cand}",
            job_cwd=ws,
            progress=progress,
            on_done=self._remember,
            on_job_report=lambda m: m.model_dump_json(),
            on_job_error=failed,
        )
        if isinstance(result, evaluation.Started):
            return smoke.smoke_running(
                str(JobRef(t.name, result.job_id)),
                self.config.limits.call_budget_s,
                prob=prob,
                cand=cand,
                sha=sha,
                target=t.name,
                mode=mode,
                pushed=pushed,
                started=started,
                limit=limit,
            )
        return result

    async def run_smoke_tests(
        self,
        problem: str,
        candidates: list[str],
        *,
        target: str | None = None,
        mode: Mode = "both",
        push: bool = True,
        timeout_s: float | None = None,
        progress: fanout.FanoutProgress | None = None,
        use_budget: bool = False,
    ) -> FanoutSmokeReport:
        """Smoke-test several candidates at once, one per free GPU of the target (loop/fanout.py), ranked.

        Each evaluation holds its GPU's lock and runs in that GPU's own warm worker; each report goes
        to history. With `use_budget` (MCP), a fan-out still running at the call budget continues as a
        job whose status carries the whole report; without (CLI), the call waits for every candidate."""
        started = time.monotonic()
        self.shell.timeout(timeout_s, self.config.harness.smoke_timeout_s)  # refused before anything starts
        t = self.shell.target(target)
        caller = [progress]  # dropped when the call returns early: nobody reads its progress any more

        async def tell(done: int, total: int, line: str) -> None:
            if caller[0] is not None:
                await caller[0](done, total, line)

        work = asyncio.ensure_future(
            self._fan_out(problem, candidates, t, mode, push, timeout_s, tell, started)
        )
        if not use_budget:
            return await work
        await asyncio.wait({work}, timeout=self.config.limits.call_budget_s)
        if work.done():
            return work.result()
        caller[0] = None
        prob = self.workspace_path(problem, "problem", must_exist=False)[0]
        ws = (await self.shell.remote_workspace(t)).twin

        def failed(exc: BaseException) -> str:
            return smoke.fanout_error(exc, prob=prob, target=t.name, started=started).model_dump_json()

        try:
            job_id = await evaluation.detach(
                t,
                work,
                f"run_smoke_test {prob} candidates={len(candidates)}",
                ws,
                on_report=lambda m: (0 if not (m.failed or m.not_run) else 1, m.model_dump_json()),
                on_error=failed,
                grace_s=self.config.limits.kill_grace_s,
            )
        except BaseException:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            raise
        return smoke.fanout_running(
            str(JobRef(t.name, job_id)),
            self.config.limits.call_budget_s,
            len(candidates),
            prob=prob,
            target=t.name,
            started=started,
        )

    async def _fan_out(
        self,
        problem: str,
        candidates: list[str],
        t: Target,
        mode: str,
        push: bool,
        timeout_s: float | None,
        progress: fanout.FanoutProgress | None,
        started: float,
    ) -> FanoutSmokeReport:
        if not candidates:
            raise CommandError("candidates is empty: give one or more candidate paths")
        prob, _ = self.workspace_path(problem, "problem", must_exist=push)
        cands = [self.workspace_path(c, "candidate", must_exist=push) for c in candidates]
        if push:
            await self.shell.push(target=t.name)
        ws = (await self.shell.remote_workspace(t)).twin
        self.shell.timeout(timeout_s, self.config.harness.smoke_timeout_s)
        limit = smoke_time(timeout_s, self.config.harness.smoke_timeout_s)
        kind = kind_of(t)
        slurm = kind.scheduler_gives_gpu  # one job per candidate; the scheduler picks each GPU
        gpus = self.config.target(t.name)[
            1
        ].gpus  # one slot per GPU; a single one keeps the target's own worker
        slots = fanout.slots_for(
            t, gpus if len(gpus) > 1 else [], len(cands), idle_gpus=await kind.idle_gpus(t)
        )
        await self.harness(t).folder()  # install once, before the workers look
        done = 0

        async def evaluate(index: str, slot: fanout.Slot) -> SmokeReport:
            cand, local = cands[int(index)]
            h = self.harness(t, slot.gpu)
            gpu = None if slurm else self.harnesses.gpu(t) if slot.gpu is None else slot.gpu
            work = smoke.smoke_work(
                t.name,
                h,
                prob,
                cand,
                mode,
                limit,
                words=self.shell.words,
                ws=ws,
                sha=smoke.sha256(local),
                started=time.monotonic(),
                gpu=gpu,
            )

            async def tick(elapsed: float, line: str) -> None:
                if progress is not None:
                    await progress(done, len(cands), f"{done}/{len(cands)} done; {cand}: {line}")

            try:  # on Slurm (gpu None) the scheduler keeps one job per GPU: no lock of ours
                result = await evaluation.evaluate(
                    h,
                    gpu,
                    f"smoke {prob} {cand}",
                    self._limits(limit.wait_s, False),
                    work,
                    job_command="",
                    job_cwd=ws,
                    progress=tick,
                    on_done=self._remember,
                    on_job_report=str,
                    on_job_error=str,
                )
            except BifrostError as exc:
                report = smoke.smoke_error(t.name, prob, cand, mode, exc)
                report.device["gpu_index"] = gpu
                await self._remember(report)
                return report
            assert not isinstance(result, evaluation.Started)  # no job_command: a slot never becomes a job
            return result

        async def finished(k: int, total: int, line: str) -> None:
            nonlocal done
            done = k
            if progress is not None:
                await progress(k, total, line)

        outcomes = await fanout.fan_out(
            [str(i) for i in range(len(cands))], evaluate, slots, score=smoke.smoke_score, progress=finished
        )
        return smoke.fanout_report(t.name, prob, len(slots), outcomes, round(time.monotonic() - started, 3))

    # -- profiles --------------------------------------------------------------------------------
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
        progress: evaluation.Progress | None = None,
        use_budget: bool = True,
    ) -> ProfileReport:
        """Nsight Compute on one NVTX-marked call of the candidate (and of `baseline`), summarised per kernel."""
        started = time.monotonic()
        timeout, t, prob, (cand, cand_local) = self._call(
            problem, candidate, target, push, timeout_s, self.config.harness.profile_timeout_s
        )
        base = None
        if baseline and baseline != "reference":
            base = self.workspace_path(baseline, "baseline", must_exist=push)[0]
        if push:
            await self.shell.push(target=target)
        ws = (await self.shell.remote_workspace(t)).twin
        out_dir = posixpath.join(
            await remote_workdir(t), "profiles", f"{jobs.new_job_id()}-{secrets.token_hex(2)}"
        )
        args = [
            f"profile {quote(posixpath.join(ws, prob))} {quote(posixpath.join(ws, cand))} --json",
            f"--out {quote(out_dir)}",
        ]
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
            doc, _ = await run_oneshot(
                t, command, timeout + 30, on_start=lambda pgid: setattr(state, "pgid", pgid)
            )
            report = parse_profile(doc, target=t.name, problem=prob, candidate=cand)
            report.candidate_sha256, report.gpu_wait_s = smoke.sha256(cand_local), state.gpu_wait_s
            await asyncio.to_thread(against_smoke, report, self.history)
            report.duration_s = round(time.monotonic() - started, 3)
            return report

        def failed(exc: BaseException) -> str:
            return smoke.profile_error_json(exc, prob=prob, cand=cand, target=t.name)

        result = await evaluation.evaluate(
            h,
            self.harnesses.lock_gpu(t),
            f"profile {prob} {cand}",
            self._limits(timeout, use_budget),
            work,
            job_command=f"profile_ncu {prob} {cand}",
            job_cwd=ws,
            progress=progress,
            on_done=self._remember,
            on_job_report=lambda m: m.model_dump_json(),
            on_job_error=failed,
        )
        if isinstance(result, evaluation.Started):
            return smoke.profile_running(
                str(JobRef(t.name, result.job_id)), prob=prob, cand=cand, target=t.name, started=started
            )
        return result

    # -- what the loop remembers -----------------------------------------------------------------
    async def job_report(
        self, target: Target, info: JobInfo
    ) -> SmokeReport | FanoutSmokeReport | ProfileReport | None:
        """The report a finished smoke test or profile job left in its folder; None for other jobs."""
        if info.state != "finished" or not info.command.startswith(JOB_COMMANDS):
            return None
        text = await read_job_report(target, info.log_dir)
        if not text:
            return None
        doc = json.loads(text)
        models: dict[str, type[SmokeReport | FanoutSmokeReport | ProfileReport]] = {
            "smoke": SmokeReport,
            "smoke_fanout": FanoutSmokeReport,
        }
        model = models.get(doc.get("kind", ""), ProfileReport)
        return model.model_validate(doc)

    async def history_report(self, problem: str, limit: int = 20) -> HistoryReport:
        prob = self.workspace_path(problem, "problem", must_exist=False)[0]
        return await asyncio.to_thread(self.history.report, prob, limit)

    async def history_plot(self, problem: str) -> bytes:
        prob = self.workspace_path(problem, "problem", must_exist=False)[0]
        return await asyncio.to_thread(self.history.plot, prob)

    async def problems(self) -> ProblemsReport:
        return await asyncio.to_thread(find_problems, self.shell.workspace)

    async def close(self) -> None:
        await self.harnesses.close()
