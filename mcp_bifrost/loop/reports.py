"""Read gpu_harness's schema-1 documents (validated on arrival) into SmokeReport / ProfileReport.

The wire models below are the client's copy of the contract in gpu_harness/README.md: required keys
must be there with the right types; keys added later within schema 1 are allowed and ignored.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from mcp_bifrost.errors import HarnessProtocolError
from mcp_bifrost.loop.harness import check_schema
from mcp_bifrost.models import (
    HarnessFailure,
    HarnessFinding,
    KernelProfile,
    ProfileReport,
    ProfileSide,
    SmokeCase,
    SmokeReport,
    SmokeTiming,
)

MESSAGE_CHARS = 400
STDOUT_TAIL_CHARS = 1500
STDERR_TAIL_CHARS = 2500
STATUSES = ("passed", "failed", "not_run", "error")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class WireSummary(_Wire):
    median_ms: float | None
    p10_ms: float | None = None
    p90_ms: float | None = None
    n: int


class WireTiming(_Wire):
    case: str
    params: dict[str, Any]
    clock: str
    reference: WireSummary | None
    candidate: WireSummary | None
    speedup: float | None
    floor_ms: float | None = None


class WireError(_Wire):
    stage: str
    kind: str
    message: str
    stderr_tail: str = ""


class WireReport(_Wire):
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


W = TypeVar("W", bound=BaseModel)


def _validated(model: type[W], doc: dict[str, Any], what: str, sender: str) -> W:
    """The harness's document checked once: its schema version, then its shape."""
    check_schema(doc, what)
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise HarnessProtocolError(f"{sender} that does not validate: {exc.errors()[:3]}") from exc


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
    wire = _validated(WireReport, doc, "the smoke report", f"the harness on {target} sent a schema-1 report")
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
    if wire.error is not None and wire.error.kind == "needs_gpu":
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


def fmt_time(us: float | None) -> str:
    if us is None:
        return "?"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} us"


def fmt_speedup(x: float) -> str:
    return f"{x:.2f}x" if x >= 0.1 else f"{x:.2g}x"


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


# -- profiles ---------------------------------------------------------------------------------------
class WireSide(_Wire):
    label: str
    report_path: str
    kernels: list[dict[str, Any]]
    total_us: float | None = None  # the whole call's summed kernel time (harnesses before it: summed here)
    launch_limit: int | None = None
    cut_by_launch_limit: bool = False


class WireProfile(_Wire):
    schema_: int = 1
    kind: str
    candidate: WireSide | None = None
    baseline: WireSide | None = None
    device: dict[str, Any] = {}
    case: dict[str, Any] = {}
    sections: list[str] = []
    ncu_command: str = ""
    kernel_regex: str | None = None
    error: WireError | None = None


def parse_profile(doc: dict[str, Any], *, target: str, problem: str, candidate: str) -> ProfileReport:
    wire = _validated(WireProfile, doc, "the profile report", f"the harness on {target} sent a profile")
    if wire.error is not None or wire.candidate is None:
        from mcp_bifrost.errors import ProfilerUnavailable

        e = wire.error
        message = e.message if e else "no profile in the answer"
        if e is not None and e.kind in ("ncu_not_found", "no_counter_permission"):
            raise ProfilerUnavailable(message)
        raise HarnessProtocolError(
            f"profiling on {target} failed at {e.stage if e else '?'} "
            f"({e.kind if e else '?'}): {message}\n{(e.stderr_tail if e else '')[-1500:]}"
        )
    cand = _side(wire.candidate)
    base = _side(wire.baseline) if wire.baseline else None
    report = ProfileReport(
        summary="",
        problem=problem,
        candidate=candidate,
        target=target,
        device=wire.device,
        case=wire.case,
        sections=wire.sections,
        candidate_profile=cand,
        baseline_profile=base,
        changes=compare(base, cand) if base else [],
        ncu_command=wire.ncu_command,
        speedup=whole_call_speedup(base, cand) if base else None,
    )
    report.summary = profile_summary(report, kernel_regex=wire.kernel_regex)
    return report


def _side(side: WireSide) -> ProfileSide:
    kernels = [
        KernelProfile.model_validate({k: v for k, v in kern.items() if k in KernelProfile.model_fields})
        for kern in side.kernels
    ]
    total = side.total_us
    if total is None and kernels and all(k.duration_us is not None for k in kernels):
        total = sum(k.duration_us for k in kernels if k.duration_us is not None)
    return ProfileSide(
        label=side.label,
        kernels=kernels,
        report_path=side.report_path,
        total_duration_us=round(total, 3) if total is not None else None,
        kernel_count=len(kernels),
        launch_limit=side.launch_limit,
        cut_by_launch_limit=side.cut_by_launch_limit,
    )


def whole_call_speedup(base: ProfileSide, cand: ProfileSide) -> float | None:
    """Baseline total over candidate total; none when a limit cut either call (a part is not the call)."""
    if base.cut_by_launch_limit or cand.cut_by_launch_limit:
        return None
    if not base.total_duration_us or not cand.total_duration_us:
        return None
    return round(base.total_duration_us / cand.total_duration_us, 3)


