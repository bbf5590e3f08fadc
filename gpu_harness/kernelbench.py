"""KernelBench problems: one file with `class Model`, `get_inputs()`, `get_init_inputs()`; the candidate
defines `class ModelNew`. Seeded before each construction and each `get_inputs()`, which is called with
the harness's device as torch's default device."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

import torch

from gpu_harness.outcome import (
    KIND_EXCEPTION,
    STAGE_LOAD,
    CandidateFailure,
    ProblemFormatError,
)
from gpu_harness.problem import (
    FORMAT_KERNELBENCH,
    KERNELBENCH_BENCHMARK_SEED,
    KERNELBENCH_INIT_SEED,
    KERNELBENCH_TEST_SEEDS,
    SUBMISSION_MODULE,
    Candidate,
    Case,
    Problem,
    Settings,
    check_candidate_file,
    classify_exception,
)


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
        check_candidate_file(path, self.device)
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
