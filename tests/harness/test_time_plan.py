"""The time plan (issue 25): an evaluation sizes its deadline and its secret-seed repeats from what the
judge measured, so that many-case and slow problems get a verdict, and an honest slow kernel is never
`failed`. On the CPU the fixtures' cpu_tests scale the problems down, and `budget_s` (what a caller
plans for, 40 s by default) is scaled down with them; the @gpu tests run them at full size with the
default budget."""

from conftest import FIXTURES, cpu_only, gpu, session_worker

from gpu_harness.outcome import Report
from gpu_harness.plan import MIN_SECRET_REPEATS, Shape, Work, make, replan, secret_repeats

MANY = FIXTURES / "gpumode" / "many_cases_py"
SLOW_BENCH = FIXTURES / "gpumode" / "slow_bench_py"
HONEST = MANY / "solutions" / "honest.py"
WRONG = MANY / "solutions" / "one_round_short.py"
PUBLIC_ONLY = MANY / "solutions" / "public_seeds_only.py"


def smoke_planned(problem, candidate, mode="both", **limits):
    """A request as the MCP server and the command line send it without a deadline: no deadline_s
    and no timeout_s, so the judge's plan sizes the deadline (budget_s, max_deadline_s bound it)."""
    request = {"op": "smoke", "problem": str(problem), "candidate": str(candidate), "mode": mode, **limits}
    return Report.from_json(session_worker().request(**request))


# -- the plan's arithmetic, on synthetic measures ----------------------------------------------------
def work(call_s, tests=40, draw_s=0.001, device="cuda"):
    return Work([Shape(draw_s, call_s)] * tests, [Shape(draw_s, call_s)], device=device)


def test_secret_repeats_shrink_for_slow_problems_and_never_reach_zero():
    assert secret_repeats(work(0.001), wanted=3, budget_s=40) == 3
    assert secret_repeats(work(0.1), wanted=3, budget_s=40) == MIN_SECRET_REPEATS == 1
    assert secret_repeats(work(100.0), wanted=3, budget_s=1) == 1
    assert secret_repeats(work(100.0), wanted=0, budget_s=1) == 1  # a problem asking for none still gets one


def test_answers_slow_to_compare_lengthen_the_plan_where_calls_alone_look_quick():
    """KernelBench's 7_Matmul_with_small_K on a CPU: a 2 s call, but 106 s to compare two of its 4 GB
    answers. Planned on calls alone, the judge was killed comparing the first case."""
    quick = Work([Shape(0.01, 2.0)], [Shape(0.01, 2.0)], device="cpu")
    slow = Work([Shape(0.01, 2.0, compare_s=106.0)], [Shape(0.01, 2.0, compare_s=106.0)], device="cpu")
    fast, careful = make(quick, 2, budget_s=40, cap_s=900), make(slow, 2, budget_s=40, cap_s=900)
    assert careful.est_total_s > fast.est_total_s + 10 * 106.0, (fast.est_total_s, careful.est_total_s)
    assert careful.deadline_s > fast.deadline_s


def test_the_judge_times_its_own_comparison_before_the_candidate_loads():
    report = smoke_planned(MANY, HONEST, "test")
    measured = report.plan["measured"]
    assert measured["test_compare_s"] is not None and 0 < measured["test_compare_s"] < 1.0, measured


def test_without_a_callers_deadline_the_plan_sizes_it_between_the_budget_and_the_cap():
    fast = make(work(0.0001), 2, budget_s=40, cap_s=900)
    assert fast.auto and fast.deadline_s == 40 and fast.fits and fast.secret_repeats == 2
    slow = make(work(0.1), 2, budget_s=40, cap_s=900)  # 40 cases of a 100 ms reference
    assert 40 < slow.deadline_s < 900 and slow.fits and slow.secret_repeats == 1
    assert slow.deadline_s >= 2 * slow.est_total_s and "sized to the problem" in slow.reason
    huge = make(work(10.0), 2, budget_s=40, cap_s=900)
    assert huge.deadline_s == 900 and not huge.fits and huge.suggest_deadline_s > 900
    assert f"--deadline {huge.suggest_deadline_s}" in huge.reason


def test_a_callers_deadline_is_honoured_and_a_plan_that_cannot_fit_says_what_to_pass():
    plan = make(work(0.1), 2, budget_s=20, explicit=True)
    assert not plan.auto and plan.deadline_s == 20 and not plan.fits
    assert plan.suggest_deadline_s > 20 and f"deadline_s={plan.suggest_deadline_s}" in plan.reason


