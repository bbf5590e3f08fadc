"""Problem formats: GPU MODE folders (their way: files:, ../utils.py, task.py, check_implementation)
and KernelBench files (Model / get_inputs / get_init_inputs, candidate ModelNew)."""

import pytest
from conftest import FIXTURES, KERNELS, cpu_only, gpu, smoke

from gpu_harness.outcome import EXIT_HARNESS_ERROR, EXIT_NOT_RUN, EXIT_PASSED
from gpu_harness.problem import FORMAT_GPUMODE, FORMAT_KERNELBENCH
from gpu_harness.problem_loader import load_problem

KB = FIXTURES / "kernelbench"
ROWSUM = FIXTURES / "gpumode" / "rowsum_py"


def test_formats_are_detected_from_the_path():
    assert load_problem(KERNELS / "vectoradd").format == FORMAT_GPUMODE
    assert load_problem(ROWSUM).format == FORMAT_GPUMODE
    assert load_problem(KB / "23_Softmax.py").format == FORMAT_KERNELBENCH


def test_gpu_mode_task_yml_gives_cases_and_ranking():
    problem = load_problem(ROWSUM)
    assert [c.params for c in problem.tests][0] == {"rows": 1, "cols": 31, "seed": 5117}
    assert problem.ranking_by == "geom" and len(problem.benchmarks) == 2
    # their files: list maps utils.py to ../utils.py; eval.py is listed but absent and not needed
    assert problem.modules["utils"] == (FIXTURES / "gpumode" / "utils.py").resolve()
    assert "eval" not in problem.modules


@pytest.mark.parametrize(
    "candidate,mode", [("23_Softmax_torch.py", "both"), ("23_Softmax_triton.py", "test")]
)
def test_kernelbench_softmax_candidates_pass(candidate, mode):
    report = smoke(KB / "23_Softmax.py", KB / candidate, mode)
    assert report.problem_format == FORMAT_KERNELBENCH
    assert report.passed and report.flags == [], (report.flags, report.error)


def test_kernelbench_seeded_construction_gives_model_and_model_new_the_same_weights():
    report = smoke(KB / "40_Linear_GELU.py", KB / "40_Linear_GELU_new.py", "both")
    assert report.passed, [(c.name, c.reason, c.message) for c in report.cases]
    assert {c.kind for c in report.cases} == {"test", "secret", "benchmark", "recheck"} or {
        c.kind for c in report.cases
    } == {"test", "benchmark", "recheck"}


def test_files_mapping_may_point_into_another_folder():
    report = smoke(
        FIXTURES / "vectoradd_large", KERNELS / "vectoradd" / "examples" / "submission_torch.py", "test"
    )
    assert report.passed


def test_check_implementation_returning_a_message_string_fails_the_case(tmp_path):
    (tmp_path / "reference.py").write_text(
        "import torch\n"
        "def generate_input(n, seed):\n"
        "    g = torch.Generator().manual_seed(seed)\n"
        "    return torch.randn(n, generator=g)\n"
        "def ref_kernel(data):\n"
        "    return data * 2\n"
        "def check_implementation(data, output):\n"
        "    return '' if torch.equal(output, data * 2) else 'not doubled'\n"
    )
    (tmp_path / "task.yml").write_text('tests:\n  - {"n": 8, "seed": 1}\n')
    (tmp_path / "good.py").write_text("def custom_kernel(data):\n    return data + data\n")
    (tmp_path / "bad.py").write_text("def custom_kernel(data):\n    return data * 3\n")
    assert smoke(tmp_path, tmp_path / "good.py").passed
    bad = smoke(tmp_path, tmp_path / "bad.py")
    assert not bad.passed and "not doubled" in bad.cases[0].message


def test_missing_problem_and_non_problem_are_harness_errors(tmp_path):
    missing = smoke(tmp_path / "nope", KERNELS / "vectoradd" / "examples" / "submission_torch.py")
    assert missing.exit_code == EXIT_HARNESS_ERROR and missing.error.kind == "problem_not_found"
    (tmp_path / "notes.txt").write_text("hello")
    invalid = smoke(tmp_path / "notes.txt", KERNELS / "vectoradd" / "examples" / "submission_torch.py")
    assert invalid.exit_code == EXIT_HARNESS_ERROR and invalid.error.kind == "problem_invalid"


@cpu_only
def test_gpu_mode_problem_that_hard_codes_cuda_is_not_run_on_cpu():
    report = smoke(ROWSUM, ROWSUM / "submission_torch.py")
    assert report.exit_code == EXIT_NOT_RUN and report.status == "not_run"
    assert report.error.kind == "needs_gpu" and report.error.stage == "setup"


@gpu
@pytest.mark.parametrize("candidate", ["submission_torch.py", "submission_triton.py"])
def test_gpu_mode_problem_runs_unchanged_on_the_gpu(candidate):
    report = smoke(ROWSUM, ROWSUM / candidate, "both", timeout_s=600)
    assert report.exit_code == EXIT_PASSED, (report.error, report.flags)


def test_without_pyyaml_a_task_file_gives_a_clear_error(monkeypatch):
    import sys

    from gpu_harness.outcome import ProblemFormatError

    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now raises ImportError
    with pytest.raises(ProblemFormatError, match="needs PyYAML"):
        load_problem(KERNELS / "vectoradd")


def test_an_out_of_memory_in_the_problems_own_draw_stays_an_out_of_memory(tmp_path):
    """Timing retries with fewer sets when its own draw runs out of memory (another process took some);
    wrapped as a problem-format error it failed honest work instead (softmax 16384 x 16384, H100,
    2026-12-07)."""
    import pytest
    import torch

    (tmp_path / "reference.py").write_text(
        "import torch\n\n\ndef ref_kernel(data):\n    return data\n\n\n"
        "def generate_input(n, seed):\n    raise torch.OutOfMemoryError('CUDA out of memory (a test)')\n"
    )
    (tmp_path / "task.yml").write_text('tests:\n  - {"n": 8, "seed": 1}\n')
    with pytest.raises(torch.OutOfMemoryError):
        load_problem(tmp_path).generate({"n": 8, "seed": 1})
