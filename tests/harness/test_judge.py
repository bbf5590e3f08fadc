"""The trust boundary: the verdict, the times and the report come from the judge, a process the
candidate never runs in (issue 18). Each attack below worked against a harness that judged in the
candidate's process; here it must fail, or be flagged, and never change an honest verdict.
"""

import json
import os
import re
import socket
import struct

import pytest
from conftest import CANDIDATES, FIXTURES, HAS_GPU, KERNELS, REPO, flag_names, gpu, harness_cli, smoke

JUDGE = CANDIDATES / "cheats" / "judge"
VECTORADD = KERNELS / "vectoradd"
PREFIX_SUM = KERNELS / "prefix_sum"
VECTORADD_LARGE = FIXTURES / "vectoradd_large"
HONEST = VECTORADD / "examples" / "submission_torch.py"

ZEROS_FAIL = [
    # (attack, problem, candidate)
    ("harness comparison and verdict patched", VECTORADD, "patch_compare.py"),
    ("problem's own check patched", PREFIX_SUM, "patch_problem_check.py"),
    ("report serialisation patched", VECTORADD, "patch_report.py"),
    ("gpu_harness modules replaced in sys.modules", VECTORADD, "sys_modules.py"),
    ("torch's comparison functions replaced", VECTORADD, "replace_torch_functions.py"),
    ("gc walk for expected outputs (NaN injection, answer copy)", VECTORADD, "gc_expected.py"),
    ("ptrace, /proc mem and fd writes into the judge and the worker", VECTORADD, "ptrace_judge.py"),
]


@pytest.mark.parametrize("attack,problem,candidate", ZEROS_FAIL, ids=[row[2][:-3] for row in ZEROS_FAIL])
def test_a_candidate_that_patches_the_judge_still_fails_on_its_zeros(attack, problem, candidate):
    report = smoke(problem, JUDGE / candidate, "test")
    assert not report.passed and report.status == "failed" and report.exit_code == 1, (attack, report.error)
    assert report.cases and not any(c.passed for c in report.cases), [
        (c.name, c.passed) for c in report.cases
    ]


def test_a_forged_report_on_every_descriptor_is_flagged_and_changes_nothing():
    report = smoke(VECTORADD, JUDGE / "forge_channel_fd_scan.py", "test")
    assert not report.passed and report.status == "failed"
    assert "report_forged" in flag_names(report), (report.flags, report.error)


def test_the_candidates_process_cannot_reach_the_judge_or_the_worker():
    report = smoke(VECTORADD, JUDGE / "ptrace_judge.py", "test")
    out = report.stdout_tail
    for who in ("judge", "worker"):
        assert f"{who} mem: denied" in out and f"{who} ptrace: denied" in out, out
        assert re.search(rf"{who} fd opens: 0 of \d+|{who} fd writes: denied", out), (
            out
        )  # listing is not opening
    assert not report.passed


def test_without_landlock_the_one_shot_path_still_keeps_the_candidate_out():
    """GPU_HARNESS_CONFINE=0 (a host without Landlock): what is left - a non-dumpable parent and judge,
    a candidate with no capabilities - must still keep it from their memory and descriptors."""
    env = dict(os.environ, GPU_HARNESS_CONFINE="0", PYTHONPATH=str(REPO))
    done = harness_cli("smoke", VECTORADD, JUDGE / "ptrace_judge.py", "--mode", "test", "--json", env=env)
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    assert doc["passed"] is False and doc["status"] == "failed", doc.get("error")
    out = doc["stdout_tail"]
    assert "judge mem: denied" in out and "judge ptrace: denied" in out, out
    assert re.search(r"judge fd opens: 0 of \d+|judge fd writes: denied", out), out
    assert re.search(r"worker fd opens: 0 of \d+|worker fd writes: denied", out), out


def test_the_candidates_process_holds_no_pipe_and_one_socket():
    report = smoke(VECTORADD, CANDIDATES / "probes" / "open_fds.py", "test")
    assert report.passed, (report.flags, report.error)
    line = next(x for x in report.stdout_tail.splitlines() if x.startswith("fds: "))
    kinds = dict(item.split(":") for item in line[5:].split())
    assert "fifo" not in kinds.values(), line  # the judge's result pipe is not inherited
    assert list(kinds.values()).count("socket") == 1, line  # its own end of the channel, nothing else
    assert set(kinds) >= {"0", "1", "2"}