def test_the_measured_pace_only_lengthens_an_auto_deadline_and_never_past_the_cap():
    plan = make(work(0.01), 2, budget_s=40, cap_s=100)
    assert replan(plan, elapsed_s=5, done_est_s=5, left_est_s=1, where="x") is None  # on pace
    assert (
        replan(plan, elapsed_s=30, done_est_s=3, left_est_s=5, where="x") == 93
    )  # 10x slower: 30 + 5 * 10 * 1.25
    assert plan.deadline_s == 93 and plan.replanned and plan.fits
    assert replan(plan, elapsed_s=60, done_est_s=3, left_est_s=5, where="y") == 100  # 20x slower: the cap
    assert plan.deadline_s == 100 and not plan.fits and plan.suggest_deadline_s > 100
    explicit = make(work(0.01), 2, budget_s=40, explicit=True)
    assert replan(explicit, elapsed_s=30, done_est_s=3, left_est_s=5, where="x") is None


# -- end to end, on the CPU ------------------------------------------------------------------------
@cpu_only
def test_forty_cases_of_a_slow_reference_get_a_verdict_where_a_fixed_deadline_gave_an_error():
    fixed = smoke_planned(MANY, HONEST, deadline_s=0.5, timeout_s=8)
    assert fixed.status == "error" and fixed.error.kind == "deadline", (fixed.status, fixed.error)
    assert f"--deadline {fixed.plan['suggest_deadline_s']}" in fixed.error.message

    honest = smoke_planned(MANY, HONEST, budget_s=1.5)
    assert honest.status == "passed", (honest.error, honest.not_run, honest.plan)
    plan = honest.plan
    assert plan["auto"] and plan["deadline_s"] > 1.5 and "sized to the problem" in plan["reason"]
    assert honest.deadline_s == plan["deadline_s"]
    assert sum(c.kind == "test" for c in honest.cases) == 40
    assert plan["secret_cases_run"] == 40 * plan["secret_repeats"] >= 40

    wrong = smoke_planned(MANY, WRONG, budget_s=1.5)
    assert wrong.status == "failed" and not wrong.partial, (wrong.error, wrong.not_run)
    assert sum(c.kind == "test" and not c.passed for c in wrong.cases) == 40


def test_a_candidate_that_looks_slow_cannot_cut_the_secret_repeats_that_catch_it():
    """The plan is built from the judge's own draws and reference calls before the candidate loads:
    a cheat that is right only on the public draws, and sleeps on its first call to look like a slow
    problem, still meets every test case and at least one secret repeat of each, and fails."""
    honest = smoke_planned(MANY, HONEST, "test", budget_s=1.5)
    cheat = smoke_planned(MANY, PUBLIC_ONLY, "test", budget_s=1.5)
    assert cheat.status == "failed", (cheat.status, cheat.error, cheat.plan)
    assert sum(c.kind == "test" for c in cheat.cases) == 40 and all(
        c.passed for c in cheat.cases if c.kind == "test"
    )
    secret = [c for c in cheat.cases if c.kind == "secret"]
    assert len(secret) >= 40 and not any(c.passed for c in secret)
    assert cheat.plan["secret_repeats"] >= max(1, honest.plan["secret_repeats"] - 1)
    assert cheat.plan["measured"]["test_call_s"] < 1.0  # its 3 s sleep is nowhere in the judge's measures


@cpu_only
def test_a_benchmark_slower_than_the_timeout_is_timed_or_correct_but_not_timed_never_failed():
    planned = smoke_planned(SLOW_BENCH, HONEST, budget_s=0.5)
    assert planned.status == "passed" and planned.timing, (planned.error, planned.not_run, planned.plan)
    assert planned.plan["deadline_s"] > 0.5 + 5  # past the first kill: the kill clock followed

    fixed = smoke_planned(SLOW_BENCH, HONEST, deadline_s=1.5, timeout_s=3)
    assert fixed.status in ("passed", "error"), (fixed.status, fixed.error)
    assert fixed.cases and all(c.passed for c in fixed.cases)
    if fixed.status == "error":  # timing, or the re-check after it, did not fit: what to pass, and why
        assert fixed.error.kind in ("not_timed", "deadline"), fixed.error
        assert fixed.error.message.startswith("correct, not timed:") or fixed.not_run, fixed.error.message
        assert "--deadline" in fixed.error.message or "--timeout" in fixed.error.message
    assert fixed.plan["fits"] is False and fixed.plan["suggest_deadline_s"]
    assert "plan_does_not_fit" in {n.name for n in fixed.notes}


