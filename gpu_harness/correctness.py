"""Correctness of one case, in the order that keeps it honest:

    draw -> candidate twice on fresh copies (output buffers poisoned) -> guard the first output ->
    only now the reference -> the checker judges both runs -> (first case) replay probe, own kernel

This runs in the judge: the candidate runs in its own process (remote.py) on copies in shared
memory, and its outputs are cloned into the judge's own memory as soon as they come back. The
reference output of a case does not exist while the candidate runs, and never in its process. The problem's own checker
(GPU MODE `check_implementation`, or task.yml tolerances) is the authority for every comparison of
two outputs, the two-run determinism check included; bit-level differences within it are a note.
"""

from __future__ import annotations

from typing import Any

import torch

from gpu_harness import check, guard
from gpu_harness.check import clone_tree, same_bits, scrub, tensor_leaves
from gpu_harness.guard import perf_counter_ns
from gpu_harness.hand_back import Opaque
from gpu_harness.outcome import STAGE_CHECK, STAGE_RUN, STAGE_SETUP, CaseResult, Comparison
from gpu_harness.problem import Case
from gpu_harness.state import EvalState

PROBE_SEED_OFFSET = 104729


def check_case(ev: EvalState, case: Case, probe: bool = False) -> CaseResult:
    started = perf_counter_ns()
    ev.stage(STAGE_SETUP)
    ev.candidate.new_case()
    data = ev.problem.generate(case.params)  # pristine: only the reference sees it

    ev.stage(STAGE_RUN)
    cand_data = ev.candidate_copy(data)
    mark = ev.candidate.pool.mark()  # after the inputs: only return regions and the second set follow
    out = ev.call_candidate(cand_data)
    first = clone_tree(out)  # as it was when the answer came: the judge's own copy
    failure = guard_output(ev, case, out, cand_data, data)
    if failure is not None:
        return _finish(CaseResult.of(case.name, case.kind, case.public_params(), failure), started)
    del out
    ev.candidate.pool.rewind(mark)  # the first return region: cloned, free for the second set
    if not probe:
        del cand_data
    second = clone_tree(ev.call_candidate(ev.candidate_copy(data)))  # same inputs, fresh memory
    ev.candidate.pool.rewind(mark)  # the second set and its return region: done with

    # Only now, with the candidate's calls done, does the reference output exist.
    ev.stage(STAGE_CHECK)
    verdict = judge(ev, data, first)
    result = CaseResult.of(case.name, case.kind, case.public_params(), verdict)
    result.bitwise_repeatable = two_runs(ev, case, data, first, second, verdict)
    del second
    first_print = check.fingerprint(first) if probe else ()
    scrub(first)
    del first
    if probe and result.passed:
        replay_probe(ev, case, cand_data, mark, data, first_print)
        kernel_ownership(ev, data)
    return _finish(result, started)


def _finish(result: CaseResult, started: int) -> CaseResult:
    result.seconds = (perf_counter_ns() - started) / 1e9
    return result


def guard_output(ev: EvalState, case: Case, out: Any, cand_data: Any, pristine: Any) -> Comparison | None:
    """Flags on the output's type, aliasing and input mutation; a failed Comparison when the output
    cannot be compared at all."""
    problems = guard.output_type_problems(out)
    for name, detail in problems:
        ev.report.add_flag(name, detail)
    if any(name == guard.FLAG_LAZY_OUTPUT for name, _ in problems):
        return Comparison(False, check.REASON_NOT_A_TENSOR, problems[0][1])
    opaque = [leaf for leaf in check.leaves(out) if isinstance(leaf, Opaque)]
    if opaque:  # a subclass, or something else the candidate's process could not hand back
        return Comparison(
            False, check.REASON_NOT_A_TENSOR, f"output is {opaque[0].type_name}, not torch.Tensor"
        )
    held = tensor_leaves(pristine)
    for name, detail in guard.alias_problems(out, tensor_leaves(cand_data), ev.plan.writable, held):
        ev.report.add_flag(name, detail)
    for i, (now, before) in enumerate(zip(tensor_leaves(cand_data), held)):
        if i not in ev.plan.writable and not same_bits(now, before):
            ev.report.add_flag(
                guard.FLAG_INPUT_MUTATED,
                f"case {case.name}: input #{i} {tuple(now.shape)} was changed by the call; it is "
                f"read by the reference (output buffers: {sorted(ev.plan.writable) or 'none'})",
            )
    return None


def reference_output(ev: EvalState, data: Any) -> Any:
    """The reference on pristine inputs (a copy when it writes into them). Never a view of them:
    the caller scrubs it."""
    with torch.no_grad():
        out = ev.problem.reference(clone_tree(data) if ev.plan.writable else data)
    inputs = tensor_leaves(data)
    if any(check.shares_memory(o, i) for o in tensor_leaves(out) for i in inputs):
        out = clone_tree(out)
    return out


