"""The kernel loop's result models (run_smoke_test, profile_ncu, history, problems, fan-out).

One model per wire shape: loop/reports.py turns the harness's JSON into these. models.py re-exports them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from mcp_bifrost.models_shell import ExecResult


class HarnessFinding(BaseModel):
    """A flag (fails the run) or a note (reported only) from the harness."""

    name: str
    detail: str


class HarnessFailure(BaseModel):
    stage: str = Field(description="setup, load, compile, run, check or time")
    kind: str = Field(
        description="e.g. syntax_error, compile_error, exception, timeout, needs_gpu, needs_memory"
    )
    message: str
    stderr_tail: str = ""


class SmokeCase(BaseModel):
    name: str
    kind: str = Field(description="test, secret (test with a secret seed), benchmark, recheck")
    params: dict
    passed: bool
    reason: str = ""
    message: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    mismatches: int = 0
    first_mismatches: list[dict] = Field(default_factory=list)


class SmokeTiming(BaseModel):
    case: str
    params: dict
    clock: str = Field(description="cuda_events on a GPU; host on a CPU-only target")
    reference_us: float | None
    candidate_us: float | None
    candidate_p10_us: float | None = None
    candidate_p90_us: float | None = None
    n: int | None = Field(default=None, description="timed samples of the candidate")
    speedup: float | None
    floor_us: float | None = Field(
        default=None, description="roofline floor: bytes / peak bandwidth, flops / peak rate"
    )
    roofline_fraction: float | None = Field(
        default=None,
        description="floor / candidate median (1.0 = at the roofline); GPU only: null on a CPU's host clock",
    )


class SmokeReport(BaseModel):
    """A candidate checked and timed against a problem's reference. Read `summary` first."""

    kind: Literal["smoke"] = "smoke"
    summary: str = Field(description="one line: PASS/FAIL, cases, speedup, times, roofline, flags")
    status: Literal["passed", "failed", "not_run", "error", "running"] = Field(
        description="not_run: the target cannot run it (needs a GPU, or more memory than it has); "
        "running: continues as job `job_id`"
    )
    passed: bool
    job_id: str | None = Field(default=None, description="set when the evaluation outlived the call budget")
    problem: str
    candidate: str
    candidate_sha256: str | None = None
    target: str
    mode: str
    device: dict = Field(default_factory=dict)
    cases_passed: int
    cases_total: int
    cases: list[SmokeCase] = Field(
        default_factory=list, description="every checked call; messages on failures"
    )
    timing: list[SmokeTiming] = Field(default_factory=list)
    speedup: float | None = Field(
        default=None, description="reference / candidate, combined over benchmark cases"
    )
    candidate_us: float | None = None
    reference_us: float | None = None
    roofline_fraction: float | None = None
    flags: list[HarnessFinding] = Field(default_factory=list, description="any flag fails the run")
    notes: list[HarnessFinding] = Field(default_factory=list)
    error: HarnessFailure | None = None
    stdout_tail: str = ""
    harness_version: str = ""
    runner: str = Field(
        description="how the harness ran: warm worker, restarted worker, or one-shot (and why)"
    )
    gpu_wait_s: float = 0.0
    harness_wall_s: float | None = None
    isolation: dict = Field(
        default_factory=dict,
        description="what confined the candidate on the target: subreaper, "
        "landlock_abi (0: writes not confined), network_blocked, strays_killed, survivors, why",
    )
    plan: dict | None = Field(
        default=None,
        description="the evaluation's time plan: deadline_s chosen and the reason "
        "(sized to the problem unless timeout_s was given), fits, suggest_deadline_s, "
        "secret_repeats and secret_cases_run",
    )
    duration_s: float = Field(default=0.0, description="the whole call: push, install, lock, evaluation")
    pushed_files: int | None = None
    push_s: float | None = Field(default=None, description="seconds the push took (part of duration_s)")


class KernelProfile(BaseModel):
    """One profiled kernel, summarised from Nsight Compute's own report (ncu_report)."""

    name: str
    bound: str = Field(
        description="memory, compute or latency (from Speed Of Light: >60 % one side, <40 % other)"
    )
    duration_us: float | None = None
    grid: str | None = None
    block: str | None = None
    registers_per_thread: int | None = None
    shared_mem_bytes: int | None = None
    sm_pct: float | None = None
    memory_pct: float | None = None
    dram_pct: float | None = None
    dram_bytes: int | None = None
    l1_hit_pct: float | None = None
    l2_hit_pct: float | None = None
    achieved_occupancy_pct: float | None = None
    theoretical_occupancy_pct: float | None = None
    occupancy_limiter: str | None = None
    tensor_pipe_pct: float | None = None
    top_stalls: list[str] = Field(
        default_factory=list, description="top 3 warp stall reasons with cycles per instruction"
    )
    advice: list[str] = Field(
        default_factory=list, description="ncu's own rule advice, by estimated speedup (top 3)"
    )


class ProfileSide(BaseModel):
    label: str = Field(description="candidate, reference, or the baseline candidate's path")
    kernels: list[KernelProfile] = Field(default_factory=list)
    report_path: str = Field(description="the .ncu-rep on the target (fetch it with copy_files for the GUI)")
    total_duration_us: float | None = Field(default=None, description="summed kernel time of the whole call")
    kernel_count: int = 0
    launch_limit: int | None = Field(default=None, description="launch_count, when one was given")
    cut_by_launch_limit: bool = Field(
        default=False, description="the call launched more kernels than launch_count"
    )


