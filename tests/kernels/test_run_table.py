"""bench/kernels/run_table.py's arithmetic: roofline floors, the per-problem table and the goals."""

from __future__ import annotations

import importlib.util

from tests.kernels.library import REPO

spec = importlib.util.spec_from_file_location("run_table", REPO / "bench" / "kernels" / "run_table.py")
run_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_table)

PEAKS = {"copy_bytes_per_s": 3e12, "bf16_flops_per_s": 800e12}


def _result(ms: dict[str, float], ref_ms: float = 1.0, passed: bool = True) -> dict:
    return {
        "passed": passed,
        "error": None,
        "flags": [],
        "failed_cases": [],
        "timing": {
            case: {"params": {"n": 1, "seed": 1}, "reference_ms": ref_ms, "candidate_ms": t, "n": 10}
            for case, t in ms.items()
        },
    }


def test_floor_is_the_larger_of_memory_and_compute_time():
    assert run_table.floor_ms({"bytes": 3e9, "flops": 0.0}, PEAKS) == 1.0
    assert run_table.floor_ms({"bytes": 3e9, "flops": 1.6e12}, PEAKS) == 2.0


def test_bandwidth_goal_is_judged_at_the_largest_case_for_the_named_candidate():
    work = {"softmax": {"bench0": {"bytes": 3e8, "flops": 0.0}, "bench1": {"bytes": 3e9, "flops": 0.0}}}
    results = {
        "softmax": {
            "submission_triton.py": _result({"bench0": 5.0, "bench1": 1.1}),
            "submission_cuda_inline.py": _result({"bench0": 0.1, "bench1": 1.0}),
        }
    }
    goal = next(g for g in run_table.goals(work, PEAKS, results) if g["problem"] == "softmax")
    assert goal["candidate"] == "submission_triton.py" and goal["case"] == "bench1"
    assert goal["value"] == round(1.0 / 1.1, 3) and goal["met"]


def test_matmul_goal_takes_the_best_passing_candidate_against_the_reference():
    work = {"matmul": {"bench0": {"bytes": 1e8, "flops": 1e12}}}
    results = {
        "matmul": {
            "submission_triton.py": _result({"bench0": 1.5}, ref_ms=1.26),
            "submission_fast_but_wrong.py": _result({"bench0": 0.5}, ref_ms=1.2, passed=False),
        }
    }
    goal = run_table.goals(work, PEAKS, results)[0]
    assert goal["candidate"] == "submission_triton.py" and goal["value"] == 0.84 and goal["met"]


def test_table_shows_each_candidate_and_names_failures():
    work = {"bench0": {"bytes": 3e9, "flops": 0.0}}
    text = run_table.table(
        "vectoradd",
        work,
        PEAKS,
        {"submission_triton.py": _result({"bench0": 1.25}), "submission_cupy.py": _result({}, passed=False)},
    )
    assert "| bench0 | {'n': 1} | 1.0000 | 1.0000 (100%) | failed | 1.2500 (80%) |" in text
    assert "submission_cupy.py: NOT PASSED" in text
