"""A kernel agent's loop on mcp-bifrost's Python API: a model writes a candidate, the target judges it,
the profiler is asked when progress stalls, and the best candidate is kept.

The "model" here is scripted (canned candidates, no API key) and the target is the configured default
(with no config file: `local`, where the harness runs CPU problems), so this runs anywhere:

    python examples/agent_loop.py                # or --target gpu for a configured GPU host

Replace `scripted_model` with a call to your LLM; README's "Python API" section shows that shape.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from pathlib import Path

import mcp_bifrost

KERNELS = Path(__file__).resolve().parents[1] / "kernels"
PROBLEM = "vectoradd"  # a GPU MODE problem folder: reference.py, task.yml; its utils.py sits one level up

CANDIDATES = [  # what a model might write, attempt by attempt
    "def custom_kernel(data):\n    A, B, C = data\n    C.copy_(A - B)\n    return C\n",  # wrong: subtracts
    "def custom_kernel(data):\n    A, B, C = data\n    C.copy_(A + B)\n    return C\n",  # right, one temporary
    "import torch\n\n\ndef custom_kernel(data):\n    A, B, C = data\n    torch.add(A, B, out=C)\n    return C\n",
    (
        "def custom_kernel(data):\n    A, B, C = data\n    for a, b, c in zip(A.split(8), B.split(8), C.split(8)):\n"
        "        c.copy_(a + b)\n    return C\n"
    ),  # right but slow: the loop is stuck, time to profile
]


def scripted_model(attempt: int, feedback: str) -> str | None:
    """Stands for an LLM call: the next candidate's source, given the last feedback; None to stop."""
    return CANDIDATES[attempt] if attempt < len(CANDIDATES) else None


async def agent_loop(target: str | None, max_attempts: int = 10) -> mcp_bifrost.SmokeReport | None:
    workspace = Path(tempfile.mkdtemp(prefix="agent-loop-"))  # the folder the target's twin mirrors
    shutil.copytree(KERNELS / PROBLEM, workspace / PROBLEM, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(KERNELS / "utils.py", workspace / "utils.py")
    best: mcp_bifrost.SmokeReport | None = None
    feedback = f"Write custom_kernel(data) for {PROBLEM}/reference.py; start simply correct."
    async with mcp_bifrost.GPU(workspace=workspace) as gpu:
        for attempt in range(max_attempts):
            source = scripted_model(attempt, feedback)
            if source is None:
                break
            candidate = f"{PROBLEM}/cand_{attempt + 1:02d}.py"
            (workspace / candidate).write_text(source)
            report = await gpu.run_smoke_test(PROBLEM, candidate, target=target)  # pushes, checks, times
            print(f"{candidate}: {report.summary}")
            feedback = report.summary + (f"\n{report.error.message}" if report.error else "")
            if report.passed and (best is None or (report.speedup or 0) > (best.speedup or 0)):
                best = report
            elif best is not None:  # no better than the best: ask the profiler what bounds the best one
                try:
                    profile = await gpu.profile_ncu(
                        PROBLEM, best.candidate, target=target, baseline="reference"
                    )
                    feedback += "\nprofile of the best: " + profile.summary
                except mcp_bifrost.BifrostError as exc:  # no Nsight Compute here (a CPU-only target)
                    feedback += f"\nno profile: {exc}"
                print(f"  stuck; {feedback.splitlines()[-1][:100]}")
        history = await gpu.history(PROBLEM)
    print(f"best: {best.candidate} {best.speedup:.2f}x" if best and best.speedup else "best: none passed")
    print(f"history holds {history.total} results for {PROBLEM}")
    return best


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", help="a configured target (default: the configured default)")
    asyncio.run(agent_loop(parser.parse_args().target))
