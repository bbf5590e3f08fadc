"""GPU MODE problems: a folder with reference.py, task.yml and optional task.py; task.yml's `files:`
maps module names to sources so that `from utils import ...`, `from task import ...` and
`from submission import custom_kernel` resolve as on GPU MODE's runners (their eval.py is never used)."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch

from gpu_harness.outcome import (
    KIND_EXCEPTION,
    STAGE_LOAD,
    CandidateFailure,
    NeedsGpu,
    ProblemFormatError,
)
from gpu_harness.problem import (
    FORMAT_GPUMODE,
    NO_GPU_MARKERS,
    SUBMISSION_MODULE,
    SUBMISSION_PLACEHOLDER,
    Candidate,
    Problem,
    Settings,
    check_candidate_file,
    classify_exception,
    full_fp32_precision,
)


class _ModuleMap(importlib.abc.MetaPathFinder):
    """Resolves top-level module names to files, the way GPU MODE's `files:` list lays them out."""

    def __init__(self, mapping: dict[str, Path]):
        self.mapping = mapping

    def find_spec(self, fullname, path=None, target=None):
        source = self.mapping.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, str(source))


def _install_module_map(mapping: dict[str, Path]) -> None:
    for name in mapping:
        sys.modules.pop(name, None)
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _ModuleMap)]
    sys.meta_path.insert(0, _ModuleMap(mapping))


class GpuModeProblem(Problem):
    format = FORMAT_GPUMODE

    def __init__(self, path: Path, task: dict[str, Any], settings: Settings, tests, benchmarks, ranking_by):
        super().__init__(path, settings, tests, benchmarks, ranking_by)
        self.task = task
        self.modules = self._module_map(task)
        self._reference_module = None

    def _module_map(self, task: dict[str, Any]) -> dict[str, Path]:
        mapping: dict[str, Path] = {}
        files = task.get("files")
        if files:
            for entry in files:
                name, source = str(entry.get("name", "")), str(entry.get("source", ""))
                if not name.endswith(".py") or source == SUBMISSION_PLACEHOLDER:
                    continue
                target = (self.path / source).resolve()
                if target.is_file():  # their eval.py and the like may be absent: not needed
                    mapping[name[:-3]] = target
        else:
            for folder in (self.path.parent, self.path):  # the problem's own files win
                for file in sorted(folder.glob("*.py")):
                    mapping[file.stem] = file.resolve()
        if "reference" not in mapping:
            if not (self.path / "reference.py").is_file():
                raise ProblemFormatError(f"{self.path}: no reference.py, and task.yml's files: maps none")
            mapping["reference"] = (self.path / "reference.py").resolve()
        return mapping

    def _reference(self):
        if self._reference_module is None:
            _install_module_map(self.modules)
            try:
                import reference  # resolved by the module map
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"
                if any(m in text for m in NO_GPU_MARKERS):
                    raise NeedsGpu(f"the problem needs a GPU: {text}") from exc
                raise ProblemFormatError(f"{self.path}/reference.py failed to import: {text}") from exc
            for name in ("generate_input", "ref_kernel"):
                if not hasattr(reference, name):
                    raise ProblemFormatError(f"{self.path}/reference.py defines no {name}()")
            self._reference_module = reference
        return self._reference_module

    def generate(self, params):
        try:
            return self._reference().generate_input(**params)
        except (NeedsGpu, ProblemFormatError, torch.OutOfMemoryError):
            raise  # out of memory: the judge's own draw, which timing retries with fewer sets
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            if any(m in text for m in NO_GPU_MARKERS):
                raise NeedsGpu(f"the problem needs a GPU (its generate_input uses CUDA): {text}") from exc
            raise ProblemFormatError(f"generate_input({params}) failed: {text}") from exc

    def reference(self, data):
        return self._reference().ref_kernel(data)

    def own_check(self, data, output):
        check = getattr(self._reference(), "check_implementation", None)
        if check is None:
            return None
        verdict = check(data, output)
        # GPU MODE's utils return (good, message); older copies return '' for a pass or a message.
        if isinstance(verdict, tuple):
            return bool(verdict[0]), str(verdict[1] if len(verdict) > 1 else "")
        if isinstance(verdict, str):
            return verdict == "", verdict
        return bool(verdict), ""

    def has_own_check(self):
        return getattr(self._reference(), "check_implementation", None) is not None

    def declared_output_buffers(self):
        declared = self.task.get("output_buffers")
        if declared is None:
            return None
        if not isinstance(declared, list) or not all(isinstance(i, int) for i in declared):
            raise ProblemFormatError(
                f"{self.path}/task.yml: output_buffers must be a list of input positions "
                "(indices of the tensors generate_input returns, depth first)"
            )
        return declared

    def flop_count(self, data):
        count = getattr(self._reference(), "flop_count", None)
        return float(count(data)) if count is not None else None

    def reference_callables(self):
        ref = self._reference()
        return [getattr(ref, n) for n in ("ref_kernel",) if hasattr(ref, n)]

    def load_candidate(self, path):
        self._reference()
        check_candidate_file(path, self.device)
        if not self.task.get("allow_tf32", False):
            full_fp32_precision()
        self.modules[SUBMISSION_MODULE] = path.resolve()  # the installed map holds this dict
        sys.modules.pop(SUBMISSION_MODULE, None)
        if str(path.parent) not in sys.path:
            sys.path.append(str(path.parent))
        try:
            import submission  # resolved by the module map
        except Exception as exc:
            raise classify_exception(exc, STAGE_LOAD) from exc
        kernel = getattr(submission, "custom_kernel", None)
        if not callable(kernel):
            raise CandidateFailure(
                STAGE_LOAD, KIND_EXCEPTION, f"{path.name} defines no custom_kernel(data) function"
            )
        return Candidate(kernel, submission, path)
