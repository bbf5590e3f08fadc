"""What one evaluation carries from step to step: the problem, the candidate, the report, the
output-buffer plan, the deadline, and the handle on the candidate's process. evaluate.py drives it; correctness.py
and benchmark.py read and extend it."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpu_harness.buffers import BufferPlan
from gpu_harness.deadline import COMPILE_ALLOWANCE_S, Deadline
from gpu_harness.guard import cuda_synchronize, perf_counter_ns
from gpu_harness.outcome import Mode, Report, Stage
from gpu_harness.plan import Plan, Work
from gpu_harness.problem import Problem
from gpu_harness.remote import RemoteCandidate


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
    compile_s: float = 0.0  # import and first call (compilation, maybe)
    compile_excluded_s: float = 0.0  # of which not counted against the deadline
    first_call_done: bool = False
    secret: int = field(default_factory=lambda: int.from_bytes(os.urandom(4), "little") >> 2)  # never shown
    candidate: RemoteCandidate | None = None  # the candidate's process, seen from the judge
    plan: BufferPlan = field(default_factory=BufferPlan)
    kill_at: float = float("inf")  # monotonic time of the worker's hard kill (compiling extends it)
    compiling_now: bool = False
    plan_cap_s: float | None = None  # None: the caller's deadline, honoured; else auto-sized up to this
    on_plan: Callable[[dict[str, Any]], None] = lambda plan: None
    time_plan: Plan | None = None  # the time plan (plan.py), from the judge's own sizing
    work: Work | None = None
    est_done_s: float = 0.0  # estimated seconds of the work done so far, and of what is left
    est_left_s: float = 0.0
    null_batch_ms: float | None = None  # batch_call.null_batch_ms, measured before the candidate loads
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
        if self.candidate is not None:
            self.candidate.stage = name
        self.on_stage(name)

    def close_stage(self) -> None:
        if self._stage is not None:
            self.stage(self._stage)

    def counted_s(self) -> float:
        """Seconds gone that count against the deadline (compiling excluded)."""
        return self.deadline.elapsed() - self.compile_excluded_s

    def set_deadline(self, seconds: float) -> None:
        """Move the counted deadline (an auto plan): here, in the judge's kill clock, and in the parent's."""
        delta = seconds - (self.deadline.seconds - self.compile_excluded_s)
        self.deadline.extend(delta)
        self.kill_at += delta
        self.report.deadline_s = seconds
        if self.time_plan is not None:
            self.on_plan({"deadline_s": seconds})

    # -- calling the candidate ----------------------------------------------------------------
    def synchronize(self) -> None:
        if self.on_gpu:
            cuda_synchronize()

    def candidate_copy(self, data: Any) -> Any:
        """Fresh shared memory for the candidate's process, output buffers poisoned: the judge's views."""
        return self.candidate.stage_data(data, self.plan.poisonable)

    def call_candidate(self, data: Any) -> Any:
        """One checked call in the candidate's process; its outputs as views of shared memory (the
        caller clones what it keeps). Its exceptions come back classified; threads, patches and odd
        outputs it reports against itself are flags."""
        with self.compiling(not self.first_call_done):  # Triton JIT, torch.compile: first call
            self.first_call_done = True
            return self.candidate.call(data)

    def seconds_left(self) -> float:
        """Until the worker's hard kill, with the compile allowance it grants (worker._read_frames)."""
        extension = self.compile_allowance_s if self.compiling_now else self.compile_excluded_s
        return self.kill_at + extension - time.monotonic()

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
            self.compiling_now = True
        started = perf_counter_ns()
        try:
            yield
        finally:
            spent = (perf_counter_ns() - started) / 1e9
            excluded = min(spent, max(self.compile_allowance_s - self.compile_excluded_s, 0.0))
            self.compile_s += spent
            self.compile_excluded_s += excluded
            self.deadline.extend(excluded)
            self.compiling_now = False
            if allowed:
                self.on_compiling(False)
