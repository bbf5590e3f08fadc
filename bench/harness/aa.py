"""A/A test: a problem's reference timed as a candidate against itself, three runs (AA_RUNS). Goal 1.00 +- 0.02."""

import os
import statistics
import sys

from common import KERNELS, WorkerClient, save

RUNS = int(os.environ.get("AA_RUNS", 3))


def main(problems=("softmax", "vectoradd")):
    worker = WorkerClient()
    doc = {}
    for name in problems:
        runs = []
        for _ in range(RUNS):
            answer = worker.smoke(
                KERNELS / name, KERNELS / name / "examples" / "submission_reference.py", "benchmark"
            )
            assert answer["error"] is None, answer["error"]
            runs.append(
                {
                    t["case"]: {
                        "speedup": t["speedup"],
                        "ref_ms": t["reference"]["median_ms"],
                        "cand_ms": t["candidate"]["median_ms"],
                        "n": t["candidate"]["n"],
                        "rse": t["candidate"]["rse"],
                        "stopped_by": t["stopped_by"],
                    }
                    for t in answer["timing"]
                }
            )
        cases = sorted(runs[0])
        doc[name] = {
            "runs": runs,
            "per_case": {
                c: {
                    "speedups": [r[c]["speedup"] for r in runs],
                    "max_deviation": max(abs(r[c]["speedup"] - 1) for r in runs),
                    "median_ms": statistics.median(r[c]["ref_ms"] for r in runs),
                }
                for c in cases
            },
        }
    worker.close()
    save("aa", doc)


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ("softmax", "vectoradd"))
