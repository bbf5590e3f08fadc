"""Timing fidelity: the harness median against ncu's gpu__time_duration.sum, for kernels over 50 us.

ncu runs with --cache-control all (caches flushed before each kernel: cold, like the harness) and
--clock-control none (the card's clocks as found; never locked). Goal: within 5 %.
"""

import csv
import io
import statistics
import subprocess
import sys

from common import KERNELS, REPO, WorkerClient, save

sys.path.insert(0, str(REPO))
from gpu_harness.info import ncu_path  # noqa: E402

KERNELS_UNDER_TEST = [
    # (problem, candidate, benchmark case, kernel name regex)
    ("vectoradd", "submission_triton.py", "bench2", "add_kernel"),
    ("softmax", "submission_triton.py", "bench1", "softmax_kernel"),
    ("matmul", "submission_triton.py", "bench1", "matmul_kernel"),
]
NCU_SKIP, NCU_COUNT = 3, 20
UNIT_TO_MS = {
    "nsecond": 1e-6,
    "ns": 1e-6,
    "usecond": 1e-3,
    "us": 1e-3,
    "msecond": 1.0,
    "ms": 1.0,
    "second": 1e3,
}


def ncu_times_ms(problem, candidate, case, kernel):
    ncu = ncu_path()
    cmd = [
        ncu,
        "--cache-control",
        "all",
        "--clock-control",
        "none",
        "--metrics",
        "gpu__time_duration.sum",
        "--csv",
        "--kernel-name",
        f"regex:{kernel}",
        "--launch-skip",
        str(NCU_SKIP),
        "--launch-count",
        str(NCU_COUNT),
        sys.executable,
        str(REPO / "bench" / "harness" / "ncu_target.py"),
        str(problem),
        str(candidate),
        case,
        str(NCU_SKIP + NCU_COUNT + 2),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    rows = [line for line in done.stdout.splitlines() if line.startswith('"')]
    times = []
    for row in csv.DictReader(io.StringIO("\n".join(rows))):
        if row.get("Metric Name") == "gpu__time_duration.sum":
            value = float(row["Metric Value"].replace(",", ""))
            times.append(value * UNIT_TO_MS[row["Metric Unit"]])
    if not times:
        raise RuntimeError(f"ncu gave no times: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return times


def main():
    worker = WorkerClient()
    results = []
    for name, cand, case, kernel in KERNELS_UNDER_TEST:
        problem, candidate = KERNELS / name, KERNELS / name / "examples" / cand
        answer = worker.smoke(problem, candidate, "benchmark")
        timing = next(t for t in answer["timing"] if t["case"] == case)
        harness_ms = timing["candidate"]["median_ms"]
        ncu = ncu_times_ms(problem, candidate, case, kernel)
        ncu_ms = statistics.median(ncu)
        results.append(
            {
                "kernel": f"{name}/{cand}",
                "case": case,
                "params": timing["params"],
                "harness_median_ms": harness_ms,
                "harness_n": timing["candidate"]["n"],
                "harness_host_median_ms": timing["candidate"]["host_median_ms"],
                "ncu_median_ms": ncu_ms,
                "ncu_n": len(ncu),
                "ncu_min_ms": min(ncu),
                "ncu_max_ms": max(ncu),
                "deviation": harness_ms / ncu_ms - 1,
                "passed_report": answer["passed"],
                "clock_mhz": timing["clock_mhz"],
            }
        )
    worker.close()
    save("fidelity", {"results": results, "goal_met": all(abs(r["deviation"]) <= 0.05 for r in results)})


if __name__ == "__main__":
    main()
