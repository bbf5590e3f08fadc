"""Fan-out across the GPUs of one host (issue 12), measured through the real MCP client over stdio.

`mcp-bifrost serve` with the `local` target configured with gpus=[0..N-1] smoke-tests 2N candidates of
one kernels/ problem in one run_smoke_test(candidates=[...]) call; then the same candidates on one GPU
(gpus=[0]), same host. Each server first runs one untimed pass so that imports and JIT
caches are warm on every worker before the timed pass.

    OUT=/tmp/out PYTHONPATH=. python bench/bench_fanout.py              # N = all visible GPUs
    OUT=/tmp/out PYTHONPATH=. python bench/bench_fanout.py --gpus 2 --problem matmul

Prints a table (candidate, GPU it ran on, median on one GPU, median fanned out, difference) and writes
$OUT/bench_fanout.json. Goals (issue 12): wall <= 0.6x the one-GPU run for N = 2, <= 0.35x for N = 4;
each candidate's median within 5 % of its one-GPU median. Runs with N = 1 on a one-GPU (or CPU) host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import local_server
from local_server import server
from mcp import Client

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = ("submission_torch.py", "submission_triton.py", "submission_reference.py")


def visible_gpus() -> int:
    try:
        import torch

        return max(1, torch.cuda.device_count())
    except ImportError:
        return 1


def make_workspace(root: Path, problem: str, count: int) -> tuple[Path, list[str]]:
    ws = root / "ws"
    shutil.copytree(REPO / "kernels" / problem, ws / problem, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "kernels" / "utils.py", ws / "utils.py")
    examples = [e for e in EXAMPLES if (ws / problem / "examples" / e).is_file()]
    cands = []
    for i in range(count):
        path = f"{problem}/cand_{i:02d}_{examples[i % len(examples)]}"
        shutil.copy(ws / problem / "examples" / examples[i % len(examples)], ws / path)
        cands.append(path)
    return ws, cands


def write_config(root: Path, gpus: list[int]) -> Path:
    return local_server.write_config(root, f"{len(gpus)}gpu", target_lines=f"gpus = {gpus}\n")


async def fan(client: Client, problem: str, cands: list[str], mode: str) -> tuple[dict, float]:
    started = time.perf_counter()
    result = await client.call_tool(
        "run_smoke_test", {"problem": problem, "candidates": cands, "mode": mode, "target": "local"}
    )
    wall = time.perf_counter() - started
    if result.is_error:
        raise RuntimeError(f"run_smoke_test failed: {result.content[0].text}")
    return result.structured_content, wall


async def measure(config: Path, ws: Path, problem: str, cands: list[str]) -> dict:
    async with Client(server(config, ws)) as client:
        warm, warm_wall = await fan(client, problem, cands, "both")  # JIT caches hold every size after it
        report, wall = await fan(client, problem, cands, "both")
    return {"wall_s": round(wall, 3), "warmup_wall_s": round(warm_wall, 3), "report": report}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--gpus", type=int, default=visible_gpus(), help="N: GPUs to fan out over (default: all)"
    )
    parser.add_argument(
        "--problem", default="softmax", help="a kernels/ problem folder (default: softmax: no autotune)"
    )
    args = parser.parse_args()
    out = Path(os.environ.get("OUT") or tempfile.mkdtemp(prefix="bench-fanout-"))
    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    n = args.gpus
    ws, cands = make_workspace(root, args.problem, 2 * n)
    one = await measure(write_config(root, [0]), ws, args.problem, cands)
    many = await measure(write_config(root, list(range(n))), ws, args.problem, cands)
    rows = []
    for single, fanned in zip(one["report"]["reports"], many["report"]["reports"]):
        a, b = single.get("candidate_us"), fanned.get("candidate_us")
        rows.append(
            {
                "candidate": single["candidate"],
                "gpu": fanned["device"].get("gpu_index"),
                "device": fanned["device"].get("name"),
                "one_gpu_us": a,
                "fanned_us": b,
                "diff_pct": round(100 * (b - a) / a, 2) if a and b else None,
                "passed": [single["passed"], fanned["passed"]],
            }
        )
    ratio = many["wall_s"] / one["wall_s"]
    worst = max((abs(r["diff_pct"]) for r in rows if r["diff_pct"] is not None), default=None)
    goal = 0.6 if n == 2 else 0.35 if n >= 4 else None
    doc = {
        "gpus": n,
        "problem": args.problem,
        "candidates": cands,
        "one_gpu": one,
        "fanned": many,
        "wall_ratio": round(ratio, 3),
        "wall_goal": goal,
        "worst_median_diff_pct": worst,
        "rows": rows,
    }
    (out / "bench_fanout.json").write_text(json.dumps(doc, indent=1))
    print(
        f"{len(cands)} candidates of {args.problem}: one GPU {one['wall_s']:.2f} s, {n} GPU(s) {many['wall_s']:.2f} s "
        f"-> {ratio:.2f}x" + (f" (goal <= {goal}x: {'met' if ratio <= goal else 'MISSED'})" if goal else "")
    )
    print(f"  fan-out summary: {many['report']['summary']}")
    print(f"{'candidate':44} {'GPU':>3} {'1-GPU us':>10} {'fanned us':>10} {'diff %':>7}  passed")
    for r in rows:
        print(
            f"{r['candidate']:44} {str(r['gpu']):>3} {r['one_gpu_us'] or float('nan'):10.2f} "
            f"{r['fanned_us'] or float('nan'):10.2f} "
            f"{r['diff_pct'] if r['diff_pct'] is not None else '?':>7}  {r['passed']}"
        )
    print(f"worst median difference: {worst}% (goal: within 5 %)")
    print(f"written: {out / 'bench_fanout.json'}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