def judge(ev: EvalState, data: Any, output: Any) -> Comparison:
    """The problem's own check, when it has one, decides; the harness's comparison (one more
    reference call) fills the error statistics, and says what went wrong when the own check fails.
    Without an own check, the harness's comparison at the problem's tolerances decides."""
    own = ev.problem.own_check(clone_tree(data) if ev.plan.writable else data, output)
    if own is not None and own[0]:
        return Comparison(True, message="passed the problem's own check", numel=_numel(output))
    expected = reference_output(ev, data)
    comparison = check.compare(output, expected, ev.rtol, ev.atol)
    if (
        own is not None
        and comparison.reason == check.REASON_WRONG_DTYPE
        and type(output) is torch.Tensor
        and isinstance(expected, torch.Tensor)
        and output.shape == expected.shape
    ):
        # The problem accepts another dtype (its prefix sum returns float64 for a float32 buffer):
        # diagnose the values instead.
        comparison = check.compare(output.to(expected.dtype), expected, ev.rtol, ev.atol)
    scrub(expected)
    del expected
    if own is None:
        return comparison
    if comparison.passed or not comparison.reason:
        comparison.reason = check.REASON_PROBLEM_CHECK
    comparison.passed = False
    comparison.message = (own[1] or comparison.message)[:2000]
    return comparison


def _numel(output: Any) -> int:
    return sum(t.numel() for t in tensor_leaves(output))


def two_runs(
    ev: EvalState, case: Case, data: Any, first: Any, second: Any, verdict: Comparison
) -> bool | None:
    """Same inputs, fresh memory, two runs: beyond the problem's tolerance means uninitialised reads
    or races (a flag); within it, low-bit differences are a note. None when not comparable."""
    if not (type(second) is torch.Tensor or isinstance(second, (tuple, list, dict))):
        return None
    if check.outputs_same_bits(second, first):
        return True
    if ev.problem.has_own_check():
        # The problem's checker is the authority: the second run must pass wherever the first did.
        consistent = not verdict.passed or judge(ev, data, second).passed
    else:
        consistent = check.compare(second, first, ev.rtol, ev.atol).passed
    if not consistent:
        ev.report.add_flag(
            guard.FLAG_NONDETERMINISTIC,
            f"case {case.name}: two runs on the same inputs differ beyond the problem's tolerance "
            "(uninitialised reads or races)",
        )
    else:
        ev.report.add_note(
            guard.NOTE_BITWISE_DIFFERENCES,
            "two runs on the same inputs differ in low bits, within the problem's tolerance "
            "(atomics or reordered sums are legitimate)",
        )
    return False


def replay_probe(
    ev: EvalState, case: Case, cand_data: Any, mark: list[int], data: Any, first_print: tuple
) -> None:
    """Refill the buffers of the first call in place (same pointers, ids, version counters) with a
    new draw; a candidate that replays a cached answer returns the old one. Where the problem's
    outputs are small against its tolerance the old answer may pass for the new one: an answer that
    came back bit for bit unchanged (`first_print`) while the reference's changed is a replay too."""
    from gpu_harness.rotation import refill_in_place

    fresh = ev.problem.generate(_offset(case.params, PROBE_SEED_OFFSET))
    refill_in_place(cand_data, fresh, ev.plan.poisonable)
    ev.stage(STAGE_RUN)
    out = clone_tree(ev.call_candidate(cand_data))
    ev.candidate.pool.rewind(mark)  # its return region, free for kernel_ownership's copy
    ev.stage(STAGE_CHECK)
    verdict = judge(ev, fresh, out)
    if not verdict.passed:
        ev.report.add_flag(
            guard.FLAG_RESULT_REPLAY,
            f"case {case.name}: after its input buffers were refilled in place with new "
            f"values (same pointers, ids and version counters) the output was wrong "
            f"({verdict.message[:200]}): a cache keyed on pointer, id or version",
        )
    elif first_print and check.fingerprint(out) == first_print and _reference_moved(ev, data, fresh):
        ev.report.add_flag(
            guard.FLAG_RESULT_REPLAY,
            f"case {case.name}: after its input buffers were refilled in place with new values (same "
            f"pointers, ids and version counters) its output came back bit for bit as before, though the "
            f"reference's answer changed (the old answer is within tolerance only because the values are "
            f"small against it): a cache keyed on pointer, id or version",
        )
    scrub(out)
    scrub(fresh)


def _reference_moved(ev: EvalState, old: Any, new: Any) -> bool:
    """Whether the reference's answers on the two inputs differ in their bits (one at a time in memory)."""
    prints = []
    for inputs in (old, new):
        answer = reference_output(ev, inputs)
        prints.append(check.fingerprint(answer))
        scrub(answer)
        del answer
    return prints[0] != prints[1]


def kernel_ownership(ev: EvalState, data: Any) -> None:
    """A note (never a flag) when the candidate's work is only the reference's own ops (listed by its
    own process: a note it could only suppress). Skipped for torch.compile'd candidates: their ops
    are Inductor's kernels, and tracing them again under a dispatch mode would recompile."""
    answer = ev.candidate.ownership(ev.candidate_copy(data))  # listed in the candidate's process
    ops, borrowed = answer.get("ops"), [str(b) for b in answer.get("borrowed") or []][:10]
    if ops is None:
        return
    try:
        ref_ops = guard.op_names(lambda: (ev.problem.reference(clone_tree(data)), ev.synchronize()))
    except Exception:  # the dispatch mode is a diagnostic; its failure is not the candidate's
        return
    detail = guard.fallback_detail({str(o) for o in ops}, ref_ops)
    if borrowed:
        detail = (detail + "; " if detail else "") + f"it imports the reference's {', '.join(borrowed)}"
    if detail:
        ev.report.add_note(guard.NOTE_NO_OWN_KERNEL, detail)


def _offset(params: dict[str, Any], offset: int) -> dict[str, Any]:
    return dict(params, seed=int(params["seed"]) + offset) if "seed" in params else dict(params)
