"""A target as the layers above see it, whatever carries its commands: how a command reaches the GPU and
comes back checked, how detached work is kept, how health is probed, and how many candidates a
fan-out may run at once. `HostKind` is a host we run on directly (local, ssh); ops/slurm/kind.py's
`SlurmKind` is a cluster where Slurm gives the GPU. ops/kinds.py picks one by the target's `kind`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp_bifrost.models import ExecResult, JobCancelResult, JobInfo, JobLogs, TargetHealth
from mcp_bifrost.ops import health, jobs
from mcp_bifrost.ops.execute import ExecLimits, RunOptions, execute
from mcp_bifrost.ops.jobs import JobSpec
from mcp_bifrost.targets.base import Target

if TYPE_CHECKING:
    from typing_extensions import Unpack  # (typing.Unpack is 3.11+; annotations here are never evaluated)


@dataclass(frozen=True)
class Slot:
    """Where one candidate of a fan-out runs: a GPU of the host, or None where the scheduler picks it."""

    index: int
    gpu: int | None  # None: the scheduler picks the GPU

    def env(self) -> dict[str, str]:
        return {} if self.gpu is None else {"CUDA_VISIBLE_DEVICES": str(self.gpu)}


class HostKind:
    """A host we run on directly: commands start there, jobs are its process groups, its GPUs are ours."""

    scheduler_gives_gpu = False  # True: no GPU lock of ours, no per-GPU worker; one-shot harness runs
    oneshot_reason = ""  # why the harness runs one-shot there (only where the scheduler gives the GPU)

    async def compute_command(self, target: Target, command: str, *, timeout_s: float | None) -> str:
        """`command` as it must be sent to reach a GPU: here, unchanged."""
        return command

    async def run(
        self, target: Target, command: str, cwd: str, limits: ExecLimits, **options: Unpack[RunOptions]
    ) -> ExecResult:
        """Run `command` where it reaches a GPU: down wrapped once (compute_command), back once as the
        user's command's result, checked (check)."""
        wrapped = await self.compute_command(target, command, timeout_s=limits.timeout_s)
        result = await execute(target, wrapped, cwd, limits, **options)
        result.command = command
        return self.check(result)

    def check(self, result: ExecResult) -> ExecResult:
        """Raise the error behind a result whose command never ran (a scheduler's launch failure)."""
        return result

    async def submit(self, target: Target, job: JobSpec) -> str:
        """Start a detached job; its (bare) id."""
        return await jobs.start_job(target, job.command, job.cwd, job.env, job.timeout_s, job.grace_s)

    async def job_status(self, target: Target, job_id: str) -> JobInfo:
        return await jobs.job_status(target, job_id)

    async def job_logs(self, target: Target, job_id: str, tail_lines: int, cap_bytes: int) -> JobLogs:
        return await jobs.job_logs(target, job_id, tail_lines, cap_bytes)

    async def job_cancel(self, target: Target, job_id: str, grace_s: float) -> JobCancelResult:
        return await jobs.job_cancel(target, job_id, grace_s)

    async def list_jobs(self, target: Target, limit: int) -> list[JobInfo]:
        return await jobs.list_jobs(target, limit)

    async def probe(self, target: Target, *, is_default: bool) -> TargetHealth:
        return await health.probe(target, is_default=is_default)

    async def idle_gpus(self, target: Target) -> int | None:
        """GPUs free to start a candidate now, where a scheduler says; None: ours to count."""
        return None

    def slots(self, target: Target, gpus: Sequence[int], n: int, idle_gpus: int | None) -> list[Slot]:
        """One slot per configured GPU, taken from a pool; without `gpus`, one slot (one at a time)."""
        if gpus:
            return [Slot(i, gpu) for i, gpu in enumerate(gpus)]
        return [Slot(0, None)]
