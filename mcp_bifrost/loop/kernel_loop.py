"""The kernel loop's one entry object: smoke tests (one candidate or a fan-out), profiles, history and
problems, over the shell's targets, workspaces and push (app.py's `Bifrost`, seen through `Shell`).

A candidate enters once (`run_smoke_test` resolves it, loop/smoke.py builds the evaluation's body) and
its report comes back once; loop/evaluation.py runs the body under the GPU lock and files it as a job
past the call budget. ARCHITECTURE.md has the data path.
"""

from __future__ import annotations

import asyncio
import json
import time

from mcp_bifrost.loop import evaluation, smoke
from mcp_bifrost.loop.fanout_calls import FanoutCalls
from mcp_bifrost.loop.harness import read_job_report, smoke_time
from mcp_bifrost.loop.loop_base import Shell as Shell
from mcp_bifrost.loop.problems import find_problems
from mcp_bifrost.loop.profile_calls import ProfileCalls
from mcp_bifrost.models import (
    FanoutSmokeReport,
    HistoryReport,
    JobInfo,
    ProblemsReport,
    ProfileReport,
    SmokeReport,
)
from mcp_bifrost.ops.jobs import JobRef
from mcp_bifrost.requests import PushRequest, SmokeRequest
from mcp_bifrost.targets.base import Target

JOB_COMMANDS = ("run_smoke_test ", "profile_ncu ")  # jobs whose dir holds a report.json


class KernelLoop(FanoutCalls, ProfileCalls):
    """The loop's entry: run_smoke_test here, run_smoke_tests (fanout_calls.py), profile_ncu
    (profile_calls.py), and what the loop remembers; the shared state and checks are LoopBase's."""

    # -- smoke tests -----------------------------------------------------------------------------
    async def run_smoke_test(self, request: SmokeRequest) -> SmokeReport:
        """Check and time the candidate against the problem on a target (workspace paths), and remember it."""
        started = time.monotonic()
        _, t, prob, (cand, cand_local) = self._call(request, self.config.harness.smoke_timeout_s)
        limit = smoke_time(request.timeout_s, self.config.harness.smoke_timeout_s)
        sha = smoke.sha256(cand_local)
        pushed = push_s = None
        if request.push:
            pushed, push_s = (
                (await self.shell.push(PushRequest(target=request.target))).files_sent,
                round(time.monotonic() - started, 4),
            )
        ws = (await self.shell.remote_workspace(t)).twin
        h = self.harness(t)
        call = smoke.SmokeCall(t.name, prob, request.mode, limit, self.shell.words, ws)
        work = call.work(h, cand, sha=sha, started=started, pushed=pushed, push_s=push_s)

        def failed(exc: BaseException) -> str:
            return call.error(cand, exc).model_dump_json()

        result = await self._evaluate_call(
            h,
            t,
            ("smoke", "run_smoke_test", prob, cand),
            ws,
            self._limits(limit.wait_s, request.use_budget),
            work,
            request.progress,
            failed,
        )
        if isinstance(result, evaluation.Started):
            qid = str(JobRef(t.name, result.job_id))
            budget_s = self.config.limits.call_budget_s
            return call.running(qid, budget_s, cand, sha=sha, pushed=pushed, started=started)
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