def test_a_kill_before_the_candidate_was_loaded_is_the_harness_running_out_of_time_never_failed(tmp_path):
    """The judge's own set-up (its reference call at the benchmark's size, for the plan) outlasts a
    caller's timeout: no candidate code has run, so the report is an error that says what to pass."""
    (tmp_path / "task.py").write_text("import torch\ninput_t = torch.Tensor\noutput_t = torch.Tensor\n")
    (tmp_path / "reference.py").write_text(
        "import time\nimport torch\n\n\ndef generate_input(size, seed):\n"
        "    return torch.ones(size, device='cuda' if torch.cuda.is_available() else 'cpu') * seed\n\n\n"
        "def ref_kernel(data):\n"
        "    if data.numel() >= 1000:\n        time.sleep(30)     # the reference at the benchmark's size\n"
        "    return data * 2\n"
    )
    (tmp_path / "task.yml").write_text(
        'files:\n  - {"name": "submission.py", "source": "@SUBMISSION@"}\n'
        '  - {"name": "task.py", "source": "task.py"}\n  - {"name": "reference.py", "source": "reference.py"}\n'
        'tests:\n  - {"size": 8, "seed": 1}\nbenchmarks:\n  - {"size": 1000, "seed": 2}\nroofline: false\n'
    )
    (tmp_path / "double.py").write_text("def custom_kernel(data):\n    return data * 2\n")
    report = smoke_planned(tmp_path, tmp_path / "double.py", deadline_s=3, timeout_s=3.5)
    assert report.status == "error" and report.error.kind == "deadline", (report.status, report.error)
    assert not report.cases and "no candidate code had run" in report.error.message
    assert "--timeout" in report.error.message


def slow_at_size_problem(folder, seconds):
    """A problem whose reference, and an honest candidate as slow as it, take `seconds` a call at the
    benchmark's size and nothing at the test's."""
    (folder / "task.py").write_text("import torch\ninput_t = torch.Tensor\noutput_t = torch.Tensor\n")
    body = f"    if data.numel() >= 1000:\n        time.sleep({seconds})\n    return data * 2\n"
    (folder / "reference.py").write_text(
        "import time\nimport torch\n\n\ndef generate_input(size, seed):\n"
        "    return torch.ones(size, device='cuda' if torch.cuda.is_available() else 'cpu') * seed\n\n\n"
        "def ref_kernel(data):\n" + body
    )
    (folder / "task.yml").write_text(
        'files:\n  - {"name": "submission.py", "source": "@SUBMISSION@"}\n'
        '  - {"name": "task.py", "source": "task.py"}\n  - {"name": "reference.py", "source": "reference.py"}\n'
        'tests:\n  - {"size": 8, "seed": 1}\nbenchmarks:\n  - {"size": 1000, "seed": 2}\nroofline: false\n'
    )
    (folder / "as_slow.py").write_text("import time\n\n\ndef custom_kernel(data):\n" + body)
    return folder, folder / "as_slow.py"


def test_a_case_that_cannot_end_before_the_kill_stops_at_the_deadline_instead_of_reading_as_a_hang(tmp_path):
    """The benchmark's check needs the candidate twice and the reference once, 1.5 s each (the judge
    measured its reference before the candidate loaded), and the caller's kill is 0.5 s after its
    deadline: the case is not started, and the report says what to pass. Started, it was killed in
    the judge's reference call and read as a candidate that never returned: `failed`."""
    problem, candidate = slow_at_size_problem(tmp_path, 1.5)
    report = smoke_planned(problem, candidate, deadline_s=5, timeout_s=5.5)
    assert report.status == "error" and report.error.kind == "deadline", (report.status, report.error)
    assert report.cases and all(c.passed for c in report.cases)
    assert "bench0" in {n.case for n in report.not_run} and "--deadline" in report.error.message


# -- full size, on the GPU (the default budget: 40 s; the default kill: 45 s) ------------------------
@gpu
def test_on_the_gpu_forty_cases_of_a_100_ms_reference_get_a_verdict():
    honest = smoke_planned(MANY, HONEST)
    assert honest.status == "passed", (honest.error, honest.not_run, honest.plan)
    assert honest.plan["measured"]["test_call_s"] > 0.03, honest.plan  # a slow reference, really
    wrong = smoke_planned(MANY, WRONG)
    assert wrong.status == "failed", (wrong.error, wrong.plan)


@gpu
def test_on_the_gpu_a_benchmark_whose_timing_outlasts_the_default_timeout_is_never_failed():
    report = smoke_planned(SLOW_BENCH, HONEST)
    assert report.status in ("passed", "error"), (report.status, report.error, report.plan)
    assert all(c.passed for c in report.cases)
    if report.status == "error":
        assert report.error.message.startswith("correct, not timed:"), report.error.message
    assert report.wall_s > 45 or report.plan["measured"]["benchmark_call_s"][0] < 1.0, report.plan
