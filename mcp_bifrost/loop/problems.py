"""Find kernel problems in a workspace: GPU MODE folders (task.yml + reference.py) and KernelBench files.

Read from the local working tree, which is what push sends: the remote twin holds the same files.
A task.yml is untrusted input read at bounded cost: at most MAX_TASK_BYTES, MAX_ALIASES aliases and
MAX_NODES nodes once aliases are expanded (a 563-byte alias bomb once took the server down). A problem
that cannot be read is listed with its `error`; the others are listed as usual.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from mcp_bifrost.models import ProblemInfo, ProblemsReport

MAX_DEPTH = 4
SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    "build",
    "dist",
}
KERNELBENCH = re.compile(r"^class\s+Model\b", re.M)
MAX_PY_BYTES = 200_000
MAX_TASK_BYTES = 256 * 1024
MAX_ALIASES = 100
MAX_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    """PyYAML's safe loader, counting aliases as it composes."""

    aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (*name)")
        return super().compose_node(parent, index)


def _expanded_size(node: yaml.Node, memo: dict[int, int], open_: set[int]) -> int:
    """How many nodes the document holds once every alias is expanded (shared nodes counted each time)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_:
        raise yaml.YAMLError("an alias refers to a node that contains it (a recursive document)")
    open_.add(key)
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(n, memo, open_) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo, open_) + _expanded_size(v, memo, open_) for k, v in node.value)
    else:
        size = 1
    open_.discard(key)
    memo[key] = size
    if size > MAX_NODES:
        raise yaml.YAMLError(f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)")
    return size


def load_task(path: Path) -> object:
    """A task.yml's data, or yaml.YAMLError / OSError; never more than the bounds above."""
    with open(path, "rb") as f:
        data = f.read(MAX_TASK_BYTES + 1)
    if len(data) > MAX_TASK_BYTES:
        raise yaml.YAMLError(f"larger than {MAX_TASK_BYTES // 1024} KiB")
    loader = _BoundedLoader(data.decode("utf-8", errors="replace"))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def find_problems(root: Path) -> ProblemsReport:
    found: list[ProblemInfo] = []
    root = root.resolve()
    for here, dirs, files in os.walk(root):
        rel_depth = len(Path(here).relative_to(root).parts)
        dirs[:] = sorted(
            d for d in dirs if d not in SKIP_DIRS and not d.startswith(".") and rel_depth < MAX_DEPTH
        )
        folder = Path(here)
        if "task.yml" in files and "reference.py" in files:
            info = _listed(root, folder, "gpumode", _gpumode)
            if info is not None:
                found.append(info)
            dirs[:] = [d for d in dirs if d != "examples"]
            continue
        for name in sorted(files):
            if name.endswith(".py") and not name.startswith(("test_", "submission")):
                info = _listed(root, folder / name, "kernelbench", _kernelbench)
                if info is not None:
                    found.append(info)
    return ProblemsReport(root=str(root), problems=found)


def _listed(
    root: Path, path: Path, fmt: str, read: Callable[[Path, Path], ProblemInfo | None]
) -> ProblemInfo | None:
    """One problem's entry; a problem that cannot be read is an entry with its error, never the end of the list."""
    try:
        return read(root, path)
    except Exception as exc:  # noqa: BLE001 - any defect of one problem's files stays with that problem
        return ProblemInfo(path=_rel(root, path), format=fmt, error=f"{type(exc).__name__}: {exc}"[:300])


def _gpumode(root: Path, folder: Path) -> ProblemInfo:
    try:
        task = load_task(folder / "task.yml") or {}
    except (yaml.YAMLError, OSError, UnicodeError) as exc:
        return ProblemInfo(
            path=_rel(root, folder),
            format="gpumode",
            error=f"task.yml cannot be read: {' '.join(str(exc).split())[:300]}",
        )
    if not isinstance(task, dict):
        return ProblemInfo(
            path=_rel(root, folder),
            format="gpumode",
            error=f"task.yml holds a {type(task).__name__}, not a mapping of keys (tests, benchmarks, ...)",
        )
    cases = {key: task.get(key) or [] for key in ("tests", "benchmarks")}
    for key, value in cases.items():
        if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
            return ProblemInfo(
                path=_rel(root, folder),
                format="gpumode",
                error=f"task.yml's {key} must be a list of mappings (one per case, e.g. "
                "{size: 1024, seed: 1})",
            )
    examples = folder / "examples"
    return ProblemInfo(
        path=_rel(root, folder),
        format="gpumode",
        description=" ".join(str(task.get("description") or "").split())[:300],
        tests=cases["tests"],
        benchmarks=cases["benchmarks"],
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
    return ProblemInfo(
        path=_rel(root, path),
        format="kernelbench",
        description=" ".join(doc.group(1).split())[:300] if doc else "",
    )


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
