"""The command line: exit codes, the versioned JSON, the readable report, info."""

import json

import pytest
from conftest import CANDIDATES, HAS_GPU, KERNELS, REPO, harness_cli

from gpu_harness.outcome import EXIT_CANDIDATE_FAILED, EXIT_HARNESS_ERROR, EXIT_NOT_RUN, EXIT_PASSED

VECTORADD = KERNELS / "vectoradd"


def test_smoke_json_of_a_passing_candidate_exits_0_with_schema_1():
    done = harness_cli(
        "smoke", VECTORADD, VECTORADD / "examples" / "submission_torch.py", "--mode", "test", "--json"
    )
    assert done.returncode == EXIT_PASSED, done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema"] == 1 and doc["passed"] is True and doc["flags"] == []
    assert doc["error"] is None and doc["cases"][0]["max_abs_err"] == 0.0
    assert set(doc) >= {
        "cases",
        "timing",
        "notes",
        "device",
        "problem_format",
        "wall_s",
        "exit_code",
        "status",
        "deadline_s",
        "partial",
        "not_run",
        "memory",
    }
    assert doc["status"] == "passed"


def test_smoke_of_a_flagged_candidate_exits_1_and_prints_the_flag():
    done = harness_cli("smoke", VECTORADD, CANDIDATES / "cheats" / "input_mutation.py", "--mode", "test")
    assert done.returncode == EXIT_CANDIDATE_FAILED
    assert done.stdout.startswith("FAILED") and "FLAG input_mutated" in done.stdout


def test_smoke_of_a_missing_problem_exits_2():
    done = harness_cli("smoke", "/no/such/problem", VECTORADD / "examples" / "submission_torch.py", "--json")
    assert done.returncode == EXIT_HARNESS_ERROR
    assert json.loads(done.stdout)["error"]["kind"] == "problem_not_found"


@pytest.mark.skipif(HAS_GPU, reason="CPU-mode behaviour")
def test_a_candidate_that_needs_a_gpu_is_not_run_and_exits_3():
    done = harness_cli("smoke", VECTORADD, VECTORADD / "examples" / "submission_cuda_inline.py", "--json")
    assert done.returncode == EXIT_NOT_RUN, done.stderr
    doc = json.loads(done.stdout)
    assert doc["status"] == "not_run" and doc["error"]["kind"] == "needs_gpu" and doc["exit_code"] == 3
    assert "needs a GPU" in doc["error"]["message"]


def test_bad_arguments_exit_2():
    assert harness_cli("smoke", "--mode", "fast").returncode == EXIT_HARNESS_ERROR


def test_info_json_names_the_software_and_the_device():
    done = harness_cli("info", "--json")
    info = json.loads(done.stdout)
    assert done.returncode == 0
    assert {"python", "torch", "triton", "cupy", "cuda_available", "gpu", "ncu"} <= set(info)


def test_deadline_flag_gives_a_partial_report_in_time():
    slow = REPO / "tests" / "harness" / "fixtures" / "gpumode" / "slow_py"
    done = harness_cli("smoke", slow, slow / "solutions" / "slow.py", "--deadline", "2", "--json")
    doc = json.loads(done.stdout)
    assert done.returncode == EXIT_HARNESS_ERROR and doc["partial"] is True and doc["status"] == "error"
    assert doc["error"]["kind"] == "deadline" and doc["not_run"] and doc["deadline_s"] == 2
    assert doc["wall_s"] < 6
