"""Find kernel problems in a workspace: GPU MODE folders (task.yml + reference.py) and KernelBench files.

Read from the local working tree, which is what push sends: the remote twin holds the same files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from mcp_bifrost.models import ProblemInfo, ProblemsReport

MAX_DEPTH = 4
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache", "build", "dist"}
KERNELBENCH = re.compile(r"^class\s+Model\b", re.M)
MAX_PY_BYTES = 200_000


def find_problems(root: Path) -> ProblemsReport:
    found: list[ProblemInfo] = []
    root = root.resolve()
    for here, dirs, files in os.walk(root):
        rel_depth = len(Path(here).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".") and rel_depth < MAX_DEPTH)
        folder = Path(here)
        if "task.yml" in files and "reference.py" in files:
            found.append(_gpumode(root, folder))
            dirs[:] = [d for d in dirs if d != "examples"]
            continue
        for name in sorted(files):
            if name.endswith(".py") and not name.startswith(("test_", "submission")):
                info = _kernelbench(root, folder / name)
                if info is not None:
                    found.append(info)
    return ProblemsReport(root=str(root), problems=found)


def _gpumode(root: Path, folder: Path) -> ProblemInfo:
    try:
        task = yaml.safe_load((folder / "task.yml").read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, OSError) as exc:
        return ProblemInfo(path=_rel(root, folder), format="gpumode", description=f"task.yml unreadable: {exc}")
    examples = folder / "examples"
    return ProblemInfo(
        path=_rel(root, folder), format="gpumode",
        description=" ".join(str(task.get("description") or "").split())[:300],
        tests=list(task.get("tests") or []), benchmarks=list(task.get("benchmarks") or []),
        examples=[_rel(root, p) for p in sorted(examples.glob("*.py"))] if examples.is_dir() else [],
    )


def _kernelbench(root: Path, path: Path) -> ProblemInfo | None:
    try:
        if path.stat().st_size > MAX_PY_BYTES:
            return None
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if not KERNELBENCH.search(source) or "def get_inputs" not in source:
        return None
    doc = re.search(r'^"""(.*?)"""', source, re.S)
    return ProblemInfo(path=_rel(root, path), format="kernelbench",
                       description=" ".join(doc.group(1).split())[:300] if doc else "")


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
