"""Bounded memory and time: input sets sized to free memory (fakes of free memory), one deadline per
evaluation with a partial report, and sampling that adapts to slow kernels."""

from conftest import FIXTURES, KERNELS, smoke

from gpu_harness.memory import MAX_WORKING_SETS, ROTATION_SETS, plan_sets
from gpu_harness.stopping import StoppingRule

SLOW = FIXTURES / "gpumode" / "slow_py"
TOO_BIG = FIXTURES / "kernelbench" / "too_big_for_memory.py"
SLOW_CHECK = FIXTURES / "gpumode" / "slow_check_py"
MB = 1 << 20


def _plan(set_mb: int, out_mb: int, *, free_mb: int, total_mb: int, draw_s: float):
    """plan_sets on a CUDA device, sizes in MB, a 1 s budget."""
    return plan_sets(
        set_bytes=set_mb * MB,
        out_bytes=out_mb * MB,
        free=free_mb * MB,
        total=total_mb * MB,
        device_type="cuda",
        draw_s=draw_s,
        budget_s=1.0,
    )


def test_plenty_of_memory_gives_rotated_working_sets_each_refilled_from_a_fresh_draw():
    plan = _plan(10, 10, free_mb=4000, total_mb=8000, draw_s=0.001)
    assert plan.working == ROTATION_SETS and plan.total == plan.working
    many = plan_sets(10 * MB, 10 * MB, 8000 * MB, 8000 * MB, "cuda", 0.001, 1.0, wanted=1000)
    assert many.working == MAX_WORKING_SETS, many
    assert "fresh draw before every call" in plan.why


def test_little_memory_gives_one_set_and_says_why():
    # each working set is held three times (the judge's, the shared copy, the values it holds now), with
    # a return region of its size in a batch and its output four times
    plan = _plan(6400, 6400, free_mb=160000, total_mb=160000, draw_s=0.003)
    assert plan.working == 2 and "limited by memory" in plan.why
    floor = _plan(6400, 6400, free_mb=30000, total_mb=80000, draw_s=0.003)
    assert floor.working == 1 and "limited by memory" in floor.why and "fresh draw" in floor.why


def test_slow_draws_limit_the_sets_drawn_up_front_never_the_fresh_draw_per_call():
    plan = _plan(1, 1, free_mb=8000, total_mb=8000, draw_s=0.5)
    assert plan.working == 1 and "draw time" in plan.why and "fresh draw before every call" in plan.why


def test_a_small_fake_of_free_memory_gives_one_set_refilled_in_place_end_to_end():
    report = smoke(
        KERNELS / "softmax",
        KERNELS / "softmax" / "examples" / "submission_torch.py",
        "benchmark",
        timing={"memory_bytes": 4 * MB},
    )
    assert report.passed, (report.flags, report.error)
    assert all(t.input_sets == 1 and "fresh draw" in t.input_sets_why for t in report.timing), [
        (t.input_sets, t.input_sets_why) for t in report.timing
    ]
    assert report.memory["free_bytes"] <= 4 * MB


def test_slow_kernels_stop_on_minimum_time_not_a_fixed_count():
    rule = StoppingRule(min_samples=10, target_rse=1e-9, min_time_ms=500.0)
    for _ in range(3):
        rule.add(200.0)
    assert rule.done() and rule.reason() == "min_time" and rule.enough()


def test_a_slow_reference_finishes_well_inside_its_deadline():
    report = smoke(SLOW, SLOW / "solutions" / "slow.py", "both", timeout_s=60, deadline_s=30)
    assert report.passed and not report.partial, (report.flags, report.error, report.not_run)
    assert report.wall_s < 30
    timing = report.timing[0]
    assert timing.candidate.n >= 3 and timing.stopped_by in ("min_time", "precision", "budget"), timing


