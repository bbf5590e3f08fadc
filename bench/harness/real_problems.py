"""The harness on the field's real problems, on the GPU host: verdicts and wall time per evaluation.

    python3 bench/harness/real_problems.py GPU_MODE_REPO KERNELBENCH_REPO [--deadline S] [--budget S] [--planned]

GPU_MODE_REPO is a checkout of gpu-mode/reference-kernels (its problems/pmpp_v2 is used as it is:
every problem's solutions/correct/* must pass, solutions/wrong/* must fail; their vectorsum
correct/pytorch.py is stale and fails their own eval too). KERNELBENCH_REPO is a checkout of
ScalingIntelligence/KernelBench (level 1 19_ReLU and 23_Softmax at full size, 6.4 GB inputs), with
our honest torch and Triton candidates from bench/harness/kernelbench_candidates/, plus one
torch.compile(mode="reduce-overhead") candidates on pmpp_v2 vectoradd and prefixsum. Each evaluation runs through
one warm worker with a deadline (--planned: none given, the harness sizes it to the problem); prints a
markdown table and writes $OUT/real_problems.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from common import REPO, WorkerClient

OUT = Path(os.environ.get("OUT", "out"))
CANDIDATES = REPO / "bench" / "harness" / "kernelbench_candidates"
# Candidates whose first call or import compiles (nvcc through load_inline, Inductor): a longer deadline.
COMPILES = re.compile(r"load_inline|torch\.compile")
# Their stale solution: it returns a (1,) tensor where the reference returns a 0-d one.
STALE = {("vectorsum_py", "correct/pytorch.py")}


def evaluations(gpu_mode: Path, kernelbench: Path) -> list[dict]:
    runs = []
    level1 = kernelbench / "KernelBench" / "level1"
    for problem, stem in (("19_ReLU.py", "relu"), ("23_Softmax.py", "softmax")):
        for kind in ("torch", "triton"):
            runs.append(
                {
                    "problem": level1 / problem,
                    "candidate": CANDIDATES / f"{stem}_{kind}.py",
                    "expected": "passed",
                    "label": f"KernelBench/level1/{problem}",
                    "name": f"ours/{stem}_{kind}.py",
                }
            )
    pmpp = gpu_mode / "problems" / "pmpp_v2"
    for problem in sorted(p for p in pmpp.iterdir() if (p / "task.yml").is_file()):
        for solution in sorted((problem / "solutions").glob("*/*.py")):
            verdict = solution.parent.name
            expected = (
                "failed"
                if verdict == "wrong" or (problem.name, f"correct/{solution.name}") in STALE
                else "passed"
            )
            runs.append(
                {
                    "problem": problem,
                    "candidate": solution,
                    "expected": expected,
                    "label": f"pmpp_v2/{problem.name}",
                    "name": f"{verdict}/{solution.name}",
                }
            )
    for problem, name in (
        ("vectoradd_py", "vectoradd_compiled.py"),
        ("prefixsum_py", "prefixsum_compiled.py"),
    ):
        runs.append(
            {
                "problem": pmpp / problem,
                "candidate": CANDIDATES / name,
                "expected": "passed",
                "label": f"pmpp_v2/{problem}",
                "name": f"ours/{name}",
            }
        )
    return runs


def describe(row: dict, answer: dict, wall: float, deadline: float) -> dict:
    """A worker's answer as one row of the table: verdict, flags, first failure, timings."""
    plan = answer.get("plan") or {}
    if plan:
        row["deadline_s"] = plan.get("deadline_s", deadline)
        row["plan"] = {k: plan.get(k) for k in ("auto", "fits", "secret_repeats", "est_total_s", "reason")}
    error = answer.get("error") or {}
    failed = [c for c in answer.get("cases", []) if not c["passed"]]
    failed_cases = [f"{c['name']}:{c['reason']}" for c in failed]
    if failed:
        first = failed[0]
        row["first_failure"] = {
            "case": first["name"],
            "params": first["params"],
            "reason": first["reason"],
            "message": first["message"][:600],
            "max_abs_err": first["max_abs_err"],
            "max_rel_err": first["max_rel_err"],
            "mismatches": first["mismatches"],
            "numel": first["numel"],
            "first_mismatches": first["first_mismatches"][:3],
        }
    row["flag_details"] = {f["name"]: f["detail"][:400] for f in answer.get("flags", [])}
    row["not_run"] = answer.get("not_run", [])[:5]
    row.update(
        verdict=answer.get("status", "?"),
        wall_s=round(wall, 2),
        child_s=answer.get("wall_s"),
        harness_error=f"{error.get('kind')}: {error.get('message', '')[:160]}" if error else "",
        flags=[f["name"] for f in answer.get("flags", [])],
        notes=[n["name"] for n in answer.get("notes", [])],
        failed_cases=failed_cases[:5],
        partial=answer.get("partial"),
        timing=[
            {
                "case": t["case"],
                "ref_ms": t["reference"]["median_ms"],
                "cand_ms": t["candidate"]["median_ms"],
                "judge_ms": t["candidate"].get("judge_ms"),
                "single_ms": t["candidate"].get("judge_single_ms"),
                "n": t["candidate"]["n"],
                "stopped_by": t["stopped_by"],
                "sets": t["input_sets"],
                "seconds": t["seconds"],
            }
            for t in answer.get("timing", [])
        ],
        stage_s=answer.get("stage_s"),
        stderr_tail=(error.get("stderr_tail") or "")[-1500:],
    )
    return row


