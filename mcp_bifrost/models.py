"""Pydantic models of every result a tool returns (they become the tools' outputSchema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ExecResult(BaseModel):
    """What a command did. Output is head + tail within the cap; byte counts are the full sizes."""

    target: str
    command: str
    cwd: str
    exit_code: int | None = Field(description="exit status; 128+N if killed by signal N; null only while it runs as a job")
    stdout: str
    stderr: str
    stdout_bytes: int = Field(description="total bytes the command wrote to stdout")
    stderr_bytes: int
    truncated: bool = Field(description="true when stdout or stderr was cut to head+tail")
    duration_s: float
    timed_out: bool = False
    job_id: str | None = Field(default=None, description="set when the command runs on as a detached job")
    note: str | None = None


class JobInfo(BaseModel):
    job_id: str
    target: str
    command: str
    cwd: str
    state: Literal["running", "finished", "killed", "lost"]
    exit_code: int | None
    pgid: int | None
    started_at: float | None
    finished_at: float | None
    duration_s: float | None
    stdout_bytes: int
    stderr_bytes: int
    log_dir: str


class JobLogs(BaseModel):
    job_id: str
    state: Literal["running", "finished", "killed", "lost"]
    exit_code: int | None
    stdout: str = Field(description="the last tail_lines lines of stdout")
    stderr: str = Field(description="the last tail_lines lines of stderr")
    stdout_bytes: int
    stderr_bytes: int


class JobCancelResult(BaseModel):
    job_id: str
    was_running: bool
    state: Literal["running", "finished", "killed", "lost"]
    survivors: int = Field(description="processes of the job still alive after TERM and KILL (should be 0)")


class TargetHealth(BaseModel):
    name: str
    kind: str
    default: bool
    reachable: bool
    error: str | None = None
    workdir: str | None = None
    python: str | None = None
    torch: str | None = None
    cuda: str | None = None
    gpus: list[str] = Field(default_factory=list)
    ncu: str | None = None
    latency_ms: float | None = None


class TargetsReport(BaseModel):
    default_target: str
    targets: list[TargetHealth]