def side_line(s: ProfileSide) -> str:
    """'reference: 2 kernels, 221.1 us' (whole call), or what the launch limit left of it."""
    n = s.kernel_count
    line = f"{s.label}: {n} kernel{'' if n == 1 else 's'}, {fmt_time(s.total_duration_us)}"
    if s.cut_by_launch_limit:
        line += f" (only the first {n}: launch_count cut the call)"
    return line


_FUNCTOR = re.compile(r"\b\w*Functor\w*")
KERNEL_LABEL_CHARS = 60


def kernel_label(name: str) -> str:
    """A readable kernel name: no 'void ', no argument list, and for a templated one (torch's elementwise
    kernels all share one name) the template's functor kept: 'at::native::vectorized_elementwise_kernel
    [MulFunctor]'."""
    name = re.sub(r"^void\s+", "", name)
    if "<" not in name:
        return name.split("(")[0][:KERNEL_LABEL_CHARS]
    functors = [
        f for f in _FUNCTOR.findall(name) if f not in ("AUnaryFunctor", "BUnaryFunctor", "BinaryFunctor")
    ]
    head = name.split("<")[0][:KERNEL_LABEL_CHARS]
    return head + (f" [{functors[-1]}]" if functors else "<...>")


def kernel_line(k: KernelProfile) -> str:
    bits = [f"{kernel_label(k.name)}: {fmt_time(k.duration_us)}, {k.bound}-bound"]
    if k.sm_pct is not None and k.memory_pct is not None:
        bits.append(f"SM {k.sm_pct:.0f}% / mem {k.memory_pct:.0f}%")
    if k.achieved_occupancy_pct is not None:
        bits.append(f"occupancy {k.achieved_occupancy_pct:.0f}%")
    if k.top_stalls:
        bits.append(f"top stall {k.top_stalls[0]}")
    return ", ".join(bits)


def profile_summary(r: ProfileReport, kernel_regex: str | None = None) -> str:
    """The line an agent reads first: whole-call totals of both sides and their ratio, then the top kernel."""
    cand, base = r.candidate_profile, r.baseline_profile
    kernels = cand.kernels if cand is not None else []
    if cand is None or not kernels:
        return "no kernel was profiled: the call launched none inside the NVTX range (or kernel_regex matched none)"
    head = side_line(base) + "; " + side_line(cand) if base is not None else side_line(cand)
    if base is not None and r.speedup is not None:
        head += f": {fmt_speedup(r.speedup)}"
    parts = [head + ", summed kernel time of one call"]
    if base is not None and r.speedup is None and (base.cut_by_launch_limit or cand.cut_by_launch_limit):
        parts.append("no ratio: launch_count cut a call (omit it to profile whole calls)")
    if kernel_regex:
        parts.append(f"only kernels matching {kernel_regex!r} were profiled")
    slowest = max(kernels, key=lambda k: k.duration_us or 0.0)
    parts.append(("slowest kernel " if len(kernels) > 1 else "") + kernel_line(slowest))
    if slowest.advice:
        parts.append(f"ncu suggests: {slowest.advice[0][:160]}")
    return " · ".join(parts)


_COMPARED = (
    ("duration_us", "duration", "us"),
    ("sm_pct", "SM throughput", "%"),
    ("memory_pct", "memory throughput", "%"),
    ("dram_bytes", "DRAM bytes", ""),
    ("achieved_occupancy_pct", "achieved occupancy", "%"),
    ("registers_per_thread", "registers/thread", ""),
    ("l2_hit_pct", "L2 hit rate", "%"),
)


def compare(base: ProfileSide, cand: ProfileSide) -> list[str]:
    """What changed from the baseline to the candidate: the whole calls, then kernels paired by name
    (a fused candidate has no partner for the baseline's other kernels: those are listed, not paired)."""
    ratio = whole_call_speedup(base, cand)
    lines = [
        f"whole call: {side_line(base)} -> {side_line(cand)}" + (f" ({fmt_speedup(ratio)})" if ratio else "")
    ]
    pairs, unused = [], list(range(len(base.kernels)))
    only_cand = []
    for c in cand.kernels:
        i = next((i for i in unused if base.kernels[i].name == c.name), None)
        if i is None:
            only_cand.append(c)
        else:
            unused.remove(i)
            pairs.append((base.kernels[i], c))
    for b, c in pairs:
        diffs = []
        if b.bound != c.bound:
            diffs.append(f"bound {b.bound} -> {c.bound}")
        for key, label, unit in _COMPARED:
            x, y = getattr(b, key), getattr(c, key)
            if x is not None and y is not None and x != y:
                diffs.append(f"{label} {x:g}{unit} -> {y:g}{unit}")
        if b.top_stalls[:1] != c.top_stalls[:1] and c.top_stalls:
            diffs.append(f"top stall now {c.top_stalls[0]}")
        lines.append(f"kernel {kernel_label(c.name)}: " + ("; ".join(diffs) if diffs else "unchanged"))
    if unused:
        lines.append(
            f"only in {base.label}: "
            + ", ".join(
                f"{kernel_label(base.kernels[i].name)} ({fmt_time(base.kernels[i].duration_us)})"
                for i in unused
            )
        )
    if only_cand:
        lines.append(
            f"only in {cand.label}: "
            + ", ".join(f"{kernel_label(c.name)} ({fmt_time(c.duration_us)})" for c in only_cand)
        )
    return lines