def markdown(rows: list[dict]) -> list[str]:
    """The rows as a markdown table, one line each."""
    table = [
        "| problem | candidate | expected | verdict | ok | wall s | flags / harness error |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        why = ", ".join(r.get("flags") or []) + (" " + r["harness_error"] if r.get("harness_error") else "")
        table.append(
            f"| {r['problem']} | {r['candidate']} | {r['expected']} | {r['verdict']} | "
            f"{'yes' if r.get('ok') else 'NO'} | {r['wall_s']} | {why.strip()[:140]} |"
        )
    return table


def progress(row: dict, label: str) -> None:
    """One line on stderr as each evaluation ends."""
    print(
        f"{label} got {row['verdict']:8} {row['wall_s']:6.1f} s {','.join(row['flags'])} {row['harness_error'][:80]}",
        file=sys.stderr,
        flush=True,
    )


def write_out(name: str, rows: list[dict], summary: dict) -> None:
    """The table on stdout, the summary after it; both, with every row, in $OUT/NAME.{json,md}."""
    table = markdown(rows)
    print("\n".join(table))
    print(json.dumps(summary))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2, default=str))
    (OUT / f"{name}.md").write_text("\n".join(table) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("gpu_mode_repo", type=Path)
    parser.add_argument("kernelbench_repo", type=Path)
    parser.add_argument("--deadline", type=float, default=40.0, help="per-evaluation deadline (s)")
    parser.add_argument(
        "--compile-allowance",
        type=float,
        default=120.0,
        help="seconds of compiling (import, first call) not charged to the deadline",
    )
    parser.add_argument(
        "--compile-deadline",
        type=float,
        default=120.0,
        help="deadline for candidates that compile first (load_inline's nvcc, torch.compile)",
    )
    parser.add_argument(
        "--budget", type=float, default=420.0, help="total seconds; later evaluations are skipped"
    )
    parser.add_argument("--mode", default="both", choices=("test", "benchmark", "both"))
    parser.add_argument(
        "--planned",
        action="store_true",
        help="give no deadline or timeout: the harness's time plan sizes each one to its problem",
    )
    args = parser.parse_args()
    started = time.monotonic()
    worker = WorkerClient()
    rows = []
    for run in evaluations(args.gpu_mode_repo.resolve(), args.kernelbench_repo.resolve()):
        row = {"problem": run["label"], "candidate": run["name"], "expected": run["expected"]}
        if time.monotonic() - started > args.budget:
            row.update(verdict="skipped", wall_s=0.0, harness_error="total budget spent")
            rows.append(row)
            continue
        source = Path(run["candidate"]).read_text(errors="replace")
        deadline = args.compile_deadline if COMPILES.search(source) else args.deadline
        row["deadline_s"] = deadline
        t0 = time.monotonic()
        limits = {} if args.planned else {"deadline_s": deadline, "timeout_s": deadline + 15}
        answer = worker.smoke(
            run["problem"], run["candidate"], args.mode, compile_allowance_s=args.compile_allowance, **limits
        )
        wall = time.monotonic() - t0
        describe(row, answer, wall, deadline)
        row["ok"] = row["verdict"] == row["expected"]
        rows.append(row)
        progress(row, f"{row['problem']:36} {row['candidate']:32} expected {row['expected']:7}")
    worker.close()
    summary = {
        "total_s": round(time.monotonic() - started, 1),
        "evaluations": len(rows),
        "matching_expected": sum(1 for r in rows if r.get("ok")),
        "harness_errors": sum(1 for r in rows if r["verdict"] == "error"),
    }
    write_out("real_problems", rows, summary)
    return 0 if summary["matching_expected"] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