class ProfileReport(BaseModel):
    """Nsight Compute on one NVTX-marked call of the candidate (and of a baseline). Read `summary` first."""

    kind: Literal["profile"] = "profile"
    summary: str
    problem: str
    candidate: str
    candidate_sha256: str | None = None
    target: str
    device: dict = Field(default_factory=dict)
    case: dict = Field(default_factory=dict, description="the benchmark case whose inputs were profiled")
    sections: list[str] = Field(default_factory=list)
    job_id: str | None = Field(default=None, description="set when profiling outlived the call budget")
    candidate_profile: ProfileSide | None = Field(description="null only while it runs on as a job")
    baseline_profile: ProfileSide | None = None
    changes: list[str] = Field(
        default_factory=list, description="with a baseline: what differs, kernel by kernel"
    )
    speedup: float | None = Field(default=None, description="baseline total / candidate total (whole calls)")
    smoke_speedup: float | None = Field(
        default=None, description="the last smoke test of this file, same target"
    )
    consistency: str = Field(
        default="", description="how the profile's ratio compares with that smoke test's"
    )
    ncu_command: str = ""
    runner: str = "one-shot"
    gpu_wait_s: float = 0.0
    duration_s: float = 0.0


class HistoryEntry(BaseModel):
    id: int
    time: str = Field(description="UTC, ISO 8601")
    kind: str
    problem: str
    candidate: str
    candidate_sha256: str | None
    target: str
    gpu: str | None
    passed: bool
    status: str
    candidate_us: float | None
    speedup: float | None
    flags: list[str]
    summary: str
    project: str | None = Field(
        default=None,
        description="the workspace twin it was run for (empty: recorded before history was kept per project)",
    )


class HistoryReport(BaseModel):
    problem: str
    project: str | None = Field(
        default=None, description="this workspace's twin name: the history is its own"
    )
    entries: list[HistoryEntry] = Field(description="newest first")
    best: HistoryEntry | None = Field(
        description="the passing smoke test with the highest speedup of this project "
        "on the target and GPU of its newest smoke test"
    )
    table: str = Field(description="the entries as a text table")
    total: int = Field(description="how many results the history holds for this problem")


class ProblemInfo(BaseModel):
    path: str = Field(description="workspace path to pass as `problem`")
    format: str = Field(description="gpumode (folder with task.yml + reference.py) or kernelbench (one .py)")
    description: str = ""
    tests: list[dict] = Field(default_factory=list)
    benchmarks: list[dict] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list, description="candidate files shipped with the problem")
    error: str | None = Field(
        default=None,
        description="why this problem cannot be used as it is (its files are "
        "malformed); the other problems are unaffected",
    )


class ProblemsReport(BaseModel):
    root: str
    problems: list[ProblemInfo]


class CandidateResult(BaseModel):
    """One candidate of a fan-out: its outcome, or the error that kept it from one."""

    index: int = Field(description="position in the candidates given")
    candidate: str
    gpu: int | None = Field(description="the GPU its slot held; null where the scheduler (Slurm) picked")
    score: float | None = Field(description="null when it failed: failed candidates are not ranked")
    error: str | None = None
    seconds: float
    exec: ExecResult | None = Field(default=None, description="the command's result (command candidates)")


class FanoutResult(BaseModel):
    """Several candidates evaluated at once over a target's slots, and their ranking."""

    target: str
    slots: int = Field(description="evaluations in flight at most (GPUs, or Slurm jobs)")
    score: str = Field(description="what the score measures and which way is better")
    ranking: list[int] = Field(description="indices of the scored candidates, best first")
    results: list[CandidateResult]
    duration_s: float


class FanoutSmokeReport(BaseModel):
    """Several candidates smoke-tested at once, one per free GPU (Slurm: one job each). Read `summary` first."""

    kind: Literal["smoke_fanout"] = "smoke_fanout"
    summary: str = Field(
        description="one line: candidates, GPUs (or the CPU), wall time, the best and its speedup, "
        "pass/fail/not-run counts"
    )
    problem: str
    target: str
    slots: int = Field(description="evaluations in flight at most (GPUs, or Slurm jobs)")
    duration_s: float = Field(description="wall time of the whole call, push included")
    ranking: list[str] = Field(
        description="passing candidates, best first (highest speedup; untimed ones last)"
    )
    failed: list[str] = Field(
        default_factory=list, description="candidates that failed or errored, each with its summary"
    )
    not_run: list[str] = Field(
        default_factory=list,
        description="candidates the target could not run (needs a GPU, or more memory), each with its summary: "
        "not failures",
    )
    gpus: list[int | None] = Field(
        description="the GPU each candidate ran on, in input order (null: Slurm picked)"
    )
    reports: list[SmokeReport] = Field(description="one report per candidate, in the order given")
    status: Literal["done", "running"] = Field(
        default="done", description="running: still evaluating after the call budget, as job `job_id`"
    )
    job_id: str | None = Field(
        default=None,
        description="set when the fan-out continues as a job: poll job_status, "
        "whose `report` carries this report when every candidate is done",
    )


class SmokeOutcome(RootModel[SmokeReport | FanoutSmokeReport]):
    """run_smoke_test's output: a SmokeReport (one candidate) or a FanoutSmokeReport (candidates=[...])."""

    model_config = ConfigDict(json_schema_extra={"type": "object"})
