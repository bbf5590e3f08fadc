"""Smoke-test latency: warm worker against a cold `python -m gpu_harness smoke` process, side by side.

The smoke test: bench/harness/latency_problem (kernels/vectoradd with 5 test cases and 1 benchmark
case), Triton candidate, mode both. Goal: warm under 1.0 s median wall and at least 3x faster than cold.
Warm requests come after a pause (an agent reads the answer and edits before the next call: the next
child is forked and has initialised CUDA by then); back-to-back requests are reported too.
"""

import json
import os
import statistics
import subprocess
import sys
import time

from common import KERNELS, REPO, WorkerClient, save

PROBLEM = REPO / "bench" / "harness" / "latency_problem"
CANDIDATE = os.environ.get("LATENCY_CANDIDATE", KERNELS / "vectoradd" / "examples" / "submission_triton.py")
RUNS = 4
COLD_RUNS = 3
PAUSE_S = 1.5


def cold_once():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "gpu_harness", "smoke", str(PROBLEM), str(CANDIDATE), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    doc = json.loads(done.stdout)
    assert doc["passed"], doc
    return wall, doc["wall_s"]


def warm_runs(spares):
    """Back-to-back and after-a-pause requests through one worker keeping `spares` ready children."""
    os.environ["GPU_HARNESS_SPARES"] = str(spares)
    worker = WorkerClient()
    first = worker.smoke(PROBLEM, CANDIDATE, "both")  # compile caches: Triton's and the peaks
    assert first["passed"], first
    warm, warm_child, stages, back_to_back, b2b_child, phases = [], [], [], [], [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        answer = worker.smoke(PROBLEM, CANDIDATE, "both")
        back_to_back.append(time.perf_counter() - started)
        b2b_child.append(answer["wall_s"])
        phases.append(
            {
                "back_to_back": [t.get("phase_s") for t in answer.get("timing", [])],
                "stage_s": answer["stage_s"],
                "teardown_s": answer.get("teardown_s"),
            }
        )
        assert answer["passed"], answer
    for _ in range(RUNS):
        time.sleep(PAUSE_S)
        started = time.perf_counter()
        answer = worker.smoke(PROBLEM, CANDIDATE, "both")
        warm.append(time.perf_counter() - started)
        warm_child.append(answer["wall_s"])
        stages.append(answer["stage_s"])
        phases.append(
            {
                "warm": [t.get("phase_s") for t in answer.get("timing", [])],
                "teardown_s": answer.get("teardown_s"),
            }
        )
        assert answer["passed"], answer
    held = {k: answer["memory"].get(k) for k in ("ready_spares", "idle_cuda_contexts")}
    worker.close()
    return {
        "spares": spares,
        "held": held,
        "worker_startup_s": worker.startup_s,
        "first_warm_request_s": first["wall_s"],
        "warm_wall_s": warm,
        "warm_child_s": warm_child,
        "warm_stage_s": stages,
        "time_phases_s": phases,
        "warm_median_s": statistics.median(warm),
        "back_to_back_wall_s": back_to_back,
        "back_to_back_child_s": b2b_child,
        "back_to_back_median_s": statistics.median(back_to_back),
    }


def first_contact():
    """A host that has never run the harness: empty harness and compile caches, a worker started, its
    first smoke test answered (imports, CUDA start-up in the ready children, Triton's first compile)."""
    import tempfile

    saved = {k: os.environ.get(k) for k in ("GPU_HARNESS_CACHE", "TRITON_CACHE_DIR", "GPU_HARNESS_SPARES")}
    os.environ["GPU_HARNESS_CACHE"] = tempfile.mkdtemp(prefix="first-contact-")
    os.environ.pop("TRITON_CACHE_DIR", None)
    os.environ.pop("GPU_HARNESS_SPARES", None)
    started = time.perf_counter()
    worker = WorkerClient()
    answer = worker.smoke(PROBLEM, CANDIDATE, "both")
    total = time.perf_counter() - started
    worker.close()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    assert answer["passed"], answer
    return {
        "worker_startup_s": worker.startup_s,
        "first_smoke_s": total - worker.startup_s,
        "total_s": total,
        "stage_s": answer["stage_s"],
    }


def main():
    contact = first_contact()
    counts = [int(n) for n in os.environ.get("LATENCY_SPARES", "1,2").split(",")]
    by_spares = [warm_runs(n) for n in counts]
    cold = [cold_once() for _ in range(COLD_RUNS)]
    cold_wall = [c[0] for c in cold]
    best = min(by_spares, key=lambda r: r["back_to_back_median_s"])
    doc = {
        "problem": "latency_problem (vectoradd, 5 tests + 1 benchmark, Triton candidate, mode both)",
        "first_contact": contact,
        "by_spares": by_spares,
        "cold_wall_s": cold_wall,
        "cold_child_s": [c[1] for c in cold],
        "cold_median_s": statistics.median(cold_wall),
        "pause_before_warm_s": PAUSE_S,
        "ratio": statistics.median(cold_wall) / best["warm_median_s"],
    }
    doc["goal_met"] = (
        best["warm_median_s"] <= 1.0 and doc["ratio"] >= 3 and best["back_to_back_median_s"] <= 0.5
    )
    save("latency", doc)


if __name__ == "__main__":
    main()
