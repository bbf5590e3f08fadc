"""Build targets from config and keep one live instance (one pooled connection) per target name."""

from __future__ import annotations

from typing import Any

from mcp_bifrost.config import Config, LocalTargetConfig, SlurmTargetConfig, SshTargetConfig
from mcp_bifrost.targets.base import Target
from mcp_bifrost.targets.local import LocalTarget
from mcp_bifrost.targets.slurm import SlurmOptions, SlurmTarget
from mcp_bifrost.targets.ssh import SshTarget

# SshTarget's keywords: its config's fields, less those the target itself does not hold
_SSH_KEYWORDS = set(SshTargetConfig.model_fields) - {"kind", "host", "gpus"}


def build_target(name: str, cfg: LocalTargetConfig | SshTargetConfig) -> Target:
    if isinstance(cfg, LocalTargetConfig):
        return LocalTarget(name, cfg.workdir, cfg.python)
    ssh: dict[str, Any] = cfg.model_dump(include=_SSH_KEYWORDS)
    if isinstance(cfg, SlurmTargetConfig):
        slurm = SlurmOptions(
            partition=cfg.partition,
            gres=cfg.gres or None,
            time_limit=cfg.time_limit,
            account=cfg.account,
            srun_options=tuple(cfg.srun_options),
            sbatch_options=tuple(cfg.sbatch_options),
            max_parallel=cfg.max_parallel,
        )
        return SlurmTarget(name, cfg.host, slurm=slurm, **ssh)
    return SshTarget(name, cfg.host, **ssh)


class TargetPool:
    """The live targets of one server or CLI run; `get` returns the same instance for a name."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._live: dict[str, Target] = {}

    def get(self, name: str | None = None) -> Target:
        name, cfg = self.config.target(name)
        if name not in self._live:
            self._live[name] = build_target(name, cfg)
        return self._live[name]

    def names(self) -> list[str]:
        return sorted(self.config.targets)

    async def close(self) -> None:
        for target in self._live.values():
            await target.close()
        self._live.clear()
