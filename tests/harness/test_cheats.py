"""The cheat suite: one candidate per exploit class of the guard's list (gpu_harness/README.md, Flags).

Each is flagged with a flag that names the exploit, or fails its cases with a reason that does.
"""

import pytest
from conftest import CANDIDATES, FIXTURES, HAS_GPU, KERNELS, flag_names, gpu, smoke

CHEATS = CANDIDATES / "cheats"
# The cheats take softmax's data as one tensor; kernels/softmax now hands in an output buffer too.
PROBLEMS = {"softmax": FIXTURES / "softmax_plain", "vectoradd": KERNELS / "vectoradd"}
REPLAY_KEYS = ("pointer", "id", "version")  # what a replay cache keys its stored result on
PATCHED = ("timer", "allclose", "synchronize", "elapsed_time")

FLAGGED = [
    # (exploit, problem, candidate, flag); each runs the test cases only
    ("output aliases an input", "softmax", "alias_input.py", "output_aliases_input"),
    ("input mutation", "vectoradd", "input_mutation.py", "input_mutated"),
    *[
        (f"replay keyed on {key}", "softmax", f"replay_cache_{key}.py", "result_replay")
        for key in REPLAY_KEYS
    ],
    ("work in a thread", "softmax", "thread.py", "side_stream_or_deferred_work"),
    ("lazy subclass output", "softmax", "lazy_subclass.py", "lazy_output"),
    ("broadcast output", "softmax", "broadcast_output.py", "odd_output_storage"),
    # a patched function is flagged with the name of what was patched
    *[(f"patched {what}", "softmax", f"patched_{what}.py", f"patched_{what}") for what in PATCHED],
    ("non-determinism", "softmax", "nondeterministic.py", "nondeterministic"),
]


@pytest.mark.parametrize("exploit,problem,candidate,flag", FLAGGED, ids=[row[0] for row in FLAGGED])
def test_cheat_is_flagged_by_name(exploit, problem, candidate, flag):
    report = smoke(PROBLEMS[problem], CHEATS / candidate, "test")
    assert flag in flag_names(report), (exploit, report.flags, report.error)
    assert not report.passed and report.exit_code == 1


FAILED = [
    # (exploit, problem, candidate, mode, failing case kind, reason)
    ("partial compute", "vectoradd", "partial_compute.py", "test", "test", "partial_output"),
    (
        "partial above a size threshold",
        "vectoradd",
        "partial_above_threshold.py",
        "both",
        "benchmark",
        "partial_output",
    ),
    (
        "precision downcast past tolerance",
        "softmax",
        "precision_downcast.py",
        "test",
        "test",
        "precision_loss",
    ),
]


@pytest.mark.parametrize("exploit,problem,candidate,mode,kind,reason", FAILED, ids=[row[0] for row in FAILED])
def test_cheat_fails_its_cases_with_a_reason_naming_it(exploit, problem, candidate, mode, kind, reason):
    report = smoke(PROBLEMS[problem], CHEATS / candidate, mode)
    failed = [c for c in report.cases if not c.passed]
    assert failed and not report.passed and report.exit_code == 1
    allowed = {"test", "secret"} if kind == "test" else {kind}
    assert kind in {c.kind for c in failed} and {c.kind for c in failed} <= allowed
    assert all(c.reason == reason for c in failed), [(c.name, c.reason, c.message) for c in failed]


def test_size_threshold_cheat_passes_the_test_sizes_alone():
    report = smoke(KERNELS / "vectoradd", CHEATS / "partial_above_threshold.py", "test")
    assert report.passed  # which is why benchmark cases are checked too


def test_stale_allocation_cheat_finds_no_answer_in_freed_memory():
    report = smoke(PROBLEMS["softmax"], CHEATS / "stale_allocation.py", "test")
    assert not report.passed and all(not c.passed for c in report.cases)


def test_fallback_to_the_reference_op_is_reported_as_no_own_kernel():
    report = smoke(PROBLEMS["softmax"], CHEATS / "fallback.py", "test")
    notes = {n.name: n.detail for n in report.notes}
    assert "no_own_kernel" in notes
    assert "ref_kernel" in notes["no_own_kernel"]


def test_impossible_time_is_flagged_below_roofline_and_above_the_speedup_limit():
    report = smoke(FIXTURES / "vectoradd_large", CHEATS / "impossible_time.py", "both")
    names = flag_names(report)
    assert names & {"below_roofline", "speedup_above_sanity_limit"}, (report.flags, report.timing)
    if not HAS_GPU:  # on the CPU the floor is far above the replay's time; the speed-up flag reads the
        # candidate's p90, which one slow sample of ten can lift under the limit (seen on a 2-core box)
        assert "below_roofline" in names
    assert "result_replay" in names  # and its stale answers were caught among the verified samples


def test_reference_output_never_exists_while_the_candidate_runs():
    # The gc-scanning cheat finds only pristine inputs (flagged as harness memory), never an answer.
    report = smoke(PROBLEMS["softmax"], CHEATS / "reference_output_reuse.py", "test")
    assert all(not c.passed for c in report.cases)
    # A probe that knows the answer finds no tensor in the process holding it during its first call.
    probe = smoke(PROBLEMS["softmax"], CANDIDATES / "probes" / "memory_scan.py", "test")
    assert probe.passed and "memory scan: 0 tensors hold the answer" in probe.stdout_tail


