"""Load a problem (GPU MODE folder or KernelBench file) and a candidate, behind one interface.

GPU MODE layout (also the native layout of kernels/): a folder with reference.py
(`generate_input(**params)`, `ref_kernel(data)`, optional `check_implementation(data, output)`),
task.yml (`tests`, `benchmarks`, optional `files`, `ranking_by`, tolerances), optional task.py.
task.yml's `files:` list maps module names to sources relative to the folder, so that a reference's
`from utils import ...`, `from task import ...` and `from submission import custom_kernel` resolve
exactly as on GPU MODE's runners; their eval.py is never used.

KernelBench: one Python file with `class Model`, `get_inputs()`, `get_init_inputs()`; the candidate
defines `class ModelNew`. Seeded before each construction and before each `get_inputs()`, which is
called with the harness's device as torch's default device so its tensors are drawn there.
"""

from __future__ import annotations

import abc
import ast
import importlib.abc
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gpu_harness.outcome import (
    KIND_COMPILE_ERROR,
    KIND_EXCEPTION,
    KIND_ILLEGAL_MEMORY_ACCESS,
    KIND_IMPORT_ERROR,
    KIND_NEEDS_GPU,
    KIND_OUT_OF_MEMORY,
    KIND_SYNTAX_ERROR,
    STAGE_COMPILE,
    STAGE_LOAD,
    CandidateFailure,
    CandidateNotFound,
    NeedsGpu,
    ProblemFormatError,
    ProblemNotFound,
)

FORMAT_GPUMODE = "gpumode"
FORMAT_KERNELBENCH = "kernelbench"

SUBMISSION_PLACEHOLDER = "@SUBMISSION@"
SUBMISSION_MODULE = "submission"
RANKINGS = ("last", "mean", "geom")
DEFAULT_RANKING = "geom"

# KernelBench has no test/benchmark split: tests are fresh seeds on the problem's shapes.
KERNELBENCH_TEST_SEEDS = (1001, 2002, 3003)
KERNELBENCH_BENCHMARK_SEED = 4004
KERNELBENCH_INIT_SEED = 42

# Defaults that a problem's task.yml can override.
DEFAULT_SECRET_REPEATS = 2  # the most; the time plan (plan.py) may run fewer, never none
DEFAULT_SPEEDUP_SANITY_LIMIT = 10.0

# Text of errors that only happen because this machine has no usable GPU.
NO_GPU_MARKERS = (
    "Torch not compiled with CUDA enabled",
    "Found no NVIDIA driver",
    "no CUDA GPUs are available",
    "CUDA driver initialization failed",
    "libcuda.so",
    "CUDA_HOME environment variable is not set",
    "No CUDA runtime is found",
    "cudaErrorNoDevice",
    "cudaErrorInsufficientDriver",
    "without ATen_cuda library",
    "CUDA is not available",
)
# Candidate sources that cannot run without a GPU (CuPy, CUDA C++ through load_inline / nvcc).
NEEDS_GPU_SOURCE = re.compile(r"^\s*(import|from)\s+cupy\b|\bcuda_sources\s*=|\bcupy\.|\.cu['\"]", re.M)


@dataclass
class Case:
    name: str
    kind: str  # test | secret | benchmark
    params: dict[str, Any]

    def public_params(self) -> dict[str, Any]:
        """Params as reported: a secret seed is never printed."""
        if self.kind in ("secret", "recheck"):
            return {k: ("secret" if k == "seed" else v) for k, v in self.params.items()}
        return dict(self.params)


@dataclass
class Settings:
    """Problem-level overrides of the harness defaults (task.yml keys of the same names)."""

    rtol: float | None = None
    atol: float | None = None
    secret_repeats: int = DEFAULT_SECRET_REPEATS
    speedup_sanity_limit: float = DEFAULT_SPEEDUP_SANITY_LIMIT
    roofline: bool = True
    timing: dict[str, Any] = field(default_factory=dict)


