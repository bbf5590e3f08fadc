"""What one evaluation carries from step to step: the problem, the candidate, the report, the
output-buffer plan, the deadline, and the guard's baselines. evaluate.py drives it; correctness.py
and benchmark.py read and extend it."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from gpu_harness import guard
from gpu_harness.buffers import BufferPlan
from gpu_harness.check import clone_tree, poison, tensor_leaves
from gpu_harness.deadline import COMPILE_ALLOWANCE_S, Deadline
from gpu_harness.guard import PATCH_WATCH, cuda_synchronize, perf_counter_ns
from gpu_harness.outcome import STAGE_RUN, Mode, Report, Stage
from gpu_harness.problem import Candidate, Problem, classify_exception


@dataclass
class EvalState:
    problem: Problem
    report: Report
    mode: Mode
    deadline: Deadline
    overrides: dict[str, Any] = field(default_factory=dict)
    on_stage: Callable[[str], None] = lambda stage: None
    on_case: Callable[[dict[str, Any]], None] = lambda case: None
    on_compiling: Callable[[bool], None] = lambda compiling: None
    compile_allowance_s: float = COMPILE_ALLOWANCE_S
    compile_s: float = 0.0                 # import and first call (compilation, maybe)
    compile_excluded_s: float = 0.0        # of which not counted against the deadline
    first_call_done: bool = False
    secret: int = field(default_factory=lambda: int.from_bytes(os.urandom(4), "little") >> 2)  # never shown
    candidate: Candidate | None = None
    plan: BufferPlan = field(default_factory=BufferPlan)
    threads: set = field(default_factory=guard.live_threads)
    _stage: str | None = None
    _stage_started: int = 0

    @property
    def on_gpu(self) -> bool:
        return self.problem.device.type == "cuda"

    @property
    def rtol(self) -> float | None:
        return self.problem.settings.rtol

    @property
    def atol(self) -> float | None:
        return self.problem.settings.atol

    # -- stages -------------------------------------------------------------------------------
    def stage(self, name: Stage) -> None:
        """Enter a stage: tell the parent (so a crash is attributed) and account the time spent."""
        now = perf_counter_ns()
        if self._stage is not None:
            spent = self.report.stage_s
            spent[self._stage] = spent.get(self._stage, 0.0) + (now - self._stage_started) / 1e9
        self._stage, self._stage_started = name, now
        self.on_stage(name)

    def close_stage(self) -> None:
        if self._stage is not None:
            self.stage(self._stage)

    # -- calling the candidate ----------------------------------------------------------------
    def synchronize(self) -> None:
        if self.on_gpu:
            cuda_synchronize()

    def candidate_copy(self, data: Any) -> Any:
        """Fresh memory for the candidate, output buffers poisoned."""
        copy = clone_tree(data)
        for i, leaf in enumerate(tensor_leaves(copy)):
            if i in self.plan.poisonable:
                poison(leaf)
        return copy

    def call_candidate(self, data: Any) -> Any:
        """One checked call: exceptions classified, patches undone, left-over threads judged by effect."""
        try:
            with self.compiling(not self.first_call_done):     # Triton JIT, torch.compile: first call
                self.first_call_done = True
                out = self.candidate.call(data)
                self.synchronize()
        except Exception as exc:
            raise classify_exception(exc, STAGE_RUN) from exc
        self.guard_patches("call")
        new = guard.new_threads(self.threads)
        if new:
            names = ", ".join(t.name for t in new)
            if guard.changed_after_return(out, new, self.on_gpu):
                self.report.add_flag(guard.FLAG_SIDE_STREAM,
                                     f"the output changed after the call returned, while threads it started "
                                     f"were running ({names}): work deferred past the return")
            else:
                self.report.add_note(guard.NOTE_THREADS_LEFT_RUNNING,
                                     f"threads left running after the call ({names}) did not touch its output "
                                     "(compile workers, progress monitors)")
                self.threads |= set(new)
        return out

    @contextlib.contextmanager
    def compiling(self, active: bool = True):
        """Time that may be compilation (the candidate's import, its first call) stops the deadline's
        clock, here and in the parent's kill clock, up to `compile_allowance_s` in all."""
        if not active:
            yield
            return
        allowed = self.compile_allowance_s > 0
        if allowed:
            self.on_compiling(True)
        started = perf_counter_ns()
        try:
            yield
        finally:
            spent = (perf_counter_ns() - started) / 1e9
            excluded = min(spent, max(self.compile_allowance_s - self.compile_excluded_s, 0.0))
            self.compile_s += spent
            self.compile_excluded_s += excluded
            self.deadline.extend(excluded)
            if allowed:
                self.on_compiling(False)

    def guard_patches(self, when: str) -> None:
        changed = PATCH_WATCH.changed()
        for flag, name in changed:
            self.report.add_flag(flag, f"{name} was replaced by the candidate (at {when}); the harness uses "
                                       "its own references, bound before the candidate was imported")
        if changed:
            PATCH_WATCH.restore()
