"""The reports built on this side of the wire: the body of one smoke evaluation (harness JSON ->
SmokeReport, with what only the client knows), an error before the harness answered, a smoke test or
profile that continues as a job, and the ranked report of a fan-out.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mcp_bifrost.loop import evaluation, fanout
from mcp_bifrost.loop.harness import SmokeTime, TargetHarness, planned_words
from mcp_bifrost.loop.reports import parse_smoke
from mcp_bifrost.messages import Words, reword_report
from mcp_bifrost.models import FanoutSmokeReport, HarnessFailure, ProfileReport, SmokeReport
from mcp_bifrost.ops.remote_command import quote


def sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class SmokeCall:
    """What every candidate of one smoke call shares: the target, the problem (workspace path), the
    mode, the time plan, the words of the surface and the remote twin the paths are relative to."""

    target: str
    prob: str
    mode: str
    limit: SmokeTime
    words: Words
    ws: str

    def work(
        self,
        h: TargetHarness,
        cand: str,
        *,
        sha: str | None,
        started: float,
        pushed: int | None = None,
        push_s: float | None = None,
        gpu: int | None = None,
    ) -> evaluation.Run[SmokeReport]:
        """The body of one smoke evaluation (run under the GPU lock by evaluation.evaluate)."""
        rp, rc = posixpath.join(self.ws, self.prob), posixpath.join(self.ws, cand)
        mode, limit = self.mode, self.limit

        async def work(state: evaluation.EvalState) -> SmokeReport:
            outcome = await h.evaluate(
                {"op": "smoke", "problem": rp, "candidate": rc, "mode": mode, **limit.fields},
                f"smoke {quote(rp)} {quote(rc)} --mode {mode} --json {limit.args}",
                limit.wait_s,
                on_start=lambda pgid: setattr(state, "pgid", pgid),
                may_retry=lambda: not state.detached,
            )
            report = parse_smoke(
                outcome.doc, target=self.target, problem=self.prob, candidate=cand, runner=outcome.runner
            )
            reword_report(report, self.words)
            report.candidate_sha256, report.pushed_files, report.gpu_wait_s = sha, pushed, state.gpu_wait_s
            report.push_s = push_s
            if gpu is not None:  # which GPU of the target it ran on (CUDA_VISIBLE_DEVICES=gpu)
                report.device["gpu_index"] = gpu
            report.duration_s = round(time.monotonic() - started, 3)
            return report

        return work

    def error(self, cand: str, exc: BaseException) -> SmokeReport:
        """The report of an evaluation that ended in an error before the harness could answer."""
        return self._unanswered(
            cand,
            f"ERROR: {exc}",
            "error",
            error=HarnessFailure(stage="run", kind="internal_error", message=str(exc)),
        )

    def running(
        self, qid: str, budget_s: float, cand: str, *, sha: str | None, pushed: int | None, started: float
    ) -> SmokeReport:
        """The report of a smoke test that outlived the call budget and continues as job `qid`."""
        summary = (
            f"RUNNING as job {qid}: still evaluating after the {budget_s:g} s call "
            "budget; poll job_status (its `report` field carries this report when it is done)"
            + planned_words(self.limit)
        )
        return self._unanswered(
            cand,
            summary,
            "running",
            job_id=qid,
            candidate_sha256=sha,
            pushed_files=pushed,
            duration_s=round(time.monotonic() - started, 3),
        )

    def _unanswered(
        self, cand: str, summary: str, status: Literal["error", "running"], **more: Any
    ) -> SmokeReport:
        """A report the harness did not write: no case ran (yet)."""
        return SmokeReport(
            summary=summary,
            status=status,
            passed=False,
            problem=self.prob,
            candidate=cand,
            target=self.target,
            mode=self.mode,
            cases_passed=0,
            cases_total=0,
            runner="job",
            **more,
        )


def fanout_running(
    qid: str, budget_s: float, n: int, *, prob: str, target: str, started: float
) -> FanoutSmokeReport:
    """The report of a fan-out that outlived the call budget and continues as job `qid`."""
    return FanoutSmokeReport(
        summary=f"RUNNING as job {qid}: {n} candidates still evaluating after the "
        f"{budget_s:g} s call budget; poll job_status (its `report` field "
        "carries the ranked fan-out report when every candidate is done)",
        status="running",
        job_id=qid,
        problem=prob,
        target=target,
        slots=0,
        duration_s=round(time.monotonic() - started, 3),
        ranking=[],
        gpus=[],
        reports=[],
    )


def fanout_error(exc: BaseException, *, prob: str, target: str, started: float) -> FanoutSmokeReport:
    """The report of a detached fan-out that ended in an error."""
    return FanoutSmokeReport(
        summary=f"ERROR: {exc}",
        problem=prob,
        target=target,
        slots=0,
        duration_s=round(time.monotonic() - started, 3),
        ranking=[],
        failed=[f"(the fan-out): {exc}"],
        gpus=[],
        reports=[],
    )


def profile_running(qid: str, *, prob: str, cand: str, target: str, started: float) -> ProfileReport:
    """The report of a profile that outlived the call budget and continues as job `qid`."""
    return ProfileReport(
        summary=f"RUNNING as job {qid}: still profiling after the call budget; poll "
        "job_status (its `report` field carries the profile when it is done)",
        problem=prob,
        candidate=cand,
        target=target,
        job_id=qid,
        candidate_profile=None,
        duration_s=round(time.monotonic() - started, 3),
    )


def profile_error_json(exc: BaseException, *, prob: str, cand: str, target: str) -> str:
    """The job report of a detached profile that ended in an error."""
    return json.dumps(
        {
            "kind": "profile",
            "summary": f"ERROR: {exc}",
            "problem": prob,
            "candidate": cand,
            "target": target,
            "candidate_profile": None,
        }
    )


def smoke_score(report: SmokeReport) -> float | None:
    """Rank passing candidates by speedup (higher is better); an untimed pass (mode=test) ranks last."""
    if not report.passed:
        return None
    return -(report.speedup or 0.0)  # fanout.rank sorts lowest first


def fanout_report(
    target: str, prob: str, slots: int, outcomes: list[fanout.Outcome[SmokeReport]], wall: float
) -> FanoutSmokeReport:
    """The ranked report of a fan-out: every candidate's report, the passing ones by speedup."""
    reports = [o.result for o in outcomes if o.result is not None]
    assert len(reports) == len(outcomes)  # every slot answers with a report, an error one included
    order = fanout.rank(outcomes)
    ranking = [reports[i].candidate for i in order]
    failed = [f"{r.candidate}: {r.summary}" for r in reports if not r.passed and r.status != "not_run"]
    not_run = [f"{r.candidate}: {r.summary}" for r in reports if r.status == "not_run"]
    gpus = [r.device.get("gpu_index") for r in reports]
    where = fanout.where_text(slots, [r.device for r in reports])
    if order:
        best = reports[order[0]]
        best_text = f"best {posixpath.basename(best.candidate)}" + (
            f" {best.speedup:.2f}x" if best.speedup else ""
        )
    else:
        best_text = "no candidate passed"
    summary = (
        f"{len(reports)} candidate{'s' if len(reports) != 1 else ''} on {where} in {wall:.1f} s: {best_text}; "
        + fanout.count_text(sum(r.passed for r in reports), len(failed), len(not_run))
    )
    return FanoutSmokeReport(
        summary=summary,
        problem=prob,
        target=target,
        slots=slots,
        duration_s=wall,
        ranking=ranking,
        failed=failed,
        not_run=not_run,
        gpus=gpus,
        reports=reports,
    )
