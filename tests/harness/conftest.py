"""Fixtures for the gpu_harness tests.

Evaluations go through the real production path: one `python -m gpu_harness serve` worker for the
session (warm imports, CUDA never initialised in it), one forked child per evaluation. The pytest
process itself runs torch ops (unit tests), so it must not be the one that forks: a child forked
after OpenMP ran in its parent can deadlock.
"""

import os

os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
KERNELS = REPO / "kernels"
HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
CANDIDATES = HERE / "candidates"
HAS_GPU = torch.cuda.is_available()

gpu = pytest.mark.gpu  # registered in pyproject; skipped below when there is no CUDA device
cpu_only = pytest.mark.skipif(HAS_GPU, reason="shows CPU-mode behaviour")


def pytest_collection_modifyitems(config, items):
    if HAS_GPU:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run bench/harness/gpu_suite.sh on the GPU host)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def smoke(
    problem, candidate, mode="test", timeout_s=120, timing=None, deadline_s=None, compile_allowance_s=None
):
    """Evaluate through the session's worker (a fresh forked child per request); returns the Report."""
    from gpu_harness.outcome import Report

    request = {
        "op": "smoke",
        "problem": str(problem),
        "candidate": str(candidate),
        "mode": mode,
        "timeout_s": timeout_s,
    }
    if timing:
        request["timing"] = timing
    if deadline_s:
        request["deadline_s"] = deadline_s
    if compile_allowance_s is not None:
        request["compile_allowance_s"] = compile_allowance_s
    answer = session_worker().request(**request)
    return Report.from_json(answer)


def harness_cli(*args, env=None, timeout=300):
    """`python -m gpu_harness ARGS` run from the repository, its output captured as text; env: ours with
    the repository on PYTHONPATH unless given."""
    return subprocess.run(
        [sys.executable, "-m", "gpu_harness", *map(str, args)],
        cwd=REPO,
        env=env if env is not None else dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def flag_names(report):
    return {f.name for f in report.flags}


def note_names(report):
    return {n.name for n in report.notes}


class Worker:
    """`python -m gpu_harness serve` as a subprocess, spoken to in JSON lines."""

    def __init__(self, *args: str):
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gpu_harness", "serve", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.ready = json.loads(self.proc.stdout.readline())
        self.count = 0

    def request(self, **request):
        self.count += 1
        request.setdefault("id", self.count)
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"worker died: {self.proc.stderr.read()[-2000:]}"
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.request(op="shutdown")
            except (BrokenPipeError, AssertionError):
                pass
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()


_SESSION_WORKER = []


def session_worker() -> Worker:
    if not _SESSION_WORKER or _SESSION_WORKER[0].proc.poll() is not None:
        _SESSION_WORKER[:] = [Worker()]
    return _SESSION_WORKER[0]


@pytest.fixture(scope="session", autouse=True)
def _close_session_worker():
    yield
    for w in _SESSION_WORKER:
        w.close()


@pytest.fixture
def worker():
    return session_worker()
