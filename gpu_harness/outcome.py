"""Typed outcomes of an evaluation: the report, its parts, exit codes and the exception tree.

Exception tree (one root, leaves named for the cause):

    HarnessError                    the harness itself could not do its job (exit 2)
    ├── ProblemNotFound             no problem at the given path
    ├── ProblemFormatError          a problem folder/file that is neither GPU MODE nor KernelBench
    ├── CandidateNotFound           no candidate file at the given path
    ├── BadRequest                  a worker request or CLI argument that makes no sense
    └── NeedsGpu                    the problem itself needs CUDA and this machine has none (exit 3)

    CandidateFailure                the candidate failed at one stage (exit 1); carries stage/kind;
                                    kind needs_gpu (CuPy, CUDA C++ on a CPU machine) is not run (exit 3)

Everything a run produces is a Report; failures are results, not crashes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from gpu_harness import SCHEMA_VERSION, __version__

# Exit codes of `python -m gpu_harness smoke` (named, never bare numbers).
EXIT_PASSED = 0
EXIT_CANDIDATE_FAILED = 1
EXIT_HARNESS_ERROR = 2
EXIT_NOT_RUN = 3  # it cannot run here (needs a GPU this machine lacks): not a failure

# The report's one-word outcome (`status`), beside the boolean `passed`.
Status = Literal["passed", "failed", "not_run", "error"]
STATUS_PASSED: Status = "passed"
STATUS_FAILED: Status = "failed"
STATUS_NOT_RUN: Status = "not_run"
STATUS_ERROR: Status = "error"
EXIT_FOR_STATUS = {
    STATUS_PASSED: EXIT_PASSED,
    STATUS_FAILED: EXIT_CANDIDATE_FAILED,
    STATUS_ERROR: EXIT_HARNESS_ERROR,
    STATUS_NOT_RUN: EXIT_NOT_RUN,
}

Mode = Literal["test", "benchmark", "both"]
MODES: tuple[Mode, ...] = ("test", "benchmark", "both")
CaseKind = Literal["test", "secret", "benchmark", "recheck"]

# Stages at which an evaluation can fail; `setup` belongs to the harness (problem, arguments).
Stage = Literal["setup", "load", "compile", "run", "check", "time"]
STAGE_SETUP = "setup"
STAGE_LOAD = "load"
STAGE_COMPILE = "compile"
STAGE_RUN = "run"
STAGE_CHECK = "check"
STAGE_TIME = "time"
STAGES = (STAGE_SETUP, STAGE_LOAD, STAGE_COMPILE, STAGE_RUN, STAGE_CHECK, STAGE_TIME)

# Error kinds: what went wrong, independent of the stage.
Kind = Literal[
    "problem_not_found",
    "problem_invalid",
    "candidate_not_found",
    "bad_request",
    "needs_gpu",
    "needs_memory",
    "syntax_error",
    "import_error",
    "exception",
    "compile_error",
    "out_of_memory",
    "illegal_memory_access",
    "crashed",
    "timeout",
    "deadline",
    "not_timed",
    "internal_error",
]
KIND_PROBLEM_NOT_FOUND = "problem_not_found"
KIND_PROBLEM_INVALID = "problem_invalid"
KIND_CANDIDATE_NOT_FOUND = "candidate_not_found"
KIND_BAD_REQUEST = "bad_request"
KIND_NEEDS_GPU = "needs_gpu"
# the problem cannot be held in this machine's memory at once (the judge measured it before the
# candidate loaded): not run here, never the candidate's failure
KIND_NEEDS_MEMORY = "needs_memory"
KIND_SYNTAX_ERROR = "syntax_error"
KIND_IMPORT_ERROR = "import_error"
KIND_EXCEPTION = "exception"
KIND_COMPILE_ERROR = "compile_error"
KIND_OUT_OF_MEMORY = "out_of_memory"
KIND_ILLEGAL_MEMORY_ACCESS = "illegal_memory_access"
KIND_CRASHED = "crashed"
KIND_TIMEOUT = "timeout"
KIND_DEADLINE = "deadline"  # the evaluation's deadline came first: a partial report
KIND_NOT_TIMED = "not_timed"  # every case passed, and a kill or a hang stopped the timing: not a failure
KIND_INTERNAL = "internal_error"
# The candidate's process could not start CUDA, before any candidate code existed in it: its exit
# status then says so (a fault of the host or of the harness, never the candidate's).
EXIT_NO_CUDA = 71
HARNESS_KINDS = frozenset(
    {KIND_PROBLEM_NOT_FOUND, KIND_PROBLEM_INVALID, KIND_CANDIDATE_NOT_FOUND, KIND_BAD_REQUEST, KIND_INTERNAL}
)

STDERR_TAIL_CHARS = 4000


class HarnessError(Exception):
    """The harness could not evaluate (bad problem, bad arguments): exit status 2. A leaf names its
    kind in its class line: `class ProblemNotFound(HarnessError, kind=...)`."""

    kind = KIND_INTERNAL
    stage = STAGE_SETUP

    def __init_subclass__(cls, kind: str | None = None, **rest: Any) -> None:
        super().__init_subclass__(**rest)
        if kind is not None:
            cls.kind = kind


class ProblemNotFound(HarnessError, kind=KIND_PROBLEM_NOT_FOUND): ...


class ProblemFormatError(HarnessError, kind=KIND_PROBLEM_INVALID): ...


class CandidateNotFound(HarnessError, kind=KIND_CANDIDATE_NOT_FOUND): ...


class BadRequest(HarnessError, kind=KIND_BAD_REQUEST): ...


class NeedsGpu(HarnessError, kind=KIND_NEEDS_GPU): ...


class NeedsMemory(HarnessError, kind=KIND_NEEDS_MEMORY): ...


class CandidateFailure(Exception):
    """The candidate failed at `stage`; `kind` names the cause. Exit status 1."""

    def __init__(self, stage: str, kind: str, message: str):
        super().__init__(message)
        self.stage = stage
        self.kind = kind
        self.message = message


@dataclass
class Flag:
    """Something the guard caught. Any flag fails the run."""

    name: str
    detail: str


@dataclass
class StageError:
    stage: str  # Stage
    kind: str  # Kind
    message: str
    stderr_tail: str = ""

    @property
    def is_harness_error(self) -> bool:
        return self.kind in HARNESS_KINDS


@dataclass
class Comparison:
    """The checker's verdict on one output against the reference (or the problem's own check)."""

    passed: bool
    reason: str = ""  # empty when passed; else mismatch | precision_loss | partial_output | ...
    message: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    mismatches: int = 0
    numel: int = 0
    first_mismatches: list[dict[str, Any]] = field(default_factory=list)
    rtol: float | None = None
    atol: float | None = None


@dataclass
class CaseResult(Comparison):
    """Correctness of one case: the checker's Comparison of the candidate's output, named."""

    name: str = ""
    kind: str = "test"  # CaseKind: test | secret | benchmark | recheck
    params: dict[str, Any] = field(default_factory=dict)
    bitwise_repeatable: bool | None = None
    seconds: float = 0.0

    @classmethod
    def of(cls, name: str, kind: str, params: dict[str, Any], comparison: Comparison) -> CaseResult:
        return cls(name=name, kind=kind, params=params, **dataclasses.asdict(comparison))


@dataclass
class NotRun:
    """A case the evaluation did not reach, and why (the deadline, an earlier failure)."""

    case: str
    kind: str
    why: str


@dataclass
class Summary:
    """Statistics of one timed function: milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    n: int
    rse: float  # relative standard error of the median
    host_median_ms: float | None = None  # host clock around a device-wide synchronize (GPU only)
    host_call_median_ms: float | None = None  # host time spent inside the call itself (launch cost)
    judge_ms: float | None = None  # the judge's own clock: wall per call over batches it ordered and verified
    judge_single_ms: float | None = (
        None  # the judge's clock over one-call batches (their fixed cost included)
    )
    judge_null_ms: float | None = None  # the judge's clock over the harness's own one-call batches
    claimed_median_ms: float | None = (
        None  # the candidate's own event median, when the judge's clock overruled it
    )


