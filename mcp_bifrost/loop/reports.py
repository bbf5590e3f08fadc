"""Read gpu_harness's schema-1 documents (validated on arrival) into SmokeReport / ProfileReport.

The wire models below are the client's copy of the contract in gpu_harness/README.md: required keys
must be there with the right types; keys added later within schema 1 are allowed and ignored.
This module reads the smoke document; reports_profile.py the profile's (parse_profile is re-exported
here), report_wire.py holds what both share.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from mcp_bifrost.loop.report_wire import Wire, WireError, validated
from mcp_bifrost.loop.report_wire import fmt_speedup as fmt_speedup
from mcp_bifrost.loop.report_wire import fmt_time as fmt_time
from mcp_bifrost.loop.reports_profile import parse_profile as parse_profile
from mcp_bifrost.models import (
    HarnessFailure,
    HarnessFinding,
    SmokeCase,
    SmokeReport,
    SmokeTiming,
)

MESSAGE_CHARS = 400
STDOUT_TAIL_CHARS = 1500
STDERR_TAIL_CHARS = 2500
STATUSES = ("passed", "failed", "not_run", "error")


class WireSummary(Wire):
    median_ms: float | None
    p10_ms: float | None = None
    p90_ms: float | None = None
    n: int


class WireTiming(Wire):
    case: str
    params: dict[str, Any]
    clock: str
    reference: WireSummary | None
    candidate: WireSummary | None
    speedup: float | None
    floor_ms: float | None = None


class WireReport(Wire):
    schema_: int = 1
    harness_version: str = ""
    passed: bool
    status: str | None = None  # added within schema 1 by a later harness; derived when absent
    exit_code: int | None = None
    problem: str
    candidate: str
    mode: str
    device: dict[str, Any] = {}
    flags: list[HarnessFinding]
    notes: list[HarnessFinding] = []
    cases: list[SmokeCase]  # the harness's case is the report's: one model, validated once
    timing: list[WireTiming] = []
    score: dict[str, Any] | None = None
    error: WireError | None = None
    stdout_tail: str = ""
    wall_s: float | None = None
    isolation: dict[
        str, Any
    ] = {}  # added within schema 1: what confined the candidate (absent from older harnesses)
    plan: dict[str, Any] | None = (
        None  # added within schema 1: the time plan (deadline chosen and why, secret repeats)
    )


def _shown(case: SmokeCase) -> SmokeCase:
    """A case as the agent reads it: a failure's message and first mismatches, cut short; a pass, neither."""
    if case.passed:
        return case.model_copy(update={"message": "", "first_mismatches": []})
    return case.model_copy(
        update={"message": case.message[:MESSAGE_CHARS], "first_mismatches": case.first_mismatches[:3]}
    )


def parse_smoke(
    doc: dict[str, Any], *, target: str, problem: str, candidate: str, runner: str
) -> SmokeReport:
    """Validate a smoke report and shape it for the agent; `problem`/`candidate` are workspace paths."""
    wire = validated(WireReport, doc, "the smoke report", f"the harness on {target} sent a schema-1 report")
    cases = [_shown(c) for c in wire.cases]
    timing = [_timing(t) for t in wire.timing]
    fractions = [t.roofline_fraction for t in timing if t.roofline_fraction]
    score = wire.score or {}
    report = SmokeReport(
        summary="",
        status=_status(wire),
        passed=wire.passed,
        problem=problem,
        candidate=candidate,
        target=target,
        mode=wire.mode,
        device=wire.device,
        cases_passed=sum(c.passed for c in cases),
        cases_total=len(cases),
        cases=cases,
        timing=timing,
        speedup=_finite(score.get("speedup")),
        candidate_us=_us(score.get("candidate_ms")),
        reference_us=_us(score.get("reference_ms")),
        roofline_fraction=round(math.exp(sum(map(math.log, fractions)) / len(fractions)), 3)
        if fractions
        else None,
        flags=wire.flags,
        notes=wire.notes,
        error=HarnessFailure(
            stage=wire.error.stage,
            kind=wire.error.kind,
            message=wire.error.message[:1500],
            stderr_tail=wire.error.stderr_tail[-STDERR_TAIL_CHARS:],
        )
        if wire.error
        else None,
        stdout_tail=wire.stdout_tail[-STDOUT_TAIL_CHARS:],
        harness_version=wire.harness_version,
        runner=runner,
        harness_wall_s=wire.wall_s,
        isolation=wire.isolation,
        plan=_plan(wire.plan),
    )
    report.summary = smoke_summary(report)
    return report


