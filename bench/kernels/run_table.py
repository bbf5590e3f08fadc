"""The kernels/ GPU table: every example of every problem through the harness, against a roofline.

For each problem in kernels/, every examples/submission_*.py is evaluated by the harness worker
(`python -m gpu_harness serve`, mode `both`: tests, benchmark checks, timing, recheck). In the same
run, this script measures the card's copy bandwidth (a large device-to-device copy, bytes read +
written) and its bf16 matmul rate (a large torch.matmul), and prints per problem a markdown table of
median times at each benchmark size: the reference, each submission, the roofline floor
(bytes / measured bandwidth, flops / measured rate) and each time's share of that floor.

    OUT=dir python bench/kernels/run_table.py [PROBLEM ...]

Writes $OUT/kernels_table.md and $OUT/kernels_table.json. Build step first: every submission is
evaluated once in test mode, several at a time, so that CUDA extensions and Triton kernels are
compiled in parallel before the sequential timed runs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench" / "harness"))

import torch  # noqa: E402
from common import WorkerClient  # noqa: E402

KERNELS = REPO / "kernels"
OUT = Path(os.environ.get("OUT", REPO / ".bench"))
BUILD_PARALLEL = 6
TIMING = {"budget_s": 0.5}  # per benchmark case and side; keeps the run under 8 minutes
EVAL_TIMEOUT_S = 300
COPY_BYTES = 1 << 30
MATMUL_N = 8192

# Goals from issue 10: (problem, candidate or "best", what, threshold).
GOALS = [
    ("softmax", "submission_triton.py", "bandwidth", 0.85),
    ("rmsnorm", "submission_triton.py", "bandwidth", 0.85),
    ("matmul", "best", "vs_reference_rate", 0.80),
    ("prefix_sum", "best", "bandwidth", 0.70),
]


# -- peaks -----------------------------------------------------------------------------------------
def _median_ms(fn, reps: int) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def measure_peaks() -> dict[str, float]:
    """Copy bandwidth (bytes read + written per second) and bf16 matmul rate (flop/s), measured now."""
    src = torch.empty(COPY_BYTES // 4, dtype=torch.float32, device="cuda").normal_()
    dst = torch.empty_like(src)
    copy_ms = _median_ms(lambda: dst.copy_(src), 30)
    src = dst = None  # freed before the matmul's inputs
    a = torch.randn(MATMUL_N, MATMUL_N, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(MATMUL_N, MATMUL_N, device="cuda", dtype=torch.bfloat16)
    mm_ms = _median_ms(lambda: a @ b, 20)
    a = b = None
    torch.cuda.empty_cache()
    return {
        "copy_bytes_per_s": 2 * COPY_BYTES / (copy_ms * 1e-3),
        "copy_ms": copy_ms,
        "bf16_flops_per_s": 2 * MATMUL_N**3 / (mm_ms * 1e-3),
        "matmul_ms": mm_ms,
    }


# -- per-case work ------------------------------------------------------------------------------
def case_work(problem_dir: Path) -> dict[str, dict[str, float]]:
    """Bytes a perfect kernel moves and flops it does, per benchmark case (the roofline's numerators).

    A reference's own bytes_moved(data) wins; otherwise inputs + outputs, an output written into an
    input buffer counted once (the harness's rule)."""
    from gpu_harness.check import shares_memory, tensor_leaves
    from gpu_harness.problem_loader import load_problem

    problem = load_problem(problem_dir)
    module = problem._reference()
    work = {}
    for case in problem.benchmarks:
        data = problem.generate(case.params)
        if hasattr(module, "bytes_moved"):
            moved = float(module.bytes_moved(data))
        else:
            inputs = tensor_leaves(data)
            outs = [
                o
                for o in tensor_leaves(problem.reference(data))
                if not any(shares_memory(o, i) for i in inputs)
            ]
            moved = float(sum(t.numel() * t.element_size() for t in inputs + outs))
        flops = problem.flop_count(data)
        work[case.name] = {"bytes": moved, "flops": flops or 0.0}
        del data
        torch.cuda.empty_cache()
    return work


def floor_ms(work: dict[str, float], peaks: dict[str, float]) -> float:
    floor = work["bytes"] / peaks["copy_bytes_per_s"]
    if work["flops"]:
        floor = max(floor, work["flops"] / peaks["bf16_flops_per_s"])
    return floor * 1e3


# -- evaluation ---------------------------------------------------------------------------------
def candidates(problem_dir: Path) -> list[Path]:
    found = (problem_dir / "examples").glob("submission_*.py")
    return sorted(p for p in found if p.name != "submission_reference.py")  # the reference is timed anyway


def build(pairs: list[tuple[Path, Path]]) -> dict[str, Any]:
    """Evaluate every candidate once in test mode, several at a time (compiles land in the caches)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def one(pair):
        problem, cand = pair
        command = [
            sys.executable,
            "-m",
            "gpu_harness",
            "smoke",
            str(problem),
            str(cand),
            "--mode",
            "test",
            "--json",
            "--timeout",
            str(EVAL_TIMEOUT_S),
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=REPO, timeout=EVAL_TIMEOUT_S + 60
        )
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            report = {"passed": False, "error": {"message": done.stderr[-2000:]}}
        return f"{problem.name}/{cand.name}", summarise_report(report)

    with ThreadPoolExecutor(BUILD_PARALLEL) as pool:
        return dict(pool.map(one, pairs))


def summarise_report(report: dict[str, Any]) -> dict[str, Any]:
    error = report.get("error")
    return {
        "passed": report.get("passed"),
        "exit_code": report.get("exit_code"),
        "flags": [f["name"] + ": " + f.get("detail", "") for f in report.get("flags") or []],
        "error": error and f"{error.get('stage')}/{error.get('kind')}: {error.get('message', '')[:800]}",
        "stderr_tail": error and (error.get("stderr_tail") or "")[-1500:],
        "failed_cases": [
            f"{c['name']} {c['params']}: {c['reason']} {c['message'][:200]}"
            for c in report.get("cases") or []
            if not c["passed"]
        ],
        "timing": {
            t["case"]: {
                "params": t["params"],
                "reference_ms": t["reference"]["median_ms"],
                "candidate_ms": t["candidate"]["median_ms"],
                "n": t["candidate"]["n"],
            }
            for t in report.get("timing") or []
        },
    }


def pct(floor: float, ms: float | None) -> str:
    return f"{100 * floor / ms:.0f}%" if ms else "-"


def table(name: str, work: dict, peaks: dict, results: dict[str, dict]) -> str:
    cands = sorted(results)
    lines = [
        f"### {name}",
        "",
        "| case | params | floor ms | reference ms | "
        + " | ".join(c[len("submission_") : -3] for c in cands)
        + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in cands) + " |",
    ]
    for case, w in work.items():
        floor = floor_ms(w, peaks)
        refs = [r["timing"][case]["reference_ms"] for r in results.values() if case in r["timing"]]
        ref = statistics.median(refs) if refs else None
        params = next((r["timing"][case]["params"] for r in results.values() if case in r["timing"]), {})
        shown = {k: v for k, v in params.items() if k != "seed"}
        cells = []
        for c in cands:
            t = results[c]["timing"].get(case)
            cells.append(f"{t['candidate_ms']:.4f} ({pct(floor, t['candidate_ms'])})" if t else "failed")
        ref_cell = f"{ref:.4f} ({pct(floor, ref)})" if ref else "-"
        lines.append(f"| {case} | {shown} | {floor:.4f} | {ref_cell} | " + " | ".join(cells) + " |")
    for c in cands:
        r = results[c]
        if not r["passed"]:
            lines.append(
                f"\n{c}: NOT PASSED. error: {r['error']}; flags: {r['flags']}; "
                f"failed: {r['failed_cases'][:3]}"
            )
    lines.append("")
    return "\n".join(lines)


def goals(all_work: dict, peaks: dict, all_results: dict) -> list[dict[str, Any]]:
    """Each goal at the problem's largest benchmark case (the last one listed)."""
    out = []
    for problem, cand, what, threshold in GOALS:
        if problem not in all_results or not all_work.get(problem):
            continue
        case = list(all_work[problem])[-1]
        floor = floor_ms(all_work[problem][case], peaks)
        timed = {
            c: r["timing"][case]
            for c, r in all_results[problem].items()
            if r["passed"] and case in r["timing"]
        }
        if cand != "best":
            timed = {c: t for c, t in timed.items() if c == cand}
        if not timed:
            out.append(
                {
                    "problem": problem,
                    "candidate": cand,
                    "goal": what,
                    "threshold": threshold,
                    "met": False,
                    "value": None,
                    "note": "no passing timed candidate",
                }
            )
            continue
        best = min(timed, key=lambda c: timed[c]["candidate_ms"])
        t = timed[best]
        if what == "vs_reference_rate":  # the reference is cuBLAS: the share of its rate reached
            value = t["reference_ms"] / t["candidate_ms"]
        else:  # the share of the measured copy bandwidth reached
            value = floor / t["candidate_ms"]
        out.append(
            {
                "problem": problem,
                "candidate": best,
                "case": case,
                "goal": what,
                "threshold": threshold,
                "value": round(value, 3),
                "met": value >= threshold,
            }
        )
    return out


def evaluate(pairs: list[tuple[Path, Path]], started: float) -> dict[str, dict[str, Any]]:
    """The timed runs, one at a time through one warm worker (mode both: checks, timing, recheck)."""
    worker = WorkerClient()
    results: dict[str, dict[str, Any]] = {}
    for problem, cand in pairs:
        answer = worker.smoke(problem, cand, "both", timeout_s=EVAL_TIMEOUT_S, timing=TIMING)
        results.setdefault(problem.name, {})[cand.name] = summarise_report(answer)
        elapsed = time.perf_counter() - started
        print(f"{problem.name}/{cand.name}: passed={answer.get('passed')} ({elapsed:.0f} s)", flush=True)
    worker.close()
    return results


def render(doc: dict[str, Any]) -> str:
    peaks = doc["peaks"]
    md = [
        f"## kernels/ on {doc['device']}",
        "",
        f"Measured in this run: copy {peaks['copy_bytes_per_s'] / 1e12:.2f} TB/s (1 GiB device-to-device, "
        f"read + write), bf16 matmul {peaks['bf16_flops_per_s'] / 1e12:.0f} TFLOP/s ({MATMUL_N}^3). "
        "Times are harness medians (CUDA events, cold L2); (x%) = roofline floor / time.",
        "",
    ]
    md += [table(name, doc["work"][name], peaks, results) for name, results in doc["results"].items()]
    md += [
        "### Goals (largest benchmark case)",
        "",
        "| problem | candidate | goal | value | threshold | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    md += [
        f"| {g['problem']} | {g['candidate']} | {g['goal']} | {g['value']} | {g['threshold']} | {g['met']} |"
        for g in doc["goals"]
    ]
    return "\n".join(md) + "\n"


def main(names: list[str]) -> int:
    started = time.perf_counter()
    problems = [KERNELS / n for n in names] if names else sorted(p.parent for p in KERNELS.glob("*/task.yml"))
    peaks = measure_peaks()
    print(
        f"copy {peaks['copy_bytes_per_s'] / 1e12:.2f} TB/s, "
        f"bf16 matmul {peaks['bf16_flops_per_s'] / 1e12:.0f} TFLOP/s",
        flush=True,
    )
    work = {p.name: case_work(p) for p in problems}
    pairs = [(p, c) for p in problems for c in candidates(p)]
    built = build(pairs)
    print(f"build/test pass: {time.perf_counter() - started:.0f} s", flush=True)
    for key, r in built.items():
        print(
            f"  {key}: passed={r['passed']} {r['error'] or ''} {r['flags'] or ''} {r['failed_cases'][:2] or ''}"
        )
    results = evaluate(pairs, started)
    doc = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "peaks": peaks,
        "work": work,
        "build": built,
        "results": results,
        "goals": goals(work, peaks, results),
        "wall_s": time.perf_counter() - started,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    text = render(doc)
    (OUT / "kernels_table.md").write_text(text)
    (OUT / "kernels_table.json").write_text(json.dumps(doc, indent=2, default=str))
    print(text)
    print(f"wall {doc['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
