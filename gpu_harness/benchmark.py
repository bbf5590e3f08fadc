"""One benchmark case: time it (timing.py), read the flags its numbers raise (timing_flags.py,
roofline.py), release what it held, and re-check correctness on fresh inputs."""

from __future__ import annotations

import math
import statistics
from typing import Any

import torch

from gpu_harness import guard, memory, roofline, timing_flags
from gpu_harness.correctness import check_case, judge
from gpu_harness.outcome import STAGE_TIME, CandidateFailure, TimingResult
from gpu_harness.problem import Case, classify_exception, combine_seed
from gpu_harness.state import EvalState
from gpu_harness.timing import TimingInputs, time_case

TIMING_SECRET_OFFSET = 17
RECHECK_SECRET_OFFSET = 1


def time_benchmark(ev: EvalState, case: Case, time_cap_s: float) -> TimingResult:
    ev.stage(STAGE_TIME)
    base_seed = int(case.params.get("seed", 0))

    def generate(seed: int) -> Any:
        return ev.problem.generate(dict(case.params, seed=seed) if "seed" in case.params else case.params)

    def verify(pristine: Any, out: Any) -> tuple[bool, str]:
        verdict = judge(ev, pristine, out)
        return verdict.passed, f"{verdict.reason}: {verdict.message[:300]}"

    def reference(data: Any) -> Any:
        with torch.no_grad():
            return ev.problem.reference(data)

    job = TimingInputs(
        reference=reference,
        candidate=ev.candidate,
        generate=generate,
        verify=verify,
        seed=combine_seed(base_seed, ev.secret + TIMING_SECRET_OFFSET),
        time_cap_s=time_cap_s,
        poisonable=ev.plan.poisonable,
        overrides={**ev.problem.settings.timing, **ev.overrides},
    )
    try:
        try:
            outcome = time_case(case.name, case.public_params(), job, ev.problem.device)
        except torch.OutOfMemoryError:
            # Free memory shrank under us (another process on the GPU): once more with the fewest sets,
            # one working set. A second out-of-memory is the candidate's.
            memory.release(ev.problem.device, force=True)
            job.overrides = dict(job.overrides, memory_bytes=0)
            outcome = time_case(case.name, case.public_params(), job, ev.problem.device)
            outcome.result.input_sets_why += "; retried with one set after an out-of-memory while timing"
    except CandidateFailure:
        raise
    except Exception as exc:
        raise classify_exception(exc, STAGE_TIME) from exc
    result = outcome.result
    if outcome.changed_after_return:
        ev.report.add_flag(
            guard.FLAG_SIDE_STREAM,
            f"case {case.name}: {outcome.changed_after_return} verified timed outputs changed after "
            "the call returned: work deferred past the end of the timed region",
        )
    if outcome.failed_verifications:
        ev.report.add_flag(
            guard.FLAG_RESULT_REPLAY,
            f"case {case.name}: {outcome.failed_verifications} of {result.verified_samples} verified "
            "timed calls returned wrong outputs after in-place refills: stale answers (a cache keyed "
            "on pointer, id or version, or work skipped or deferred when timed); first: "
            f"{outcome.first_failure}",
        )
    timing_flags_for(ev, case, result, outcome)
    del outcome
    memory.release(ev.problem.device)
    return result


def timing_flags_for(ev: EvalState, case: Case, result: TimingResult, outcome) -> None:
    ref, cand = result.reference, result.candidate
    if outcome.hidden_work:  # seen on most samples of two rounds (timing.py, step 4)
        ev.report.add_flag(guard.FLAG_SIDE_STREAM, f"case {case.name}: {outcome.hidden_work}")
    if ev.problem.settings.roofline:
        result.floor_ms = floor_ms(ev, outcome)
        # Conservative reading: even the candidate's slow samples (p90) beat the floor.
        detail = roofline.below_roofline(cand.p90_ms, result.floor_ms, ev.problem.device.type)
        if detail:
            ev.report.add_flag(guard.FLAG_BELOW_ROOFLINE, f"case {case.name}: {detail}")
    # Conservative reading: the reference's fast samples (p10) against the candidate's slow ones
    # (p90), so that a noisy host clock cannot raise this flag on an honest candidate.
    # An honest kernel at or above the roofline floor is not a cheat however slow the reference is:
    # the speed-up alone is flagged only where there is no floor, or the candidate is below it.
    detail = timing_flags.speedup_insane(
        ref.p10_ms / cand.p90_ms if cand.p90_ms > 0 else math.inf, ev.problem.settings.speedup_sanity_limit
    )
    if detail and result.floor_ms and cand.p90_ms >= timing_flags.SPEEDUP_FLOOR_SHARE * result.floor_ms:
        detail = None
    if detail:
        ev.report.add_flag(guard.FLAG_SPEEDUP_SANITY, f"case {case.name}: {detail}")
    if cand.median_ms < timing_flags.TIMING_RESOLUTION_MS and ev.on_gpu:
        ev.report.add_note(
            guard.NOTE_BELOW_TIMING_RESOLUTION,
            f"case {case.name}: median {cand.median_ms * 1e3:.1f} us is near launch latency; "
            "the ratio is below timing resolution",
        )
    judge_clock(ev, case, result, outcome)  # last: the flags above read the candidate's own claim