class Candidate:
    """A loaded candidate: call it with a problem's data to get its output."""

    def __init__(self, call: Callable[[Any], Any], module: Any, path: Path):
        self.call = call
        self.module = module
        self.path = path


def full_fp32_precision() -> None:
    """fp32 torch ops at full fp32 precision (no TF32 in cuDNN convolutions or cuBLAS matmuls), as GPU
    MODE's references compute inside their DeterministicContext: an honest torch candidate is then
    held to the problem's tolerance with the same arithmetic. A candidate may turn TF32 on itself
    (then it answers for the error); task.yml `allow_tf32: true` keeps torch's defaults."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def harness_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def combine_seed(public: int, secret: int) -> int:
    """Mix a secret into a public seed (Cantor pairing). Public seeds are small and known; pairing
    with a large secret gives a large seed the candidate cannot predict from the public one."""
    return public + (public + secret) * (public + secret + 1) // 2


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


def classify_exception(exc: BaseException, stage: str) -> CandidateFailure:
    """Translate any exception raised by candidate code into a CandidateFailure (one place). Its
    traceback goes to stderr, which the report's `error.stderr_tail` carries."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, CandidateFailure):
        return exc
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if any(marker in text for marker in NO_GPU_MARKERS):
        return CandidateFailure(stage, KIND_NEEDS_GPU, "needs a GPU: " + text)
    names = {cls.__name__ for cls in type(exc).__mro__}
    modules = {cls.__module__ for cls in type(exc).__mro__}
    if names & {
        "TritonError",
        "CompilationError",
        "CompileTimeAssertionFailure",
        "CompileException",
        "NVRTCError",
    } or any(m.startswith("triton.compiler") for m in modules):
        return CandidateFailure(STAGE_COMPILE, KIND_COMPILE_ERROR, text)
    if "Error building extension" in text or "nvcc" in text and "error" in text.lower():
        return CandidateFailure(STAGE_COMPILE, KIND_COMPILE_ERROR, text)
    if (
        isinstance(exc, torch.cuda.OutOfMemoryError)
        or "out of memory" in text
        or "can't allocate memory" in text
        or isinstance(exc, MemoryError)
    ):
        return CandidateFailure(stage, KIND_OUT_OF_MEMORY, text)
    if "illegal memory access" in text or "misaligned address" in text or "an illegal instruction" in text:
        return CandidateFailure(stage, KIND_ILLEGAL_MEMORY_ACCESS, text)
    if isinstance(exc, SyntaxError):
        return CandidateFailure(STAGE_LOAD, KIND_SYNTAX_ERROR, text)
    if isinstance(exc, ImportError):
        return CandidateFailure(STAGE_LOAD, KIND_IMPORT_ERROR, text)
    return CandidateFailure(stage, KIND_EXCEPTION, text)


def _check_candidate_file(path: Path, device: torch.device) -> str:
    if not path.is_file():
        raise CandidateNotFound(f"candidate not found: {path}")
    source = path.read_text(errors="replace")
    try:
        ast.parse(source, str(path))
    except SyntaxError as exc:
        traceback.print_exception(type(exc), exc, None, file=sys.stderr)
        raise CandidateFailure(
            STAGE_LOAD, KIND_SYNTAX_ERROR, f"SyntaxError: {exc.msg} ({path.name}, line {exc.lineno})"
        ) from exc
    if device.type == "cpu" and NEEDS_GPU_SOURCE.search(source):
        raise CandidateFailure(
            STAGE_LOAD,
            KIND_NEEDS_GPU,
            "needs a GPU: the candidate uses CuPy or CUDA C++, and this machine has no CUDA "
            "device; run it on the GPU target",
        )
    return source