@dataclass
class TimingResult:
    case: str
    params: dict[str, Any]
    clock: str  # "cuda_events" or "host" (CPU mode: host clock, labelled as such)
    reference: Summary | None
    candidate: Summary | None
    speedup: float | None
    clock_mhz: int | None = None
    l2_flush_bytes: int = 0
    input_sets: int = 0
    verified_samples: int = 0
    floor_ms: float | None = None  # roofline floor: bytes / peak bandwidth, flops / peak rate (measured)
    stopped_by: str = ""  # "precision" | "min_time" | "budget" | "max_samples" | "deadline"
    input_sets_why: str = ""  # how the number of input sets was chosen (free memory, generation time)
    seconds: float = 0.0
    host_call_ms: dict[str, float] = field(default_factory=dict)  # host-side time of one call (launch cost)
    launch_cover_us: float = 0.0  # GPU spin queued before the start event so launch latency is not timed
    judge_calls: int = 0  # calls per batch of the judge's check
    judge_rounds: int = 0  # batches of each side
    phase_s: dict[str, float] = field(default_factory=dict)  # where `seconds` went (timing.Phases)


@dataclass
class Report:
    problem: str
    candidate: str
    mode: str
    problem_format: str = ""
    device: dict[str, Any] = field(default_factory=dict)
    passed: bool = False
    flags: list[Flag] = field(default_factory=list)
    notes: list[Flag] = field(default_factory=list)
    cases: list[CaseResult] = field(default_factory=list)
    timing: list[TimingResult] = field(default_factory=list)
    score: dict[str, Any] | None = None
    error: StageError | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)
    deadline_s: float | None = None
    partial: bool = False  # the deadline (or a kill) stopped it: `not_run` lists what is missing
    not_run: list[NotRun] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)  # free memory seen, head-room, sets per case
    isolation: dict[str, Any] = field(default_factory=dict)  # confine.Isolation: what confined the candidate
    plan: dict[str, Any] | None = None  # plan.Plan: the deadline chosen and why, secret repeats, estimates
    # after the verdict: the candidate's process ended (in the judge), the judge's exit and the sweep of
    # strays (in the worker): time a caller waits that no stage shows
    teardown_s: dict[str, float] = field(default_factory=dict)

    def finish(self) -> Report:
        """Set `passed`: every case correct, no flag, no error, at least one case run."""
        self.passed = (
            self.error is None and not self.flags and bool(self.cases) and all(c.passed for c in self.cases)
        )
        return self

    @property
    def status(self) -> Status:
        if self.passed:
            return STATUS_PASSED
        if self.error is not None and self.error.kind in (KIND_NEEDS_GPU, KIND_NEEDS_MEMORY):
            return STATUS_NOT_RUN
        if self.error is not None and self.error.kind == KIND_DEADLINE:
            # Stopped at the deadline: failed if what ran failed; otherwise nothing is known against
            # the candidate, and the harness did not finish its job in the time given.
            failed = self.flags or any(not c.passed for c in self.cases)
            return STATUS_FAILED if failed else STATUS_ERROR
        if self.error is not None and (self.error.is_harness_error or self.error.kind == KIND_NOT_TIMED):
            return STATUS_ERROR
        return STATUS_FAILED

    def add_flag(self, name: str, detail: str) -> None:
        if not any(f.name == name for f in self.flags):
            self.flags.append(Flag(name, detail))

    def add_note(self, name: str, detail: str) -> None:
        if not any(f.name == name for f in self.notes):
            self.notes.append(Flag(name, detail))

    @property
    def exit_code(self) -> int:
        return EXIT_FOR_STATUS[self.status]

    def to_json(self) -> dict[str, Any]:
        doc = {"schema": SCHEMA_VERSION, "harness_version": __version__}
        doc.update(dataclasses.asdict(self))
        doc["status"] = self.status
        doc["exit_code"] = self.exit_code
        return finite(doc)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Report:
        doc = {k: v for k, v in doc.items() if k in {f.name for f in dataclasses.fields(cls)}}
        doc["flags"] = [Flag(**f) for f in doc.get("flags", [])]
        doc["notes"] = [Flag(**f) for f in doc.get("notes", [])]
        doc["cases"] = [CaseResult(**c) for c in doc.get("cases", [])]
        doc["not_run"] = [NotRun(**n) for n in doc.get("not_run", [])]
        timing = []
        for t in doc.get("timing", []):
            t = dict(t)
            for who in ("reference", "candidate"):
                if t.get(who) is not None:
                    t[who] = Summary(**t[who])
            timing.append(TimingResult(**t))
        doc["timing"] = timing
        if doc.get("error") is not None:
            doc["error"] = StageError(**doc["error"])
        return cls(**doc)


def finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: non-finite floats become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def tail(text: str, limit: int = STDERR_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]
