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
# torch's allocator, out of GPU memory, asks NVML which processes hold the memory before it raises; in
# the candidate's process NVML cannot see the device (the confinement hides it: as root it could lock
# the clocks), and the allocator's internal assert replaces the out-of-memory error (H100 and H200,
# torch 2.11, 2026-12-07).
TORCH_OOM_NVML_MARKERS = ("CUDACachingAllocator", "nvml")
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
    if all(marker in text for marker in TORCH_OOM_NVML_MARKERS):
        return CandidateFailure(
            stage,
            KIND_OUT_OF_MEMORY,
            "CUDA out of memory (torch then failed to list the GPU's processes: NVML is hidden from "
            f"candidates): {text}",
        )
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


def check_candidate_file(path: Path, device: torch.device) -> str:
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
