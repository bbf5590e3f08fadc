"""Which format a problem path is, and its description loaded (not its code yet)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from gpu_harness.gpumode import GpuModeProblem
from gpu_harness.kernelbench import KernelBenchProblem
from gpu_harness.outcome import (
    ProblemFormatError,
    ProblemNotFound,
)
from gpu_harness.problem import (
    DEFAULT_RANKING,
    DEFAULT_SECRET_REPEATS,
    DEFAULT_SPEEDUP_SANITY_LIMIT,
    RANKINGS,
    Case,
    Problem,
    Settings,
    harness_device,
)


def _settings(task: dict[str, Any]) -> Settings:
    tolerance = task.get("tolerance") or {}
    settings = Settings(
        rtol=tolerance.get("rtol", task.get("rtol")),
        atol=tolerance.get("atol", task.get("atol")),
        secret_repeats=int(task.get("secret_repeats", DEFAULT_SECRET_REPEATS)),
        speedup_sanity_limit=float(task.get("speedup_sanity_limit", DEFAULT_SPEEDUP_SANITY_LIMIT)),
        roofline=bool(task.get("roofline", True)),
        timing=dict(task.get("timing") or {}),
    )
    return settings


def _cases(entries: Any, kind: str, prefix: str, where: Path) -> list[Case]:
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ProblemFormatError(f"{where}: `{kind}s` must be a list of parameter mappings")
    return [Case(f"{prefix}{i}", kind, dict(e)) for i, e in enumerate(entries)]


def load_problem(path: str | os.PathLike) -> Problem:
    """Detect the format at `path` and load the problem's description (not its code yet)."""
    path = Path(path).resolve()
    if not path.exists():
        raise ProblemNotFound(f"problem not found: {path}")
    if path.is_dir():
        if not (path / "reference.py").is_file() and not (path / "task.yml").is_file():
            raise ProblemFormatError(
                f"{path} has neither reference.py nor task.yml: not a GPU MODE problem folder"
            )
        task: dict[str, Any] = {}
        task_file = path / "task.yml"
        if task_file.is_file():
            try:
                import yaml
            except ImportError as exc:
                raise ProblemFormatError(
                    f"{task_file} needs PyYAML, which this Python lacks: `pip install pyyaml` on this host, or "
                    "ship the harness with its bundled pure-Python yaml package"
                ) from exc
            try:
                task = yaml.safe_load(task_file.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ProblemFormatError(f"{task_file}: invalid YAML: {exc}") from exc
        on_cpu = harness_device().type == "cpu"
        tests = _cases(
            task.get("cpu_tests") if on_cpu and "cpu_tests" in task else task.get("tests"),
            "test",
            "test",
            task_file,
        )
        benchmarks = _cases(
            task.get("cpu_benchmarks") if on_cpu and "cpu_benchmarks" in task else task.get("benchmarks"),
            "benchmark",
            "bench",
            task_file,
        )
        if not tests and not benchmarks:
            raise ProblemFormatError(f"{task_file} lists no tests and no benchmarks")
        ranking = str(task.get("ranking_by", DEFAULT_RANKING))
        if ranking not in RANKINGS:
            raise ProblemFormatError(f"{task_file}: ranking_by must be one of {RANKINGS}, not {ranking!r}")
        return GpuModeProblem(path, task, _settings(task), tests, benchmarks, ranking)
    if path.suffix == ".py":
        source = path.read_text(errors="replace")
        if re.search(r"^class\s+Model\b", source, re.M) and "def get_inputs" in source:
            return KernelBenchProblem(path, Settings())
        raise ProblemFormatError(f"{path} is not a KernelBench problem (needs class Model and get_inputs())")
    raise ProblemFormatError(f"{path}: expected a GPU MODE folder or a KernelBench .py file")
