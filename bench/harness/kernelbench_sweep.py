"""Honest work across KernelBench level 1 at full size: each problem's own Model as the candidate.

    python3 bench/harness/kernelbench_sweep.py KERNELBENCH_REPO [--start N] [--count N] [--budget S]

A candidate that is the reference (`ModelNew = Model`, the problem file's own text) is honest work by
definition: the harness must pass it, with no flag, on every problem as the field ships it (full-size
inputs, its own get_inputs and get_init_inputs). A fail or a flag here is a harness bug of the first
order ("a fail given to honest work"), and the problems are ones we did not write. Problems run in
their numeric order from --start (a session with little device time takes the next slice); each
evaluation is planned by the harness (no deadline given). Writes $OUT/kernelbench_sweep.{json,md}.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from common import WorkerClient
from real_problems import describe, progress, write_out


def problems(kernelbench: Path) -> list[Path]:
    """Level 1's problem files in their numeric order (1_..., 2_..., ..., 100_...)."""
    level1 = kernelbench / "KernelBench" / "level1"
    return sorted(level1.glob("*.py"), key=lambda p: int(re.match(r"\d+", p.name).group()))


def reference_as_candidate(problem: Path, folder: Path) -> Path:
    """The problem's own text with `ModelNew = Model`: the reference, submitted as a candidate."""
    candidate = folder / f"same_{problem.name}"
    candidate.write_text(problem.read_text() + "\n\nModelNew = Model\n")
    return candidate


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kernelbench_repo", type=Path)
    parser.add_argument("--start", type=int, default=1, help="first problem number")
    parser.add_argument("--count", type=int, default=100, help="how many problems at most")
    parser.add_argument("--budget", type=float, default=420.0, help="total seconds; later ones are skipped")
    parser.add_argument("--mode", default="both", choices=("test", "benchmark", "both"))
    args = parser.parse_args()
    chosen = [p for p in problems(args.kernelbench_repo.resolve()) if int(p.name.split("_")[0]) >= args.start]
    chosen = chosen[: args.count]
    started = time.monotonic()
    worker = WorkerClient()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kb-same-") as scratch:
        for problem in chosen:
            row = {"problem": f"level1/{problem.name}", "candidate": "ModelNew = Model", "expected": "passed"}
            if time.monotonic() - started > args.budget:
                break
            candidate = reference_as_candidate(problem, Path(scratch))
            t0 = time.monotonic()
            answer = worker.smoke(problem, candidate, args.mode)
            describe(row, answer, time.monotonic() - t0, 0.0)
            row["ok"] = row["verdict"] == "passed" and not row["flags"]
            rows.append(row)
            progress(row, f"{problem.name:60}")
    worker.close()
    summary = {
        "total_s": round(time.monotonic() - started, 1),
        "evaluations": len(rows),
        "passed_unflagged": sum(1 for r in rows if r["ok"]),
        "next_start": int(chosen[len(rows)].name.split("_")[0]) if len(rows) < len(chosen) else None,
    }
    write_out("kernelbench_sweep", rows, summary)
    return 0 if summary["passed_unflagged"] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
