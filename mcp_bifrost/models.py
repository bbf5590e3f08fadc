"""Pydantic models of every result a tool returns (they become the tools' outputSchema)."""

from __future__ import annotations

from pydantic import Field

from mcp_bifrost.models_loop import (
    CandidateResult,
    FanoutResult,
    FanoutSmokeReport,
    HarnessFailure,
    HarnessFinding,
    HistoryEntry,
    HistoryReport,
    KernelProfile,
    ProblemInfo,
    ProblemsReport,
    ProfileReport,
    ProfileSide,
    SmokeCase,
    SmokeOutcome,
    SmokeReport,
    SmokeTiming,
)
from mcp_bifrost.models_shell import (
    CopyResult,
    ExecResult,
    JobCancelResult,
    JobLogs,
    JobState,
    PushResult,
    Result,
    SlurmHealth,
    SlurmPartition,
    TargetHealth,
    TargetsReport,
    printable,
)

__all__ = [
    "CandidateResult",
    "CopyResult",
    "ExecResult",
    "FanoutResult",
    "FanoutSmokeReport",
    "HarnessFailure",
    "HarnessFinding",
    "HistoryEntry",
    "HistoryReport",
    "JobCancelResult",
    "JobInfo",
    "JobLogs",
    "JobState",
    "KernelProfile",
    "ProblemInfo",
    "ProblemsReport",
    "ProfileReport",
    "ProfileSide",
    "PushResult",
    "Result",
    "SlurmHealth",
    "SlurmPartition",
    "SmokeCase",
    "SmokeOutcome",
    "SmokeReport",
    "SmokeTiming",
    "TargetHealth",
    "TargetsReport",
    "printable",
]


class JobInfo(Result):
    job_id: str
    target: str
    command: str
    cwd: str
    state: JobState
    exit_code: int | None
    pgid: int | None
    started_at: float | None
    finished_at: float | None
    duration_s: float | None
    stdout_bytes: int
    stderr_bytes: int
    log_dir: str
    report: SmokeReport | FanoutSmokeReport | ProfileReport | None = Field(
        default=None, description="for a run_smoke_test / profile_ncu job that finished: its report"
    )
    slurm_job_id: str | None = Field(default=None, description="Slurm targets: the job's id in the cluster")
    slurm_state: str | None = Field(
        default=None, description="Slurm's own state (PENDING, RUNNING, TIMEOUT, ...)"
    )
    reason: str | None = Field(
        default=None, description="why a Slurm job waits or ended (Resources, TimeLimit, ...)"
    )
    node: str | None = Field(default=None, description="the compute node a Slurm job ran on")