def test_nothing_in_a_timed_request_tells_the_candidate_whether_its_output_will_be_checked():
    """Which timed samples the judge checks is drawn after each call; a request that said so let a
    candidate skip the work on every unchecked call (red team, 2026-12-07: 3.7x on matmul, unflagged)."""
    report = smoke(VECTORADD, JUDGE / "skip_unchecked_samples.py", "both")
    assert "skipped a timed call" not in report.stdout_tail, report.stdout_tail[-300:]
    assert report.passed, report.error


@pytest.mark.parametrize(
    "candidate",
    ["patch_perf_counter.py", "patch_timed_call.py", "patch_timed_call_by_four.py", "memoize_batches.py"],
)
def test_a_forged_clock_is_flagged_and_the_speedup_is_the_judges(candidate):
    # calls far above the launch allowance (the CPU's 2048^2 add, the GPU's 8192^2 and up): a tenfold
    # claim is far outside the judge's noise
    problem = VECTORADD if HAS_GPU else VECTORADD_LARGE
    honest = smoke(problem, HONEST, "both", timeout_s=600)
    forged = smoke(problem, JUDGE / candidate, "both", timeout_s=600)
    assert honest.passed and "timing_disagrees" not in flag_names(honest), honest.flags
    assert "timing_disagrees" in flag_names(forged), (forged.flags, forged.timing)
    assert not forged.passed
    timing = forged.timing[0]
    assert timing.candidate.claimed_median_ms is not None
    assert timing.candidate.median_ms > timing.candidate.claimed_median_ms
    # what is reported is bounded by the judge's clock: nowhere near the tenfold the clock claimed. Both
    # sides are read from this one report: two runs on a loaded 2-core machine differ by half (CI saw a
    # reference median of 1.08 ms in one run and 1.62 ms in the next)
    claimed_speedup = timing.reference.median_ms / timing.candidate.claimed_median_ms
    # reported from the claim, this ratio would be 1.0; under load (the judge's noise band wide, the
    # forged claim itself smaller: 2.7x with a load of 3.5 on 2 cores) the judge's bound comes to 0.8
    assert timing.speedup < 0.9 * claimed_speedup, (timing.speedup, claimed_speedup)
    judges_ratio = timing.reference.judge_ms / timing.candidate.judge_ms
    assert timing.speedup < 4 * judges_ratio, (timing.speedup, judges_ratio)


def test_the_judges_clock_times_an_output_written_in_place_as_the_references():
    """The copy-back the judge takes off a batch is what the candidate's process copied: an output it
    wrote in place (into the output buffer of its set) was not copied. Taking off the judge's own clone
    of it instead (fresh memory: page faults on the CPU) made honest torch.add look twice as fast as
    the same call in the reference (1.0 against 2.3 ms per call, 2026-12-07)."""
    report = smoke(VECTORADD if HAS_GPU else VECTORADD_LARGE, HONEST, "both", timeout_s=600)
    timing = report.timing[0]
    ratio = timing.candidate.judge_ms / timing.reference.judge_ms
    assert 0.67 < ratio < 1.5, (timing.candidate, timing.reference)


def test_an_honest_candidate_agrees_with_the_judges_clock_and_reports_it():
    report = smoke(VECTORADD, HONEST, "both")
    assert report.passed and report.flags == []
    timing = report.timing[0]
    assert timing.candidate.judge_ms and timing.reference.judge_ms
    assert timing.judge_calls >= 1 and timing.judge_rounds >= 1
    assert timing.candidate.claimed_median_ms is None


def test_a_correct_kernel_whose_timing_hangs_is_correct_but_not_timed_never_failed():
    report = smoke(
        VECTORADD, JUDGE / "hang_when_timed.py", "both", timeout_s=12, deadline_s=8, compile_allowance_s=0
    )
    assert report.status == "error" and report.exit_code == 2, (report.status, report.error)
    assert report.cases and all(c.passed for c in report.cases)
    assert report.error.message.startswith("correct, not timed:"), report.error.message
    assert "timeout_s=" in report.error.message and "--timeout" in report.error.message


# -- pieces, without a worker -------------------------------------------------------------------
def test_the_judge_refuses_anything_but_one_json_answer_in_sequence():
    from gpu_harness.channel import HEADER, JudgeEnd, ProtocolViolation

    def answer_with(raw: bytes):
        judge, cand = socket.socketpair()
        end = JudgeEnd(judge)
        cand.sendall(raw)
        try:
            return end.request({"op": "ping"}, 2.0)
        finally:
            judge.close()
            cand.close()

    def frame(body: bytes) -> bytes:
        return HEADER.pack(len(body)) + body

    assert answer_with(frame(b'{"seq": 1, "ok": true}')) == {"seq": 1, "ok": True}
    for raw in (
        frame(b"not json"),
        frame(b'{"seq": 7}'),
        frame(b"[1]"),
        frame(b'{"seq": 1}') + frame(b'{"seq": 2}'),
        struct.pack("!Q", 1 << 40),
    ):
        with pytest.raises(ProtocolViolation):
            answer_with(raw)


