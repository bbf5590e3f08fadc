"""The evaluation's time plan: how long it needs, from what the judge measured, against its budget.

A problem with 40 test cases and a 100 ms reference needs minutes, a vector add a second; one fixed
deadline fits neither. Before the candidate is loaded, the judge draws each case shape once and times
its own draw and one reference call (sizing.py). From those seconds and the case counts this module
estimates the whole evaluation, picks how many secret-seed repeats of the tests fit the budget, and
sizes the deadline when the caller gave none. Every number here comes from the judge's clock before
any candidate code ran, so a candidate cannot shrink its checks by looking slow: its own pace can
only lengthen its deadline (up to the cap, `replan`), and correctness cases are never dropped.

Pure arithmetic, no torch: tested on synthetic numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_DEADLINE_S = 900.0  # an auto-sized deadline never exceeds this (request max_deadline_s, --max-deadline)
MIN_SECRET_REPEATS = 1  # secret-seed repeats of the tests: never fewer, however slow the problem
SAFETY = 2.0  # an auto deadline is the estimate times this (an honest first try runs slower)
REPLAN_MARGIN = 1.25  # a re-plan from the measured pace keeps this much slack
# What one correctness case costs in units of the sizing's numbers: the candidate twice and the
# reference up to twice (its own check, then the comparison); the draw, and its copy for the candidate.
CASE_CALLS = 4
CASE_DRAWS = 2
CASE_OVERHEAD_S = {"cuda": 0.01, "cpu": 0.02}  # channel round trips, staging, releasing memory
# Comparisons of whole answers in one correctness case: the verdict, and the first case's replay probe
# or two runs whose bits differ. Big answers on a CPU take minutes each (KernelBench's
# 7_Matmul_with_small_K: 1G elements, 106 s a comparison on one core, its cases 139-313 s), which calls
# alone never showed.
CASE_COMPARES = 2
# One benchmark case timed (timing.py): its budget, plus calls of both sides that the budget does not
# bound (warm-up, the slow-kernel minimum, host samples, the judge's batches), plus the input sets'
# draws; then a re-check, which is one more correctness case.
TIMING_BUDGET_S = {"cuda": 1.0, "cpu": 0.5}
TIMING_CALLS = {"cuda": 48, "cpu": 18}  # GPU: host-clock samples as well (timing.py, step 4)
# Every timed call is on a fresh draw: warm-up, the fewest samples, host samples (GPU), the judge's batches.
TIMING_DRAWS = {"cuda": 40, "cpu": 20}
TIMING_COMPARES = 8  # outputs of timed calls verified: the checked samples, the judge's batches
TIMING_MIN_CALLS = (
    6  # the least a benchmark's timing makes: a warm-up, a sample and a judge's batch, each side
)


@dataclass(frozen=True)
class Shape:
    """The judge's own seconds for one case shape: a draw, and one reference call on it."""

    draw_s: float
    call_s: float
    input_bytes: int = 0  # the draw's tensors
    output_bytes: int = 0  # the reference's answer
    compare_s: float = 0.0  # the judge comparing two answers of this shape (check.compare)


@dataclass
class Work:
    """What the evaluation will do, by shape."""

    tests: list[Shape]  # one per test case (a secret repeat costs the same)
    benchmarks: list[Shape]  # one per benchmark case
    check_tests: bool = True  # mode test or both
    check_benchmarks: bool = True  # mode benchmark or both
    time_benchmarks: bool = True  # mode benchmark or both
    device: str = "cpu"


@dataclass
class Plan:
    """The report's `plan`: what was measured, what was chosen, and why."""

    deadline_s: float
    reason: str
    cases: int  # correctness cases planned (tests, secret repeats, benchmarks)
    est_case_s: float  # the mean correctness case, estimated
    est_total_s: float  # the whole evaluation, estimated (before SAFETY)
    secret_repeats: int
    secret_repeats_wanted: int
    auto: bool  # True: the deadline was sized here; False: the caller's
    fits: bool  # the estimate fits the deadline
    budget_s: float
    cap_s: float | None = None
    suggest_deadline_s: int | None = None  # what to pass (--deadline) when it does not fit
    replanned: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def case_s(shape: Shape, device: str) -> float:
    return (
        CASE_DRAWS * shape.draw_s
        + CASE_CALLS * shape.call_s
        + CASE_COMPARES * shape.compare_s
        + CASE_OVERHEAD_S.get(device, 0.02)
    )


def timing_s(shape: Shape, device: str) -> float:
    return (
        TIMING_BUDGET_S.get(device, 0.5)
        + TIMING_CALLS.get(device, 18) * shape.call_s
        + TIMING_DRAWS.get(device, 20) * shape.draw_s
        + TIMING_COMPARES * shape.compare_s
        + case_s(shape, device)
    )


def timing_floor_s(shape: Shape) -> float:
    """The least one benchmark's timing takes, whatever its cap."""
    return TIMING_MIN_CALLS * shape.call_s + 3 * shape.draw_s  # each on a fresh draw


