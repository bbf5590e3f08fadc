"""Read gpu_harness's profile document (validated on arrival) into a ProfileReport, and its summary
line: per kernel what bounds it, the whole call against a baseline.
"""

from __future__ import annotations

import re
from typing import Any

from mcp_bifrost.errors import HarnessProtocolError
from mcp_bifrost.loop.report_wire import Wire, WireError, fmt_speedup, fmt_time, validated
from mcp_bifrost.models import (
    KernelProfile,
    ProfileReport,
    ProfileSide,
)


class WireSide(Wire):
    label: str
    report_path: str
    kernels: list[dict[str, Any]]
    total_us: float | None = None  # the whole call's summed kernel time (harnesses before it: summed here)
    launch_limit: int | None = None
    cut_by_launch_limit: bool = False


class WireProfile(Wire):
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
    wire = validated(WireProfile, doc, "the profile report", f"the harness on {target} sent a profile")
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