def test_the_deadline_stops_the_evaluation_with_a_partial_report():
    report = smoke(SLOW, SLOW / "solutions" / "slow.py", "both", timeout_s=30, deadline_s=3)
    assert report.wall_s < 6, report.wall_s  # stopped at its deadline, never killed
    assert report.partial and report.error.kind == "deadline"
    assert report.status == "error" and report.exit_code == 2  # nothing failed: the harness ran out of time
    assert report.cases and report.not_run
    names = {c.name for c in report.cases} | {n.case for n in report.not_run}
    assert {"test0", "test5", "bench0"} <= names
    assert all(n.why and "deadline" in n.why for n in report.not_run)


def test_a_call_that_never_returns_is_killed_and_the_cases_checked_before_it_are_reported(tmp_path):
    hang = tmp_path / "hang_on_third_call.py"
    hang.write_text(
        "import time\n_calls = [0]\n\n\ndef custom_kernel(data):\n    _calls[0] += 1\n"
        "    if _calls[0] > 5:\n        time.sleep(3600)\n    return data * 2\n"
    )
    report = smoke(SLOW, hang, "test", timeout_s=8, deadline_s=6)
    assert report.error.kind == "timeout" and report.partial
    assert report.cases and all(c.passed for c in report.cases), report.cases


def test_compiling_at_import_does_not_count_against_the_deadline_or_the_kill_clock():
    dps = FIXTURES / "gpumode" / "dps_py"
    report = smoke(
        dps, dps / "solutions" / "slow_import.py", "test", timeout_s=4, deadline_s=3, compile_allowance_s=30
    )
    assert report.passed and not report.partial, (report.error, report.not_run)
    assert "compile_time_excluded" in {n.name for n in report.notes}


def test_with_an_explicit_timeout_compiling_counts_and_the_partial_report_says_so():
    dps = FIXTURES / "gpumode" / "dps_py"
    report = smoke(dps, dps / "solutions" / "slow_import.py", "test", timeout_s=20, deadline_s=3)
    assert report.partial and report.error.kind == "deadline" and report.status == "error"
    assert "compile_allowance_s" in report.error.message


def test_an_out_of_memory_while_allocating_sets_falls_back_to_fewer_down_to_one():
    from gpu_harness.memory import SetPlan, fewer

    plan = SetPlan(8, "plenty")
    seen = []
    while plan.working > 1:
        plan = fewer(plan)
        seen.append(plan.working)
    assert seen == [4, 2, 1] and "out-of-memory" in plan.why


def test_a_problem_too_big_for_the_machine_is_not_run_and_never_the_candidates_failure():
    """KernelBench's 4_Matrix_vector_multiplication (an 8 GB input) on a 24 GB host: the kernel killed
    the evaluation mid-case and the report blamed the candidate (out_of_memory, failed). The judge's
    own draw, before the candidate loads, shows a case that cannot be held at once: not run here."""
    report = smoke(TOO_BIG, FIXTURES / "kernelbench" / "too_big_for_memory_new.py", "both")
    assert report.status == "not_run" and report.exit_code == 3, (report.status, report.error)
    assert report.error.kind == "needs_memory" and report.error.stage == "setup"
    assert "GiB" in report.error.message and "no candidate code ran" in report.error.message
    assert report.cases == [] and report.flags == []


def test_a_judge_killed_while_checking_an_honest_answer_never_fails_the_candidate():
    """KernelBench's 7_Matmul_with_small_K at full size on a CPU host: comparing its 4 GB answers took
    longer than the plan foresaw, the worker killed the evaluation at stage check, and the report said
    `timeout`, failed ("a call never returned") for the problem's own Model. A kill while the judge does
    its own work is the harness's deadline: status error, with the timeout that would let it finish."""
    report = smoke(SLOW_CHECK, SLOW_CHECK / "solutions" / "honest.py", "test", timeout_s=10, deadline_s=6)
    assert report.status == "error" and report.exit_code == 2, (report.status, report.error)
    assert report.error.kind == "deadline" and report.error.stage == "check", report.error
    assert "not a call of the candidate" in report.error.message and "timeout_s=" in report.error.message
    assert not report.flags