PLAN_KEYS = (
    "deadline_s",
    "reason",
    "auto",
    "fits",
    "suggest_deadline_s",
    "cases",
    "est_case_s",
    "est_total_s",
    "secret_repeats",
    "secret_cases_run",
    "replanned",
)


def _plan(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """The harness's time plan, the keys an agent acts on."""
    return {k: plan[k] for k in PLAN_KEYS if k in plan} if isinstance(plan, dict) else None


def _status(wire: WireReport) -> Literal["passed", "failed", "not_run", "error"]:
    if wire.status in STATUSES:
        return wire.status  # type: ignore[return-value]  # one of STATUSES, checked just above
    if wire.passed:
        return "passed"
    if wire.error is not None and wire.error.kind in ("needs_gpu", "needs_memory"):
        return "not_run"
    if wire.exit_code == 2:
        return "error"
    return "failed"


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def _us(ms: Any) -> float | None:
    ms = _finite(ms)
    return None if ms is None else round(ms * 1000, 3)


def _timing(t: WireTiming) -> SmokeTiming:
    cand, ref = t.candidate, t.reference
    cand_us = _us(cand.median_ms) if cand else None
    floor_us = _us(t.floor_ms)
    on_gpu = t.clock != "host"  # a CPU's host-clock times against a loose floor: no roofline share to report
    return SmokeTiming(
        case=t.case,
        params=t.params,
        clock=t.clock,
        reference_us=_us(ref.median_ms) if ref else None,
        candidate_us=cand_us,
        candidate_p10_us=_us(cand.p10_ms) if cand else None,
        candidate_p90_us=_us(cand.p90_ms) if cand else None,
        n=cand.n if cand else None,
        speedup=_finite(t.speedup),
        floor_us=floor_us,
        roofline_fraction=round(floor_us / cand_us, 3) if floor_us and cand_us and on_gpu else None,
    )


def short_device(device: dict[str, Any]) -> str:
    if device.get("type") == "cpu" or device.get("name") == "cpu":
        return "CPU, host clock"
    words = str(device.get("name") or "?").replace("NVIDIA ", "").replace("GeForce ", "").split()
    if not words:
        return "?"
    return " ".join(words[:2]) if words[0] in ("RTX", "Tesla", "Quadro", "TITAN") else words[0]


def smoke_summary(r: SmokeReport) -> str:
    """The line an agent reads first."""
    flags = "flags: " + ", ".join(f.name for f in r.flags) if r.flags else "no flags"
    counts = f"{r.cases_passed}/{r.cases_total}"
    if r.status == "not_run":
        return f"NOT RUN · {r.error.message if r.error else 'the target cannot run this candidate'}"
    if r.status == "error" or (r.error is not None and not r.cases):
        e = r.error
        return (
            f"ERROR at {e.stage} ({e.kind}): {e.message[:200]}" if e else "ERROR: the harness gave no result"
        )
    if r.passed or r.cases_passed < r.cases_total:
        parts = [f"{'PASS' if r.passed else 'FAIL'} {counts}"]
    else:  # every case right, yet failed: a flag or an error says why
        parts = [f"FAIL · {counts} cases correct"]
    if r.error is not None:
        parts.append(f"{r.error.kind} at {r.error.stage}: {r.error.message[:160]}")
    failed = [c for c in r.cases if not c.passed]
    if failed:
        c = failed[0]
        err = f", max abs err {c.max_abs_err:.3g}" if c.max_abs_err is not None else ""
        parts.append(f"first failure {c.name} {c.params}: {c.reason}{err}")
    if r.speedup is not None and r.candidate_us is not None:
        n = min((t.n for t in r.timing if t.n), default=None)
        parts.append(
            f"{fmt_speedup(r.speedup)} vs reference ({fmt_time(r.candidate_us)} vs {fmt_time(r.reference_us)}, "
            f"{short_device(r.device)}{f', n={n}' if n else ''})"
        )
    elif r.passed and r.mode == "test":
        parts.append("not timed (mode=test)")
    if r.roofline_fraction is not None:
        parts.append(f"{r.roofline_fraction:.0%} of roofline")
    parts.append(flags)
    strays = strays_said(r.isolation)
    if strays:
        parts.append(strays)
    return " · ".join(parts)


def strays_said(isolation: dict[str, Any]) -> str:
    """Processes the candidate left running when its evaluation ended: killed, or (never expected) not."""
    killed, survived = int(isolation.get("strays_killed") or 0), int(isolation.get("survivors") or 0)
    if survived:
        return f"{survived} process(es) the candidate started SURVIVED its evaluation"
    return f"{killed} process(es) the candidate left running were killed" if killed else ""