class Problem(abc.ABC):
    """Uniform view of a problem, whatever its format."""

    format = ""

    def __init__(
        self, path: Path, settings: Settings, tests: list[Case], benchmarks: list[Case], ranking_by: str
    ):
        self.path = path
        self.name = path.stem if path.is_file() else path.name
        self.settings = settings
        self.tests = tests
        self.benchmarks = benchmarks
        self.ranking_by = ranking_by
        self.device = harness_device()

    # -- what every format provides -----------------------------------------------------------
    @abc.abstractmethod
    def generate(self, params: dict[str, Any]) -> Any: ...

    @abc.abstractmethod
    def reference(self, data: Any) -> Any: ...

    def own_check(self, data: Any, output: Any) -> tuple[bool, str] | None:
        """The problem's own verdict, if it defines one (GPU MODE's check_implementation)."""
        return None

    def has_own_check(self) -> bool:
        return False

    def declared_output_buffers(self) -> list[int] | None:
        """Input leaves the format declares as output buffers (None: infer them from the reference)."""
        return None

    @abc.abstractmethod
    def load_candidate(self, path: Path) -> Candidate: ...

    def flop_count(self, data: Any) -> float | None:
        return None

    def reference_callables(self) -> list[Any]:
        return []


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
        except (NeedsGpu, ProblemFormatError):
            raise
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
        _check_candidate_file(path, self.device)
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


class KernelBenchProblem(Problem):
    format = FORMAT_KERNELBENCH

    def __init__(self, path: Path, settings: Settings):
        tests = [Case(f"test{i}", "test", {"seed": s}) for i, s in enumerate(KERNELBENCH_TEST_SEEDS)]
        benchmarks = [Case("bench0", "benchmark", {"seed": KERNELBENCH_BENCHMARK_SEED})]
        super().__init__(path, settings, tests, benchmarks, "last")
        self._module = None
        self._model = None

    def _problem_module(self):
        if self._module is None:
            spec = importlib.util.spec_from_file_location("kernelbench_problem", str(self.path))
            module = importlib.util.module_from_spec(spec)
            sys.modules["kernelbench_problem"] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                raise ProblemFormatError(
                    f"{self.path} failed to import: {type(exc).__name__}: {exc}"
                ) from exc
            self._module = module
        return self._module

    def _construct(self, cls):
        module = self._problem_module()
        torch.manual_seed(KERNELBENCH_INIT_SEED)  # same seed for Model and ModelNew: same weights
        init = module.get_init_inputs()
        torch.manual_seed(KERNELBENCH_INIT_SEED)
        with torch.device(self.device):
            model = cls(*init)
        model = model.to(self.device)
        if hasattr(model, "eval"):
            model.eval()
        return model

    def generate(self, params):
        module = self._problem_module()
        torch.manual_seed(int(params.get("seed", 0)))
        with torch.device(self.device):  # get_inputs' torch.rand draws on the device
            inputs = module.get_inputs()
        return [x.to(self.device) if isinstance(x, torch.Tensor) else x for x in inputs]

    def reference(self, data):
        if self._model is None:
            self._model = self._construct(self._problem_module().Model)
        with torch.no_grad():
            return self._model(*data)

    def declared_output_buffers(self):
        return []  # forward(*inputs) returns new tensors: no input is an output

    def reference_callables(self):
        module = self._problem_module()
        return [module.Model, getattr(module.Model, "forward", None)]

    def load_candidate(self, path):
        self._problem_module()
        _check_candidate_file(path, self.device)
        if str(path.parent) not in sys.path:
            sys.path.append(str(path.parent))
        spec = importlib.util.spec_from_file_location(SUBMISSION_MODULE, str(path))
        module = importlib.util.module_from_spec(spec)
        sys.modules[SUBMISSION_MODULE] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise classify_exception(exc, STAGE_LOAD) from exc
        cls = getattr(module, "ModelNew", None)
        if cls is None:
            raise CandidateFailure(STAGE_LOAD, KIND_EXCEPTION, f"{path.name} defines no class ModelNew")
        try:
            model = self._construct(cls)
        except Exception as exc:
            raise classify_exception(exc, STAGE_LOAD) from exc

        def call(data):
            with torch.no_grad():
                return model(*data)

        return Candidate(call, module, path)


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
