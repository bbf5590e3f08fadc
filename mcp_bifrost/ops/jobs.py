"""Jobs: runs that outlive their call. State lives on the target under <workdir>/jobs/<id>/ (see
remote/process.sh for the folder's files), so it survives a server restart.

A job is named by a `JobRef` (target, id), made when it starts; its text form `target:id` is what
every surface prints and accepts (the bare id means the default target).
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mcp_bifrost.errors import JobNotFound, RemoteExit
from mcp_bifrost.models import JobCancelResult, JobInfo, JobLogs, JobState
from mcp_bifrost.ops import process_group
from mcp_bifrost.ops.process_group import kill_group, new_job_id
from mcp_bifrost.ops.remote_command import run_capture
from mcp_bifrost.ops.workspace import JOBS, workdir
from mcp_bifrost.targets.base import Target

_JOB_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
ID_EXAMPLE = "20261125-093012-a1b2c3"

__all__ = [
    "JobRef",
    "job_cancel",
    "job_dir",
    "job_logs",
    "job_status",
    "kill_group",
    "list_jobs",
    "new_job_id",
    "start_job",
]


@dataclass(frozen=True)
class JobSpec:
    """A detached job to start: its command, folder and extra environment, and how long it may run."""

    command: str
    cwd: str
    env: dict[str, str] | None
    timeout_s: float
    grace_s: float  # between TERM and KILL when its time is up


@dataclass(frozen=True)
class JobRef:
    """Which job on which target. str() gives `target:id`, the form every surface shows."""

    target: str
    id: str

    def __str__(self) -> str:
        return f"{self.target}:{self.id}"

    @classmethod
    def parse(cls, text: str, default_target: str) -> JobRef:
        """`target:id` or a bare id (the default target); the id's form is checked here."""
        name, sep, bare = text.strip().rpartition(":")
        ref = cls(name if sep else default_target, bare)
        if not _JOB_ID.match(ref.id):
            raise JobNotFound(
                f"{text!r} is not a job id; they look like {ID_EXAMPLE}, or "
                f"gpu:{ID_EXAMPLE} with the target's name in front"
            )
        return ref


async def job_dir(target: Target, job_id: str) -> str:
    if not _JOB_ID.match(job_id):
        raise JobNotFound(f"{job_id!r} is not a job id (they look like {ID_EXAMPLE})")
    return posixpath.join(await workdir(target), JOBS, job_id)


async def start_job(
    target: Target, command: str, cwd: str, env: dict[str, str] | None, timeout_s: float, grace_s: float
) -> str:
    """Start a detached run (own session, survives the call and the connection); returns its id."""
    job_id = new_job_id()
    await process_group.start_detached(
        target, await job_dir(target, job_id), command, cwd, env, timeout_s, grace_s
    )
    return job_id


_FIELDS = ("command", "cwd", "pgid", "started_at", "finished_at", "exit_code", "cancelled", "timed_out")


async def job_status(target: Target, job_id: str) -> JobInfo:
    jdir = await job_dir(target, job_id)
    done = await run_capture(target, process_group.remote_command("status", jdir))
    if done.exit_status == RemoteExit.NO_JOB:
        raise JobNotFound(
            f"no job {job_id} on target {target.name}; it may be on another target "
            "(write the id as TARGET:ID, as the job list shows it)"
        )
    done.check(f"reading job {job_id}")
    parts = done.stdout.split(b"\0")
    fields: dict[str, str | None] = {}
    for key, value in zip(parts[0::2], parts[1::2]):
        text = value.decode(errors="replace")
        fields[key.decode()] = None if text.endswith("\x01") and key.decode() in _FIELDS else text
    out_size, err_size = (int(x) for x in (fields.get("sizes") or "0 0").split())
    alive = fields.get("alive") == "1"
    exit_code = _int(fields.get("exit_code"))
    state: JobState
    if exit_code is not None:
        state = "finished"
    elif alive:
        state = "running"
    elif fields.get("cancelled") is not None or fields.get("timed_out") is not None:
        state = "killed"
    else:
        state = "lost"
    started, finished = _float(fields.get("started_at")), _float(fields.get("finished_at"))
    end = finished or (time.time() if state == "running" else None)
    return JobInfo(
        job_id=job_id,
        target=target.name,
        command=fields.get("command") or "",
        cwd=fields.get("cwd") or "",
        state=state,
        exit_code=exit_code,
        pgid=_int(fields.get("pgid")),
        started_at=started,
        finished_at=finished,
        duration_s=round(end - started, 3) if (end and started) else None,
        stdout_bytes=out_size,
        stderr_bytes=err_size,
        log_dir=jdir,
    )


def _int(v: str | None) -> int | None:
    try:
        return int(v.strip()) if v else None
    except ValueError:
        return None


def _float(v: str | None) -> float | None:
    try:
        return float(v.strip()) if v else None
    except ValueError:
        return None


async def job_logs(target: Target, job_id: str, tail_lines: int, cap_bytes: int) -> JobLogs:
    jdir = await job_dir(target, job_id)
    logs_cmd = process_group.remote_command("logs", jdir, max(1, int(tail_lines)), int(cap_bytes))
    info, logs = await asyncio.gather(job_status(target, job_id), run_capture(target, logs_cmd))
    return JobLogs(
        job_id=job_id,
        state=info.state,
        exit_code=info.exit_code,
        stdout=logs.stdout.decode(errors="replace"),
        stderr=logs.stderr.decode(errors="replace"),
        stdout_bytes=info.stdout_bytes,
        stderr_bytes=info.stderr_bytes,
    )


async def job_cancel(target: Target, job_id: str, grace_s: float) -> JobCancelResult:
    info = await job_status(target, job_id)
    survivors = await process_group.cancel(target, info.log_dir, grace_s) if info.state == "running" else 0
    after = await job_status(target, job_id)
    return JobCancelResult(
        job_id=job_id, was_running=info.state == "running", state=after.state, survivors=max(survivors, 0)
    )


async def job_ids(target: Target, limit: int = 20) -> list[str]:
    """The newest job folders' ids (foreground runs in progress included)."""
    root = posixpath.join(await workdir(target), JOBS)
    done = await run_capture(target, process_group.remote_command("list", root, int(limit)))
    return [line for line in done.stdout.decode().split() if _JOB_ID.match(line)]


async def statuses(read: Callable[[str], Awaitable[JobInfo]], ids: list[str]) -> list[JobInfo]:
    """Read each job; one whose folder went away in between (a foreground run that ended) is left out."""
    found = await asyncio.gather(*(read(i) for i in ids), return_exceptions=True)
    for item in found:
        if isinstance(item, BaseException) and not isinstance(item, JobNotFound):
            raise item
    return [item for item in found if isinstance(item, JobInfo)]


async def list_jobs(target: Target, limit: int = 20) -> list[JobInfo]:
    return await statuses(lambda i: job_status(target, i), await job_ids(target, limit))