def test_the_judges_bound_flags_a_claim_beyond_noise_and_launch_cost_only():
    from gpu_harness.timing_flags import supported_ms, timing_disagrees

    assert timing_disagrees(1.0, 1.1, 100, 3, "cuda") is None  # warm batches run a bit either way
    assert timing_disagrees(0.004, 0.03, 500, 3, "cuda") is None  # a tiny kernel: launch cost
    assert timing_disagrees(0.1, 1.0, 20, 3, "cuda")  # a tenth of what the judge saw
    assert timing_disagrees(0.1, 1.0, 20, 3, "cpu")
    assert supported_ms(1.0, "cuda") == pytest.approx((1.0 - 0.05) / 1.25)


def test_a_batchs_fixed_cost_is_allowed_over_its_calls_and_no_further():
    """A batch calls each working set once, so where memory allows one set its fixed cost (the request,
    waking the candidate's process) is all in one call: softmax on its memory floor was failed on the
    CPU (580 us claimed, 619 us allowed). Spread over 64 sets the same excess is not believed."""
    from gpu_harness.timing_flags import timing_disagrees

    assert timing_disagrees(0.58, 0.95, 1, 3, "cpu", (1.2, 0.6)) is None
    assert timing_disagrees(0.58, 0.95, 64, 3, "cpu", (1.2, 0.6))


def test_the_judges_bound_is_calibrated_on_the_references_own_cold_over_warm_ratio():
    from gpu_harness.timing_flags import supported_ms, timing_disagrees

    # the reference's cold samples are 3x its warm batches: a claim of 1.6x the candidate's batches is
    # honest work within the slack, 0.8x (a wrap dividing by four) is not, though the plain bound allows it
    assert timing_disagrees(1.6, 1.0, 20, 3, "cpu", (3.0, 1.0)) is None
    detail = timing_disagrees(0.8, 1.0, 20, 3, "cpu", (3.0, 1.0))
    assert detail and "3.0x its batched ones" in detail
    assert timing_disagrees(0.8, 1.0, 20, 3, "cpu") is None
    assert supported_ms(1.0, "cpu", (3.0, 1.0)) == pytest.approx(
        1.0
    )  # CPU slack 3: the by-four wrap stays out
    # nothing to tighten on: launch-bound batches; a reference faster cold than back to back loosens it
    assert supported_ms(0.01, "cuda", (0.3, 0.01)) == supported_ms(0.01, "cuda")
    assert supported_ms(1.0, "cuda", (0.9, 1.0)) == pytest.approx(0.9 / 2)
    # a candidate far slower than the reference spends its time elsewhere (Triton's CPU interpreter: 368 ms
    # claimed, 358 ms per call batched, against the reference's 1.4 ms cold and 0.6 ms batched)
    assert timing_disagrees(368.3, 358.3, 1, 9, "cpu", (1.396, 0.615)) is None
    assert supported_ms(358.3, "cpu", (1.396, 0.615)) == supported_ms(358.3, "cpu")
    # a reference never batched (no finite time) leaves the plain bound, never a bound of zero
    assert supported_ms(1.0, "cuda", (0.9, float("inf"))) == supported_ms(1.0, "cuda")


def test_where_the_problem_or_the_candidate_is_bound_by_the_host_honest_claims_are_not_refuted():
    """H100, 2026-12-07: GPU MODE's own sort solution (96 us of GPU time, 184 us back to back: the host's
    work) and a torch.compile candidate (13 us, 78 us back to back) were failed as forged clocks."""
    from gpu_harness.timing_flags import host_bound, supported_ms, timing_disagrees

    # the reference's own batches are slower than its cold samples: the problem is bound by the host
    assert timing_disagrees(0.096, 0.184, 208, 9, "cuda")
    assert timing_disagrees(0.096, 0.184, 208, 9, "cuda", (0.094, 0.180)) is None
    assert supported_ms(0.184, "cuda", (0.094, 0.180)) < supported_ms(0.184, "cuda")
    assert timing_disagrees(0.0096, 0.184, 208, 9, "cuda", (0.094, 0.180))  # a tenth is still refuted
    # the candidate's own host time explains its batches: its claim cannot be checked, only replaced
    assert host_bound(0.070, 0.078, "cuda") and "host" in host_bound(0.070, 0.078, "cuda")
    assert host_bound(0.010, 0.078, "cuda") is None
    assert host_bound(None, 0.078, "cuda") is None
    assert host_bound(1.0, 1.0, "cpu") is None


