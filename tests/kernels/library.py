"""What the kernels/ tests share: the problem list, the example files, and a harness worker."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KERNELS = REPO / "kernels"
PROBLEMS = sorted(p.parent.name for p in KERNELS.glob("*/task.yml"))
CPU_LANGUAGES = ("torch", "triton")  # run on the CPU: torch, and Triton through its interpreter
GPU_LANGUAGES = ("cuda_inline", "cupy")  # need a CUDA device

sys.path.insert(0, str(REPO / "bench" / "harness"))
from common import WorkerClient  # noqa: E402  (the harness benchmarks' client for `gpu_harness serve`)


def examples(language: str) -> list[tuple[str, Path]]:
    """(problem, file) for every example in `language` (submission_<language>.py)."""
    return [
        (p, KERNELS / p / "examples" / f"submission_{language}.py")
        for p in PROBLEMS
        if (KERNELS / p / "examples" / f"submission_{language}.py").is_file()
    ]


__all__ = ["CPU_LANGUAGES", "GPU_LANGUAGES", "KERNELS", "PROBLEMS", "REPO", "WorkerClient", "examples"]
