"""The Slurm kind of target: its commands reach a GPU through srun, its detached work is an sbatch job,
its health is checked by a job on a compute node, and Slurm gives the GPU (no lock or worker of ours)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

from mcp_bifrost.models import ExecResult, JobCancelResult, JobInfo, JobLogs, TargetHealth
from mcp_bifrost.ops.host import HostKind, Slot
from mcp_bifrost.ops.jobs import JobSpec
from mcp_bifrost.ops.remote_command import quote, run_capture
from mcp_bifrost.ops.slurm import doctor
from mcp_bifrost.ops.slurm import jobs as slurm_jobs
from mcp_bifrost.ops.slurm import run as slurm_run
from mcp_bifrost.targets.base import Target
from mcp_bifrost.targets.slurm import SlurmTarget

_GPUS = re.compile(r"(?:^|,)gpu(?::[^:,()]+)*:(\d+)")  # gpu:4, gpu:h100:4(S:0-1), ... -> 4
_SERVING = ("idle", "mixed")  # node states (sinfo %T) that can start a job now; "*" = not responding


def gpu_count(gres: str) -> int:
    """GPUs in a gres string such as `gpu:h100:4(S:0-1),nic:1` or `gpu:fake:1(IDX:0)`."""
    return sum(int(n) for n in _GPUS.findall(gres))


def parse_idle_gpus(sinfo: str) -> int:
    """Idle GPUs from `sinfo -N -O NodeList,StateLong,Gres,GresUsed` lines (each node counted once)."""
    seen: dict[str, int] = {}
    for line in sinfo.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[1] in _SERVING:
            seen[fields[0]] = max(0, gpu_count(fields[2]) - gpu_count(fields[3]))
    return sum(seen.values())


def _slurm(target: Target) -> SlurmTarget:
    return cast(SlurmTarget, target)  # ops/kinds.py hands this kind only targets of kind "slurm"


class SlurmKind(HostKind):
    scheduler_gives_gpu = True
    oneshot_reason = "one-shot in srun (Slurm compute node)"

    async def compute_command(self, target: Target, command: str, *, timeout_s: float | None) -> str:
        return await slurm_run.compute_command(_slurm(target), command, timeout_s=timeout_s)

    def check(self, result: ExecResult) -> ExecResult:
        return slurm_run.check(result)

    async def submit(self, target: Target, job: JobSpec) -> str:
        return await slurm_jobs.submit(_slurm(target), job.command, job.cwd, job.env, job.timeout_s)

    async def job_status(self, target: Target, job_id: str) -> JobInfo:
        return await slurm_jobs.job_status(_slurm(target), job_id)

    async def job_logs(self, target: Target, job_id: str, tail_lines: int, cap_bytes: int) -> JobLogs:
        return await slurm_jobs.job_logs(_slurm(target), job_id, tail_lines, cap_bytes)

    async def job_cancel(self, target: Target, job_id: str, grace_s: float) -> JobCancelResult:
        return await slurm_jobs.job_cancel(_slurm(target), job_id, grace_s)

    async def list_jobs(self, target: Target, limit: int) -> list[JobInfo]:
        return await slurm_jobs.list_jobs(_slurm(target), limit)

    async def probe(self, target: Target, *, is_default: bool) -> TargetHealth:
        """The login node, the partitions, and a check job on a compute node."""
        return await doctor.probe(_slurm(target), self.run, is_default=is_default)

    async def idle_gpus(self, target: Target) -> int | None:
        """GPUs idle now on the nodes of the target's partition; None when sinfo cannot say."""
        partition = _slurm(target).slurm.partition
        part = ["-p", partition] if partition else []
        argv = ["sinfo", "-h", "-N", *part, "-O", "NodeList:200,StateLong:40,Gres:400,GresUsed:400"]
        done = await run_capture(target, " ".join(quote(a) for a in argv))
        return parse_idle_gpus(done.stdout.decode(errors="replace")) if done.exit_status == 0 else None

    def slots(self, target: Target, gpus: Sequence[int], n: int, idle_gpus: int | None) -> list[Slot]:
        """One Slurm job per candidate, as many in flight as GPUs are idle (at most max_parallel)."""
        most = _slurm(target).slurm.max_parallel
        room = idle_gpus if idle_gpus else most
        return [Slot(i, None) for i in range(max(1, min(n, room, most)))]