def test_not_timed_is_an_error_status_and_keeps_the_cases():
    from gpu_harness.evaluate import not_timed
    from gpu_harness.outcome import CaseResult, Report, StageError

    report = Report(problem="p", candidate="c", mode="both")
    report.cases = [CaseResult(passed=True, name="test0")]
    report.error = StageError("time", "timeout", "no answer")
    not_timed(report, "a timed call did not return in time", "timeout_s=90 (--timeout 90)", "not_timed")
    report.finish()
    assert report.status == "error" and report.exit_code == 2 and not report.passed
    assert report.error.message.startswith(
        "correct, not timed: a timed call did not return in time; pass timeout_s=90"
    )
    failed = Report(
        problem="p",
        candidate="c",
        mode="both",
        cases=[CaseResult(passed=False, name="t")],
        error=StageError("time", "timeout", "no answer"),
    )
    not_timed(failed, "why", "arg", "not_timed")
    assert failed.error.kind == "timeout" and failed.finish().status == "failed"


@gpu
def test_forged_events_on_the_gpu_are_flagged_by_the_judges_clock():
    report = smoke(VECTORADD, JUDGE / "patch_perf_counter.py", "both", timeout_s=600)
    assert "timing_disagrees" in flag_names(report) or "patched_elapsed_time" in flag_names(report)
    assert not report.passed


@gpu
def test_honest_gpu_kernels_agree_with_the_judges_clock():
    for problem in ("vectoradd", "softmax", "matmul"):
        report = smoke(
            KERNELS / problem, KERNELS / problem / "examples" / "submission_torch.py", "both", timeout_s=600
        )
        assert report.passed and "timing_disagrees" not in flag_names(report), (problem, report.flags)


def test_an_output_handed_back_is_freed_when_its_last_reference_goes_without_a_collection():
    """H100, 2026-12-07: KernelBench's ReLU at full size ran out of memory at once: hand_back's nested
    describe() and its closure kept every output (6 GB each) alive until the cyclic collector ran."""
    import gc
    import weakref

    import torch

    from gpu_harness import arena
    from gpu_harness.hand_back import hand_back

    shared, _msg, fd = arena.create_cpu(0, 1 << 22)
    os.close(fd)
    out = torch.ones(1000)
    alive = weakref.ref(out)
    gc.disable()
    try:
        doc = hand_back(out, (0, 0, 1 << 21), {0: shared}, lambda: None)
        assert "out" in doc
        del out, doc
        assert alive() is None
    finally:
        gc.enable()


def test_an_output_description_the_judge_cannot_read_costs_no_copy_and_raises_nothing():
    """The copy-back estimate reads the candidate's own description of its outputs: one naming no arena,
    an unknown dtype or no shape was flagged by the rebuild already, and must not stop the judge."""
    import socket as sockets

    import torch

    from gpu_harness import batch_call
    from gpu_harness.remote import RemoteCandidate

    judge_end, other = sockets.socketpair()
    remote = RemoteCandidate(os.getpid(), judge_end, torch.device("cpu"), lambda: 10.0, print, print)
    tensor = {"k": "tensor", "arena": 0, "offset": 0, "dtype": "torch.float32", "shape": [4], "stride": [1]}
    region = (0, 0, 64)
    for doc in (tensor, {**tensor, "dtype": "torch.nonsense"}, {**tensor, "shape": None}, "not a doc"):
        assert batch_call.copy_ms(remote, [(doc, region)]) == 0.0
    judge_end.close()
    other.close()


def test_one_call_alone_bounds_a_claim_whose_batched_calls_overlapped():
    # the four-stream cheat: 8 ms a call alone, batches overlapped to 2 ms a call, claim 2 ms
    from gpu_harness.timing_flags import calls_overlap, single_supported_ms, timing_disagrees

    assert timing_disagrees(2.0, 2.0, 8, 3, "cuda") is None  # the batches alone cannot see it
    detail = calls_overlap(2.0, 9.0, 2.0, "cuda")
    assert detail and "one call alone" in detail
    assert single_supported_ms(9.0, "cuda") == pytest.approx((9.0 - 3.0 - 0.05) / 1.25)
    # honest: the one-call batch is the call and its fixed cost, 1-1.5 ms on the H100, allowed whole
    assert calls_overlap(8.0, 9.5, 8.0, "cuda") is None
    assert calls_overlap(0.128, 1.628, 0.165, "cuda") is None  # vectoradd: the fixed cost is all of it
    assert calls_overlap(2.0, 4.5, 2.0, "cuda") is None
    assert single_supported_ms(float("inf"), "cuda") == 0.0  # none measured (the CPU)


