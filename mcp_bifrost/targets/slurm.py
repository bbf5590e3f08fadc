"""The `slurm` target: a cluster whose login node is an ssh target; GPU work runs as Slurm jobs.

Every command `start()`s on the login node (push, listings, job files: the workdir is on a filesystem
the compute nodes share). What must run on a GPU is wrapped by ops/slurm/run.py in `srun` (short calls)
or handed to `sbatch` (detached work) with the options below. Slurm picks the GPU and sets
CUDA_VISIBLE_DEVICES, so there is no per-GPU lock here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mcp_bifrost.config import SLURM_GRES, SLURM_MAX_PARALLEL
from mcp_bifrost.targets.ssh import SshTarget


@dataclass(frozen=True)
class SlurmOptions:
    """What every job of this target asks Slurm for."""

    partition: str | None = None
    gres: str | None = SLURM_GRES
    time_limit: str | None = None  # Slurm's format; None: derived from the call's timeout
    account: str | None = None
    srun_options: tuple[str, ...] = field(default_factory=tuple)
    sbatch_options: tuple[str, ...] = field(default_factory=tuple)
    max_parallel: int = SLURM_MAX_PARALLEL

    def common(self, timeout_s: float | None) -> list[str]:
        """Options srun and sbatch share: partition, gres, account, time limit."""
        opts = []
        if self.partition:
            opts.append(f"--partition={self.partition}")
        if self.gres:
            opts.append(f"--gres={self.gres}")
        if self.account:
            opts.append(f"--account={self.account}")
        time_limit = self.time_limit or (time_limit_minutes(timeout_s) if timeout_s else None)
        if time_limit:
            opts.append(f"--time={time_limit}")
        return opts

    def srun(self, timeout_s: float | None) -> list[str]:
        return self.common(timeout_s) + list(self.srun_options)

    def sbatch(self, timeout_s: float | None) -> list[str]:
        return self.common(timeout_s) + list(self.sbatch_options)


def time_limit_minutes(timeout_s: float) -> str:
    """Slurm counts time limits in whole minutes: round the timeout up (our own timeout stays exact)."""
    return str(max(1, math.ceil(timeout_s / 60)))


class SlurmTarget(SshTarget):
    kind = "slurm"

    def __init__(self, name: str, host: str, *, slurm: SlurmOptions, **ssh_options) -> None:
        super().__init__(name, host, **ssh_options)
        self.slurm = slurm
