"""The judge's own measure of a problem, before the candidate is loaded: one draw and one reference
call per case shape, timed. The time plan (plan.py) is built from these numbers only; no candidate
code has run yet, so nothing a candidate does can make the problem look slower than it is.

Draws use a seed no case uses (like the output buffers' throwaway draw), and what they hold is
scrubbed and released before the next one.
"""

from __future__ import annotations

from typing import Any

import torch

from gpu_harness import check, memory
from gpu_harness.check import clone_tree, scrub, tensor_leaves
from gpu_harness.guard import perf_counter_ns
from gpu_harness.plan import Shape, Work
from gpu_harness.problem import Case
from gpu_harness.state import EvalState

SIZING_SEED_OFFSET = 6007
COMPARE_SAMPLE = 1 << 22  # elements of an answer compared to time the comparison


def measure(ev: EvalState) -> Work:
    """Shapes of the cases this evaluation will run. Tests: the first and the last are measured (a
    problem's tests usually grow), and every test is planned at their mean. Benchmarks: each one."""
    checks_tests = ev.mode in ("test", "both")
    uses_benchmarks = ev.mode in ("benchmark", "both")
    seen: list[Shape] = []
    by_params: dict[str, Shape] = {}

    def shape(case: Case) -> Shape:
        """Measured once per shape (the case's parameters but its seed: KernelBench's cases are one
        shape), or (a deadline that passed while measuring) the slowest shape seen so far."""
        key = repr(sorted((k, repr(v)) for k, v in case.params.items() if k != "seed"))
        if key in by_params:
            return by_params[key]
        if seen and ev.deadline.expired():
            return max(seen, key=lambda s: s.draw_s + s.call_s)
        seen.append(shape_of(ev, case))
        by_params[key] = seen[-1]
        return seen[-1]

    tests: list[Shape] = []
    if checks_tests and ev.problem.tests:
        ends = [ev.problem.tests[0]] + ([ev.problem.tests[-1]] if len(ev.problem.tests) > 1 else [])
        both = [shape(case) for case in ends]
        mean = Shape(
            sum(s.draw_s for s in both) / len(both),
            sum(s.call_s for s in both) / len(both),
            max(s.input_bytes for s in both),
            max(s.output_bytes for s in both),
            sum(s.compare_s for s in both) / len(both),
        )
        tests = [mean] * len(ev.problem.tests)
    benchmarks = [shape(case) for case in ev.problem.benchmarks] if uses_benchmarks else []
    return Work(
        tests,
        benchmarks,
        check_tests=checks_tests,
        check_benchmarks=uses_benchmarks,
        time_benchmarks=uses_benchmarks,
        device=ev.problem.device.type,
    )


def shape_of(ev: EvalState, case: Case) -> Shape:
    params = (
        dict(case.params, seed=int(case.params["seed"]) + SIZING_SEED_OFFSET)
        if "seed" in case.params
        else dict(case.params)
    )
    started = perf_counter_ns()
    data = ev.problem.generate(params)
    ev.synchronize()
    drawn = perf_counter_ns()
    with torch.no_grad():
        out = ev.problem.reference(clone_tree(data) if ev.plan.writable else data)
    ev.synchronize()
    done = perf_counter_ns()
    held = (memory.tree_bytes(data), memory.tree_bytes(out))
    compare_s = compare_seconds(out, ev)
    scrub(out)  # the reference's answer to a draw no case uses, overwritten all the same
    del out, data
    memory.release(ev.problem.device)
    return Shape((drawn - started) / 1e9, (done - drawn) / 1e9, *held, compare_s)


def compare_seconds(out: Any, ev: EvalState) -> float:
    """What comparing two answers of this shape costs the judge (check.compare, its own code): timed on
    at most COMPARE_SAMPLE elements of each tensor and scaled to its size (the comparison goes chunk by
    chunk, so its time is linear in the elements)."""
    seconds = 0.0
    for t in tensor_leaves(out):
        if type(t) is not torch.Tensor or not t.numel():
            continue
        part = t.detach()
        if (
            part.dim() and part.shape[0] > 1
        ):  # a slice of rows first: reshaping a whole strided view copies it
            part = part[: max(1, COMPARE_SAMPLE * part.shape[0] // part.numel())]
        part = part.reshape(-1)[:COMPARE_SAMPLE]
        twin = part.clone()
        ev.synchronize()
        started = perf_counter_ns()
        check.compare(twin, part, ev.rtol, ev.atol)
        ev.synchronize()
        seconds += (perf_counter_ns() - started) / 1e9 * t.numel() / part.numel()
        del twin
    return seconds


def describe(work: Work) -> dict[str, Any]:
    """The measured seconds, for the report."""
    first = work.tests[0] if work.tests else None
    return {
        "test_draw_s": round(first.draw_s, 4) if first else None,
        "test_call_s": round(first.call_s, 4) if first else None,
        "test_compare_s": round(first.compare_s, 4) if first else None,
        "benchmark_call_s": [round(s.call_s, 4) for s in work.benchmarks],
    }
