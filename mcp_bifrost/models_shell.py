"""The shell's result models: exec, jobs' logs and cancels, targets' health, push and copy_files.

Every string of a Result is made printable (a file name that is not UTF-8 still makes valid JSON).
models.py re-exports them with JobInfo, whose report is one of the loop's (models_loop.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator


def printable(value: Any) -> Any:
    """Text that JSON can carry. A file name that is not UTF-8 reaches us with surrogate escapes
    (os.fsdecode); left so, it breaks the whole result. Its odd bytes are shown as \\xNN instead."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            try:
                raw = value.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
                return value.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
            return raw.decode("utf-8", "backslashreplace")
        return value
    if isinstance(value, list):
        return [printable(v) for v in value]
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    return value


class Result(BaseModel):
    """Base of the results that carry paths or command text: every string is made printable."""

    @field_validator("*", mode="before")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        return printable(value)


class ExecResult(Result):
    """What a command did. Output is head + tail within the cap; byte counts are the full sizes."""

    target: str
    command: str
    cwd: str
    exit_code: int | None = Field(
        description="exit status; 128+N if killed by signal N; null only while it runs as a job"
    )
    stdout: str
    stderr: str
    stdout_bytes: int = Field(description="total bytes the command wrote to stdout")
    stderr_bytes: int
    truncated: bool = Field(description="true when stdout or stderr was cut to head+tail")
    duration_s: float
    timed_out: bool = False
    job_id: str | None = Field(default=None, description="set when the command runs on as a detached job")
    note: str | None = None

    @classmethod
    def started_job(cls, target: str, command: str, cwd: str, job_id: str, note: str) -> ExecResult:
        """The answer to a background exec: nothing has run yet, the job's id says where it will."""
        return cls(
            target=target, command=command, cwd=cwd, exit_code=None, job_id=job_id, note=note,
            stdout="", stderr="", stdout_bytes=0, stderr_bytes=0, truncated=False, duration_s=0.0,
        )  # fmt: skip


JobState = Literal["pending", "running", "finished", "killed", "lost"]  # pending: waiting in a Slurm queue


class JobLogs(BaseModel):
    job_id: str
    state: JobState
    exit_code: int | None
    stdout: str = Field(description="the last tail_lines lines of stdout")
    stderr: str = Field(description="the last tail_lines lines of stderr")
    stdout_bytes: int
    stderr_bytes: int


class JobCancelResult(BaseModel):
    job_id: str
    was_running: bool
    state: JobState
    survivors: int = Field(description="processes of the job still alive after TERM and KILL (should be 0)")


class SlurmPartition(BaseModel):
    name: str
    default: bool
    available: str = Field(description="up / down / drain / inact")
    nodes: int
    node_states: list[str] = Field(description="e.g. idle, mixed, down* (* = not responding)")
    gres: list[str] = Field(description="generic resources of its nodes, e.g. gpu:h100:4")


class SlurmHealth(BaseModel):
    """What `doctor` learned about a Slurm target beyond the login node."""

    partition: str | None = Field(
        description="the partition jobs go to (the target's, else the cluster default)"
    )
    partitions: list[SlurmPartition] = Field(default_factory=list)
    gpu_gres: list[str] = Field(default_factory=list, description="GPU gres the partition's nodes offer")
    compute_node: str | None = Field(default=None, description="where the check job ran")
    shared_filesystem: bool | None = Field(
        default=None, description="a job read the file written in the workdir on the login node"
    )
    problems: list[str] = Field(default_factory=list, description="what to fix, one sentence each")


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
    missing: list[str] = Field(
        default_factory=list, description="tools the target lacks (README: what a target needs)"
    )
    slurm: SlurmHealth | None = Field(
        default=None, description="Slurm targets: partitions, GPUs, shared filesystem"
    )


class TargetsReport(BaseModel):
    default_target: str
    targets: list[TargetHealth]
    workspace: str = Field(default="", description="the local workspace folder")
    twin: str = Field(
        default="",
        description="its twin's folder on every target: <workdir>/workspaces/<twin> "
        "(the base name and a hash of the local path, or the config's `project`)",
    )


class PushResult(Result):
    """What a push changed on the target. Lists are filled for dry_run (capped; counts are exact)."""

    target: str
    local_dir: str
    remote_dir: str
    files_sent: int = Field(description="files and symlinks sent (new or changed)")
    files_deleted: int = Field(description="remote files removed because they are gone locally")
    files_unchanged: int
    dirs_created: int = 0
    bytes_sent: int = Field(description="bytes on the wire (compressed tar stream)")
    content_bytes: int = Field(description="size of the files sent, uncompressed")
    duration_s: float
    dry_run: bool = False
    sent: list[str] = Field(default_factory=list, description="with dry_run: paths that would be sent")
    deleted: list[str] = Field(default_factory=list, description="with dry_run: paths that would be deleted")
    refused: list[str] = Field(default_factory=list, description="paths not pushed, each with the reason")
    note: str | None = None


class CopyResult(Result):
    """Files fetched from a target into a local folder."""

    target: str
    remote_paths: list[str] = Field(description="the remote paths as resolved on the target")
    local_dir: str
    local_paths: list[str] = Field(description="top-level files/folders written into local_dir")
    files_copied: int
    content_bytes: int
    bytes_received: int = Field(description="bytes on the wire (compressed tar stream)")
    duration_s: float
    skipped: list[str] = Field(default_factory=list, description="members not written, each with the reason")