def test_the_report_holds_a_claim_to_what_one_call_alone_supports():
    """benchmark.judge_clock on the four-stream cheat's numbers: batches agree with the claim, one call
    alone does not; the flag is raised and the reported time is the one-call bound, never the claim."""
    from types import SimpleNamespace

    import torch

    from gpu_harness import benchmark
    from gpu_harness.judge_clock import JudgeCheck
    from gpu_harness.outcome import Report, Summary, TimingResult
    from gpu_harness.timing_flags import single_supported_ms

    def judged(single_ms, host_call_ms=None):
        report = Report(problem="p", candidate="c", mode="benchmark")
        ev = SimpleNamespace(
            problem=SimpleNamespace(device=torch.device("cuda")), report=report, null_batch_ms=None
        )
        cand = Summary(2.0, 1.9, 2.1, 20, 0.01, host_call_median_ms=host_call_ms)
        result = TimingResult("big", {}, "cuda_events", Summary(4.0, 3.9, 4.1, 20, 0.01), cand, 2.0)
        judge = JudgeCheck(2.0, 4.0, 8, 3, 24, 0, single_ms=single_ms)
        benchmark.judge_clock(ev, SimpleNamespace(name="big"), result, SimpleNamespace(judge=judge))
        return report, result

    report, result = judged(9.0)
    assert "timing_disagrees" in flag_names(report) and "one call alone" in report.flags[0].detail
    assert result.candidate.median_ms == pytest.approx(single_supported_ms(9.0, "cuda"))
    assert result.candidate.claimed_median_ms == 2.0 and result.candidate.judge_single_ms == 9.0
    assert result.speedup == pytest.approx(4.0 / single_supported_ms(9.0, "cuda"))
    report, result = judged(3.5)  # honest: the call and its fixed cost
    assert not report.flags and result.candidate.median_ms == 2.0 and result.speedup == 2.0
    report, result = judged(9.0, host_call_ms=7.0)  # a call bound by its own host work: not refutable
    assert "timing_disagrees" not in flag_names(report) and "host_bound_calls" in {
        n.name for n in report.notes
    }


def test_handing_an_output_back_reads_no_tensor_of_the_arenas_it_looks_in():
    """Every output the candidate's process hands back is looked for in every arena; asking torch for
    each arena's address there cost ~0.1 ms an output with 64 arenas (64 MB input sets), which the
    judge's batch clock counted as call time: honest rowsum and a Triton matmul were flagged
    `timing_disagrees` on the H100 and the H200 (2026-12-08). The lookup reads plain numbers kept
    when each arena was opened."""
    import torch

    from gpu_harness.arena import create
    from gpu_harness.hand_back import hand_back

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"the lookup asked an arena's tensor for {name}")

    arenas = {}
    for ident in range(8):
        arena, _msg, fd = create(ident, 1 << 20, torch.device("cpu"))
        os.close(fd)
        arenas[ident] = arena
    inside = arenas[5].view(4096, torch.float32, (16,), (1,))
    fresh = torch.arange(16, dtype=torch.float32)
    regions = {ident: arena.tensor for ident, arena in arenas.items()}
    for arena in arenas.values():
        arena.tensor = Untouchable()
    assert hand_back(inside, None, arenas, lambda: None)["out"]["arena"] == 5
    assert hand_back(fresh, None, arenas, lambda: None)["out"]["arena"] is None
    for ident, tensor in regions.items():
        arenas[ident].tensor = tensor
    doc = hand_back(fresh, (2, 0, 1 << 16), arenas, lambda: None)["out"]
    assert (doc["arena"], doc["offset"], doc["stride"]) == (2, 0, [1])
    assert torch.equal(arenas[2].view(0, torch.float32, (16,), (1,)), fresh)


def test_the_one_call_fixed_cost_is_measured_before_the_candidate_can_slow_it():
    """judge_null_ms: the harness's own one-call batches, asked before the candidate is imported. A
    candidate that patches that op to sleep 50 ms (so that a bound taking the fixed cost off would
    loosen) changes nothing: the measure was taken while its module did not exist in the process."""
    honest = smoke(VECTORADD, HONEST, "both").timing[0].candidate.judge_null_ms
    patched = smoke(VECTORADD, JUDGE / "slow_null_batch.py", "both")
    measured = patched.timing[0].candidate.judge_null_ms
    assert honest is not None and 0 < honest < 50, honest
    assert measured is not None and 0 < measured < 50, measured
