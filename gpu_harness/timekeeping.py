"""The evaluation's clock against its time plan (plan.py): measure the problem before the candidate
loads, set the deadline an auto plan chose, lengthen it when the measured pace is slower, stop work
up front that would run into the hard kill, and write what ran into the report's `plan`.

A kill in the middle of a call reads as a hang of the candidate's; work that the judge's own measures
say cannot end before the kill stops at the deadline instead, with a partial report that says what
to pass.
"""

from __future__ import annotations

from gpu_harness import guard, memory, sizing
from gpu_harness import plan as timeplan
from gpu_harness.problem import Case
from gpu_harness.state import EvalState

# Work may run past the deadline into this share of the time between it and the hard kill before it is
# stopped up front.
KILL_SHARE = 0.5


def plan_time(ev: EvalState) -> None:
    """Measure the problem (sizing.py), choose the secret repeats and, when the caller gave no deadline,
    the deadline. While the judge measures, an auto plan lets the clocks run to its cap: a reference
    call may be slower than the default deadline, and no candidate code runs yet."""
    auto = ev.plan_cap_s is not None
    budget = ev.deadline.seconds - ev.compile_excluded_s
    if auto:
        ev.time_plan = timeplan.Plan(
            deadline_s=ev.plan_cap_s,
            reason="measuring the problem",
            cases=0,
            est_case_s=0.0,
            est_total_s=0.0,
            secret_repeats=0,
            secret_repeats_wanted=0,
            auto=True,
            fits=True,
            budget_s=budget,
            cap_s=ev.plan_cap_s,
        )
        ev.set_deadline(ev.plan_cap_s)
    ev.work = sizing.measure(ev)
    memory.check_fits(ev.work, ev.problem.device)  # not run here, before the candidate exists
    spent = ev.counted_s()
    plan = timeplan.make(
        ev.work,
        ev.problem.settings.secret_repeats,
        budget,
        spent_s=spent,
        explicit=not auto,
        cap_s=ev.plan_cap_s,
    )
    ev.time_plan = plan
    ev.est_done_s = spent
    ev.est_left_s = plan.est_total_s
    if auto:
        ev.set_deadline(plan.deadline_s)
    ev.report.plan = {**plan.to_json(), "measured": sizing.describe(ev.work), "sizing_s": round(spent, 3)}


def case_estimate(ev: EvalState, case: Case) -> float:
    shape = _shape(ev, case)
    return timeplan.case_s(shape, ev.work.device) if shape else 0.0


def timing_estimate(ev: EvalState, case: Case) -> float:
    shape = _shape(ev, case)
    return timeplan.timing_s(shape, ev.work.device) if shape else 0.0


def _shape(ev: EvalState, case: Case) -> timeplan.Shape | None:
    if ev.work is None:
        return None
    if case.kind == "benchmark":
        shapes = [s for c, s in zip(ev.problem.benchmarks, ev.work.benchmarks) if c.name == case.name]
    else:
        shapes = ev.work.tests[:1]
    return shapes[0] if shapes else None


def shape_s(ev: EvalState, case: Case) -> float:
    shape = _shape(ev, case)
    return shape.draw_s + shape.call_s + shape.compare_s if shape else 0.0


def timing_floor(ev: EvalState, case: Case) -> float:
    shape = _shape(ev, case)
    return timeplan.timing_floor_s(shape) if shape else 0.0


def fits_before_kill(ev: EvalState, seconds: float) -> bool:
    """Whether work estimated at `seconds` (the judge's own measures, the candidate at the reference's
    pace) ends before the hard kill. Work that cannot stops at the deadline instead, with a partial
    report that says what to pass: a kill mid-call would read as a hang of the candidate's."""
    left = ev.deadline.remaining()
    return seconds <= left + KILL_SHARE * max(0.0, ev.seconds_left() - left)


def progress(ev: EvalState, done_est_s: float, where: str) -> None:
    """A piece of work is done: an auto plan whose measured pace will not fit its deadline lengthens
    it (up to the cap)."""
    plan = ev.time_plan
    if plan is None:
        return
    ev.est_done_s += done_est_s
    ev.est_left_s = max(0.0, ev.est_left_s - done_est_s)
    new = timeplan.replan(plan, ev.counted_s(), ev.est_done_s, ev.est_left_s, where)
    if new is not None:
        ev.set_deadline(new)


def plan_note(ev: EvalState) -> None:
    """The report's plan says what ran, and a plan that does not fit says what to pass."""
    plan, report = ev.time_plan, ev.report
    if plan is None or report.plan is None:
        return
    report.plan.update(
        deadline_s=plan.deadline_s,
        fits=plan.fits,
        suggest_deadline_s=plan.suggest_deadline_s,
        replanned=list(plan.replanned),
        secret_cases_run=sum(1 for c in report.cases if c.kind == "secret"),
    )
    if not plan.fits and plan.suggest_deadline_s:
        report.add_note(
            guard.NOTE_PLAN_DOES_NOT_FIT,
            f"the time plan estimates more than the deadline of {plan.deadline_s:g} s: pass "
            f"deadline_s={plan.suggest_deadline_s} (--deadline {plan.suggest_deadline_s}) and a "
            "timeout_s above it to run everything",
        )