def test_a_forged_report_on_the_result_pipe_is_not_believed():
    report = smoke(PROBLEMS["softmax"], CHEATS / "forge_result_channel.py", "test")
    # On CPU the garbage output fails the cases; on the GPU the forged bytes also land in CUDA's own
    # pipes and the run stage errors. Either way the forged "passed" is not what comes back.
    assert not report.passed, report
    assert report.error is not None or (report.cases and not any(c.passed for c in report.cases)), report


@gpu
def test_side_stream_work_is_flagged():
    """Right answers computed on a side stream (it waits for its inputs): only timing can catch it."""
    report = smoke(KERNELS / "matmul", CANDIDATES / "gpu" / "side_stream.py", "both", timeout_s=600)
    assert "side_stream_or_deferred_work" in flag_names(report), (report.flags, report.timing)


@gpu
def test_racy_side_stream_never_passes():
    """The same without waiting for its inputs: whether values or timing catch it, it fails."""
    report = smoke(KERNELS / "matmul", CANDIDATES / "gpu" / "side_stream_racy.py", "both", timeout_s=600)
    assert not report.passed, (report.flags, report.timing)


@gpu
def test_thread_launching_gpu_work_after_return_is_flagged():
    report = smoke(KERNELS / "matmul", CANDIDATES / "gpu" / "thread_gpu.py", "both", timeout_s=600)
    assert flag_names(report) & {"thread_spawned", "side_stream_or_deferred_work"}, report.flags


@gpu
@pytest.mark.parametrize(
    "candidate,flag",
    [
        ("patched_synchronize.py", "patched_synchronize"),
        ("patched_elapsed_time.py", "patched_elapsed_time"),
        ("patched_timer.py", "patched_timer"),
    ],
)
def test_patched_gpu_timing_functions_are_flagged_on_the_gpu(candidate, flag):
    report = smoke(PROBLEMS["softmax"], CHEATS / candidate, "both", timeout_s=600)
    assert flag in flag_names(report)


@gpu
def test_impossible_time_is_flagged_on_the_gpu():
    report = smoke(KERNELS / "vectoradd", CHEATS / "impossible_time.py", "both", timeout_s=600)
    assert flag_names(report) & {"below_roofline", "speedup_above_sanity_limit", "result_replay"}


@pytest.mark.parametrize("mode", ["test", "benchmark"])
def test_a_replay_within_the_problems_tolerance_is_caught_by_its_unchanged_bits(mode):
    """KernelBench's softmax at full width (H100, 2026-12-07): outputs of ~2.5e-6 against an atol of 1e-5,
    so a stale answer for new inputs passed the check of its values. Benchmark mode alone checks its
    cases (and probes for replays) before it times them."""
    wide = FIXTURES / "kernelbench" / "softmax_wide.py"
    report = smoke(wide, CHEATS / "replay_within_tolerance.py", mode)
    assert "result_replay" in flag_names(report) and not report.passed, report.flags
    honest = smoke(wide, FIXTURES / "kernelbench" / "23_Softmax_torch.py", "test")
    assert honest.passed and honest.flags == [], honest.flags


def test_an_answer_cache_keyed_on_the_inputs_contents_never_hits_a_timed_call():
    """Red team, 2026-12-07: timing refilled its working sets from a few drawn value sets, reused, so a
    cache keyed on a strided sample of the inputs answered every call after the first of each set from
    memory: 5.5x reported for torch.matmul itself, passed, nothing flagged. Every timed call now sees a
    fresh draw: the cache only costs time."""
    matmul = FIXTURES / "matmul_cpu" if not HAS_GPU else KERNELS / "matmul"
    report = smoke(matmul, CHEATS / "content_cache.py", "both", timeout_s=600)
    assert report.timing, (report.error, report.flags)
    timing = report.timing[0]
    assert timing.speedup < 1.5, (timing.speedup, timing.candidate, timing.reference)
    assert timing.reference.judge_ms < 2 * timing.candidate.judge_ms, (timing.reference, timing.candidate)
    assert "fresh draw before every call" in timing.input_sets_why


@pytest.mark.skipif(HAS_GPU, reason="on the GPU the candidate's host threads are its own; GPU time is timed")
def test_a_candidate_timed_on_more_cores_than_the_reference_is_flagged_on_the_cpu():
    """Red team, 2026-12-07: torch.set_num_threads inside the call: 1.5x for torch.matmul itself on two
    cores, passed. The kernel's count of the candidate's CPU time over the judge's batches shows it."""
    import os

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: a candidate cannot use more than the reference here")
    report = smoke(FIXTURES / "matmul_cpu", CHEATS / "cpu_threads.py", "both", timeout_s=600)
    assert "cpu_cores_exceeded" in flag_names(report) and not report.passed, (report.flags, report.error)
    honest = smoke(FIXTURES / "matmul_cpu", KERNELS / "matmul" / "examples" / "submission_torch.py", "both")
    assert honest.passed and "cpu_cores_exceeded" not in flag_names(honest), honest.flags