def estimate(work: Work, repeats: int) -> tuple[float, int]:
    """(seconds, correctness cases) for the whole evaluation with `repeats` secret repeats."""
    seconds, cases = 0.0, 0
    if work.check_tests:
        seconds += (1 + repeats) * sum(case_s(s, work.device) for s in work.tests)
        cases += (1 + repeats) * len(work.tests)
    if work.check_benchmarks:
        seconds += sum(case_s(s, work.device) for s in work.benchmarks)
        cases += len(work.benchmarks)
    if work.time_benchmarks:
        seconds += sum(timing_s(s, work.device) for s in work.benchmarks)
    return seconds, cases


def secret_repeats(work: Work, wanted: int, budget_s: float, spent_s: float = 0.0) -> int:
    """The most repeats, up to `wanted`, whose estimate fits what is left of the budget; never fewer
    than MIN_SECRET_REPEATS."""
    floor = MIN_SECRET_REPEATS
    for repeats in range(max(wanted, floor), floor, -1):
        if spent_s + estimate(work, repeats)[0] <= budget_s:
            return repeats
    return floor


def make(
    work: Work,
    wanted_repeats: int,
    budget_s: float,
    spent_s: float = 0.0,
    explicit: bool = False,
    cap_s: float | None = None,
) -> Plan:
    """The plan. `explicit`: the caller gave the deadline (`budget_s`): it is honoured, and the plan
    says whether the estimate fits it. Otherwise the deadline is the estimate times SAFETY, at least
    the budget, at most `cap_s`. `spent_s`: counted seconds already gone (set-up, sizing)."""
    cap = MAX_DEADLINE_S if cap_s is None else cap_s
    repeats = secret_repeats(work, wanted_repeats, budget_s, spent_s)
    total, cases = estimate(work, repeats)
    needed = spent_s + total
    mean_case = total / cases if cases else 0.0
    suggest = math.ceil(needed * SAFETY)
    why_repeats = f"{repeats} secret repeat(s) of {len(work.tests)} test(s)" + (
        f" (of {wanted_repeats} wanted: more do not fit {budget_s:g} s)" if repeats < wanted_repeats else ""
    )
    estimate_words = (
        f"estimated {needed:.1f} s for {cases} correctness case(s) of ~{mean_case * 1e3:.0f} ms"
        f"{' and the timing of ' + str(len(work.benchmarks)) + ' benchmark(s)' if work.time_benchmarks else ''}"
        f" (from the judge's own draws and reference calls); {why_repeats}"
    )
    if explicit:
        deadline = budget_s
        why = f"the caller's deadline of {budget_s:g} s"
    else:
        deadline = min(max(budget_s, float(math.ceil(needed * SAFETY))), cap)
        if deadline == cap and needed * SAFETY > cap:
            why = f"sized to the problem and held at the cap of {cap:g} s"
        elif deadline > budget_s:
            why = f"sized to the problem ({SAFETY:g}x the estimate, above the {budget_s:g} s default)"
        else:
            why = f"the default {budget_s:g} s: the estimate fits it {SAFETY:g} times over"
    # Only the caller's deadline or the cap can be too short; the advice names what to pass instead.
    fits = needed <= deadline
    advice = "" if fits else f"; it will not fit: pass deadline_s={suggest} (--deadline {suggest})"
    if advice and explicit:
        advice += " and a timeout_s above it"
    return Plan(
        deadline,
        f"{why}; {estimate_words}{advice}",
        cases,
        mean_case,
        total,
        repeats,
        wanted_repeats,
        not explicit,
        fits,
        budget_s,
        None if explicit else cap,
        None if fits else suggest,
    )


def replan(plan: Plan, elapsed_s: float, done_est_s: float, left_est_s: float, where: str) -> float | None:
    """The deadline the measured pace needs (auto plans only), or None when the current one holds.
    `done_est_s` is what the finished work was estimated to take, `elapsed_s` what it took (counted
    seconds, compiling excluded): the rest is scaled by that ratio, never below the estimate. Its own
    slowness can only lengthen a candidate's deadline, up to the cap."""
    if not plan.auto or left_est_s <= 0:
        return None
    pace = max(1.0, elapsed_s / done_est_s) if done_est_s > 0 else 1.0
    wanted = elapsed_s + left_est_s * pace * REPLAN_MARGIN
    if wanted <= plan.deadline_s:
        return None
    cap = plan.cap_s if plan.cap_s is not None else MAX_DEADLINE_S
    if plan.deadline_s >= cap:
        return None
    new = min(cap, float(math.ceil(wanted)))
    plan.replanned.append(
        f"{where}: {plan.deadline_s:.0f} s -> {new:.0f} s (the measured pace is {pace:.1f}x the estimate)"
    )
    plan.deadline_s = new
    if wanted > cap:
        plan.fits = False
        plan.suggest_deadline_s = math.ceil(wanted * SAFETY / REPLAN_MARGIN)
    return new
