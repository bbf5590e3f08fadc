"""Every example passes the harness: torch and Triton ones here on the CPU (Triton through its
interpreter), at the problems' test sizes; CuPy and CUDA C++ ones are reported as not run.

Two groups depend on the harness branch (issue 8) and are marked `xfail(strict=True)` until it has
merged; each mark lifts itself when the harness shows the behaviour, and then the test must pass:
- destination-passing (softmax): the harness must treat an input the reference never reads as an
  output buffer the candidate may write and return (`HARNESS_KNOWS_UNREAD_BUFFERS`);
- the needs-a-GPU contract: exit status 3, `"status": "not_run"`, `error.kind == "needs_gpu"`
  (`HARNESS_REPORTS_NOT_RUN`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from gpu_harness import outcome
from tests.kernels.library import CPU_LANGUAGES, GPU_LANGUAGES, REPO, WorkerClient, examples

try:  # the harness branch moved it (issue 8)
    from gpu_harness.buffers import learn_buffers
except ImportError:
    from gpu_harness.check import learn_buffers

HAS_GPU = torch.cuda.is_available()
EXIT_NOT_RUN = 3


def _harness_knows_unread_buffers() -> bool:
    data = (torch.randn(8), torch.empty(8))
    return 1 in learn_buffers(data, lambda d: d[0] * 2).writable


HARNESS_KNOWS_UNREAD_BUFFERS = _harness_knows_unread_buffers()
HARNESS_REPORTS_NOT_RUN = "not_run" in (REPO / "gpu_harness" / "outcome.py").read_text()
needs_buffer_rule = pytest.mark.xfail(
    not HARNESS_KNOWS_UNREAD_BUFFERS,
    strict=True,
    reason="harness branch (issue 8): unread inputs are output buffers",
)
needs_not_run = pytest.mark.xfail(
    not HARNESS_REPORTS_NOT_RUN,
    strict=True,
    reason="harness branch (issue 8): needs_gpu is exit 3 / status not_run",
)
DESTINATION_PASSING = {"softmax"}


@pytest.fixture(scope="module")
def worker():
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    client = WorkerClient()
    yield client
    client.close()


def _cases(languages):
    out = []
    for language in languages:
        for problem, path in examples(language):
            marks = [needs_buffer_rule] if problem in DESTINATION_PASSING else []
            out.append(pytest.param(problem, path, marks=marks, id=f"{problem}-{language}"))
    return out


@pytest.mark.parametrize("problem,candidate", _cases(CPU_LANGUAGES))
def test_cpu_example_passes_the_harness_at_test_sizes(worker, problem, candidate):
    report = worker.smoke(REPO / "kernels" / problem, candidate, "test", timeout_s=240)
    failed = [(c["name"], c["reason"], c["message"][:200]) for c in report["cases"] if not c["passed"]]
    assert report["error"] is None, report["error"]
    assert report["flags"] == [], report["flags"]
    assert report["passed"] and not failed, failed
    assert {c["kind"] for c in report["cases"]} >= {"test", "secret"}


def test_every_problem_has_torch_and_triton_examples_and_enough_gpu_ones():
    problems = {p for p, _ in examples("torch")}
    assert problems == {p for p, _ in examples("triton")} and len(problems) >= 6
    assert len(examples("cuda_inline")) >= 4 and len(examples("cupy")) >= 3


@pytest.mark.skipif(HAS_GPU, reason="shows the behaviour without a GPU")
@pytest.mark.parametrize(
    "problem,candidate",
    [
        pytest.param(p, c, marks=needs_not_run, id=f"{p}-{lang}")
        for lang in GPU_LANGUAGES
        for p, c in examples(lang)
    ],
)
def test_gpu_example_is_reported_not_run_without_a_gpu(worker, problem, candidate):
    report = worker.smoke(REPO / "kernels" / problem, candidate, "test", timeout_s=120)
    assert report["error"]["kind"] == outcome.KIND_NEEDS_GPU, report["error"]
    assert report["exit_code"] == EXIT_NOT_RUN and report.get("status") == "not_run", report
    assert not any(c["passed"] is False for c in report["cases"])  # never reported as a failed case


@pytest.mark.skipif(HAS_GPU, reason="shows the behaviour without a GPU")
@needs_not_run
def test_cli_exits_3_for_a_gpu_example_without_a_gpu():
    candidate = REPO / "kernels" / "vectoradd" / "examples" / "submission_cupy.py"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpu_harness",
            "smoke",
            str(REPO / "kernels" / "vectoradd"),
            str(candidate),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    report = json.loads(done.stdout)
    assert done.returncode == EXIT_NOT_RUN, (done.returncode, report.get("error"))
    assert report["status"] == "not_run" and report["error"]["kind"] == "needs_gpu"