def judge_clock(ev: EvalState, case: Case, result: TimingResult, outcome) -> None:
    """The candidate's event times are its own claims; the judge's batches bound them, and its one-call
    batches bound the latency where batched calls could overlap. A claim beyond noise below either is
    flagged, and the candidate's times in the report are never below what the judge's clock supports
    (the claim is kept beside them)."""
    judge = outcome.judge
    cand = result.candidate
    if judge is None or not math.isfinite(judge.candidate_ms):
        return
    device = ev.problem.device.type
    cores = timing_flags.cpu_cores_exceeded(judge.candidate_cores, device)
    if cores:
        ev.report.add_flag(timing_flags.FLAG_CPU_CORES, f"case {case.name}: {cores}")
    calibration = (result.reference.median_ms, judge.reference_ms)
    supported = timing_flags.supported_ms(judge.candidate_ms, device, calibration, judge.calls)
    detail = timing_flags.timing_disagrees(
        cand.median_ms, judge.candidate_ms, judge.calls, judge.rounds, device, calibration
    )
    excuse = timing_flags.host_bound(cand.host_call_median_ms, judge.candidate_ms, device) if detail else None
    cand.judge_single_ms = judge.single_ms if math.isfinite(judge.single_ms) else None
    cand.judge_null_ms = ev.null_batch_ms
    overlap = timing_flags.calls_overlap(cand.median_ms, judge.single_ms, judge.candidate_ms, device)
    if overlap and not excuse:
        supported = max(supported, timing_flags.single_supported_ms(judge.single_ms, device))
        if detail is None:
            alone_ms = judge.single_ms - timing_flags.SINGLE_FIXED_MS[device]
            excuse = timing_flags.host_bound(cand.host_call_median_ms, alone_ms, device)
            detail = overlap
    if excuse and math.isfinite(judge.reference_ms) and judge.reference_ms > 0:
        # the judge's clocks, both sides back to back, in the reference's cold units
        supported = result.reference.median_ms * judge.candidate_ms / judge.reference_ms
        ev.report.add_note(timing_flags.NOTE_HOST_BOUND, f"case {case.name}: {excuse}")
    elif detail:
        ev.report.add_flag(timing_flags.FLAG_TIMING_DISAGREES, f"case {case.name}: {detail}")
    if supported > cand.median_ms:
        cand.claimed_median_ms = cand.median_ms
        scale = supported / cand.median_ms if cand.median_ms > 0 else 1.0
        cand.median_ms = supported
        cand.p10_ms = max(cand.p10_ms * scale, supported) if cand.p10_ms > 0 else supported
        cand.p90_ms = max(cand.p90_ms * scale, supported) if cand.p90_ms > 0 else supported
        result.speedup = result.reference.median_ms / supported


def floor_ms(ev: EvalState, outcome) -> float:
    """Bytes a call must move (inputs it reads, the output it writes) and the problem's flop
    count, against measured peaks."""
    flops = ev.problem.flop_count(outcome.first_set)
    leaves = [t for t in _tensors(outcome.first_set)]
    dtype = leaves[0].dtype if leaves else torch.float32
    bandwidth, rate = roofline.measured_peaks(ev.problem.device, dtype)
    return roofline.roofline_floor_ms(outcome.read_bytes + outcome.out_bytes, flops, bandwidth, rate)


def recheck(ev: EvalState, case: Case):
    """Correctness re-checked after the timing loop, on fresh inputs."""
    base_seed = int(case.params.get("seed", 0))
    params = (
        dict(case.params, seed=combine_seed(base_seed, ev.secret + RECHECK_SECRET_OFFSET))
        if "seed" in case.params
        else dict(case.params)
    )
    return check_case(ev, Case(f"recheck.{case.name}", "recheck", params))


def _tensors(tree: Any) -> list[torch.Tensor]:
    from gpu_harness.check import tensor_leaves

    return tensor_leaves(tree)


def overall_score(timed: list[TimingResult], ranking: str) -> dict[str, Any] | None:
    """The problem's ranking (task.yml `ranking_by`: last, mean or geometric mean) over the timed
    cases, as GPU MODE's leaderboard combines them."""
    if not timed:
        return None
    cand = [t.candidate.median_ms for t in timed]
    ref = [t.reference.median_ms for t in timed]
    combine = {
        "last": lambda xs: xs[-1],
        "mean": statistics.fmean,
        "geom": lambda xs: math.exp(statistics.fmean(math.log(max(x, 1e-12)) for x in xs)),
    }[ranking]
    return {
        "ranking_by": ranking,
        "candidate_ms": combine(cand),
        "reference_ms": combine(ref),
        "speedup": combine(ref) / combine(cand) if combine(cand) > 0 else None,
    }
