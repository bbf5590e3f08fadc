"""Detached work on a Slurm target: sbatch a rendered batch script, read Slurm's state, scancel.

A job keeps the same directory as any job (<workdir>/jobs/<id>/, ops/jobs.py), on the filesystem the
compute nodes share: command, cwd, batch.sh, slurm_job_id, stdout, stderr, and what the batch script
(remote/slurm_batch.sh) writes itself: started_at, node, finished_at, exit_code. Slurm's word on the
state (squeue, else sacct) wins while it has one; the files decide once Slurm has forgotten the job
(squeue keeps it MinJobAge seconds, and accounting may be off).

A directory without slurm_job_id is a foreground srun that outlived its call budget and was claimed:
it is a login-node process group like on an ssh target, and ops/jobs.py reads and kills it.
"""

from __future__ import annotations

import asyncio
import time

from mcp_bifrost import remote
from mcp_bifrost.errors import JobNotFound, RemoteExit, SlurmError
from mcp_bifrost.models import JobCancelResult, JobInfo, JobLogs
from mcp_bifrost.ops import jobs
from mcp_bifrost.ops.process_group import env_line
from mcp_bifrost.ops.remote_command import run_capture
from mcp_bifrost.ops.slurm import run as slurm_run
from mcp_bifrost.targets.slurm import SlurmTarget

# Slurm job states (squeue %T / sacct State) -> our job model.
STATES: dict[str, str] = {
    **dict.fromkeys(["PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"], "pending"),
    **dict.fromkeys(
        [
            "RUNNING",
            "CONFIGURING",
            "COMPLETING",
            "SUSPENDED",
            "STOPPED",
            "SIGNALING",
            "STAGE_OUT",
            "RESIZING",
        ],
        "running",
    ),
    **dict.fromkeys(["COMPLETED", "FAILED"], "finished"),
    **dict.fromkeys(["TIMEOUT", "DEADLINE", "CANCELLED", "PREEMPTED", "OUT_OF_MEMORY"], "killed"),
    **dict.fromkeys(["NODE_FAIL", "BOOT_FAIL", "REVOKED", "SPECIAL_EXIT"], "lost"),
}
CANCEL_WAIT_S = 5.0


async def submit(
    target: SlurmTarget, command: str, cwd: str, env: dict[str, str] | None, timeout_s: float
) -> str:
    """sbatch the command as a detached job; returns our job id (the Slurm id is in the job dir)."""
    job_id = jobs.new_job_id()
    jdir = await jobs.job_dir(target, job_id)
    opts = [
        f"--job-name=bifrost-{job_id}",
        f"--chdir={cwd}",
        f"--output={jdir}/stdout",
        f"--error={jdir}/stderr",
        "--parsable",
        *target.slurm.sbatch(timeout_s),
    ]
    # stdin: the environment line (process_group.env_line: values never travel as arguments), then the batch script
    done = await run_capture(
        target,
        remote.command("slurm_job", "submit", jdir, cwd, command, *opts),
        input=env_line(env) + remote.script("slurm_batch").encode(),
    )
    if done.exit_status != 0:
        raise SlurmError(
            f"{target.describe()}: sbatch refused the job (exit {done.exit_status}): "
            f"{done.stderr.decode(errors='replace').strip()[-600:]}. Check the target's partition, gres, "
            "time_limit, account and sbatch_options against `sinfo` on the login node."
        )
    return job_id


async def _slurm_view(target: SlurmTarget, jdir: str) -> tuple[str, str, str, str] | None:
    """(slurm id, state, reason, node) from squeue, else sacct; None when the dir is not a Slurm job."""
    done = await run_capture(target, remote.command("slurm_job", "state", jdir))
    if done.exit_status == RemoteExit.NO_JOB:
        raise JobNotFound(f"no job {jdir.rsplit('/', 1)[-1]} on target {target.name}")
    if done.exit_status == RemoteExit.SLURM_NOT_BATCH:
        return None
    done.check(f"reading Slurm's state of {jdir}")
    fields = done.stdout.decode(errors="replace").strip().split("|") + ["", "", ""]
    slurm_id, state, reason, node = fields[:4]
    return slurm_id, state.split(" ")[0].rstrip("+"), reason, node


async def job_status(target: SlurmTarget, job_id: str) -> JobInfo:
    jdir = await jobs.job_dir(target, job_id)
    view, files = await asyncio.gather(_slurm_view(target, jdir), jobs.job_status(target, job_id))
    if view is None:  # a claimed srun: a login-node process group
        return files.model_copy(update={"command": slurm_run.user_command(files.command)})
    slurm_id, slurm_state, reason, node = view
    info = files.model_copy(
        update={
            "slurm_job_id": slurm_id,
            "slurm_state": slurm_state or None,
            "reason": None if reason in ("", "None") else reason,
            "node": node or None,
            "pgid": None,
        }
    )
    state = STATES.get(slurm_state)
    if state is None:  # Slurm has forgotten it: the job's own files decide
        state = "finished" if info.exit_code is not None else "lost"
    elif state == "finished" and info.exit_code is None:
        state = "lost"  # Slurm says it ended, but the batch script never wrote its exit code
    info.state = state  # type: ignore[assignment]
    if state in ("pending", "running"):
        info.exit_code = None
        info.finished_at = None
        if info.started_at is not None:
            info.duration_s = round(time.time() - info.started_at, 3)
    return info


async def job_logs(target: SlurmTarget, job_id: str, tail_lines: int, cap_bytes: int) -> JobLogs:
    info, logs = await asyncio.gather(
        job_status(target, job_id), jobs.job_logs(target, job_id, tail_lines, cap_bytes)
    )
    return logs.model_copy(update={"state": info.state, "exit_code": info.exit_code})


async def job_cancel(target: SlurmTarget, job_id: str, grace_s: float) -> JobCancelResult:
    """scancel the job (waiting or running), then wait briefly for Slurm to say it ended."""
    info = await job_status(target, job_id)
    if info.slurm_job_id is None:
        return await jobs.job_cancel(target, job_id, grace_s)
    if info.state in ("pending", "running"):
        done = await run_capture(target, remote.command("slurm_job", "cancel", info.slurm_job_id))
        if done.exit_status != 0:
            raise SlurmError(
                f"scancel {info.slurm_job_id} failed: {done.stderr.decode(errors='replace').strip()}"
            )
    after = info
    deadline = time.monotonic() + max(grace_s, CANCEL_WAIT_S)
    while after.state in ("pending", "running") and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        after = await job_status(target, job_id)
    return JobCancelResult(
        job_id=job_id,
        was_running=info.state == "running",
        state=after.state,
        survivors=1 if after.state == "running" else 0,
    )


async def list_jobs(target: SlurmTarget, limit: int = 20) -> list[JobInfo]:
    return await jobs.statuses(lambda i: job_status(target, i), await jobs.job_ids(target, limit))
