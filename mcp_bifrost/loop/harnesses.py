"""Where a target's evaluations run: its harness (installed once, a warm worker per GPU, or one-shot
inside the scheduler's job), and which GPU's lock an evaluation takes."""

from __future__ import annotations

from mcp_bifrost.config import Config
from mcp_bifrost.loop import gpu_lock
from mcp_bifrost.loop.harness import TargetHarness
from mcp_bifrost.ops.kinds import kind_of
from mcp_bifrost.targets.base import Target


class Harnesses:
    """The live harnesses of one app, by target (and GPU); closed together."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._live: dict[str, TargetHarness] = {}

    def get(self, target: Target, gpu: int | None = None) -> TargetHarness:
        """The target's harness (installed once, one warm worker), created on first use. With `gpu`, the
        harness of that one GPU (its own worker, CUDA_VISIBLE_DEVICES=gpu): fan-out runs one per GPU.
        Where a scheduler gives the GPU (Slurm), one-shot inside its job instead: a warm worker would
        live on the login node, which has no GPU."""
        kind = kind_of(target)
        if kind.scheduler_gives_gpu:
            key = f"{target.name}#oneshot"
            if key not in self._live:

                async def wrap(command: str, timeout_s: float) -> str:
                    return await kind.compute_command(target, command, timeout_s=timeout_s)

                self._live[key] = TargetHarness(
                    target, use_worker=False, wrap=wrap, oneshot_reason=kind.oneshot_reason
                )
            return self._live[key]
        key = target.name if gpu is None else f"{target.name}#gpu{gpu}"
        if key not in self._live:
            gpus = self.config.target(target.name)[1].gpus if gpu is None else [gpu]
            env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus))} if gpus else {}
            hs = self.config.harness
            self._live[key] = TargetHarness(
                target, env=env, use_worker=hs.worker, ready_timeout_s=hs.ready_timeout_s
            )
        return self._live[key]

    def gpu(self, target: Target) -> int:
        """The GPU an evaluation without a fan-out slot runs on: the first configured, else 0."""
        gpus = self.config.target(target.name)[1].gpus
        return gpus[0] if gpus else 0

    def lock_gpu(self, target: Target) -> int | None:
        """The GPU whose lock an evaluation takes; None where the scheduler gives the GPU (Slurm)."""
        return None if kind_of(target).scheduler_gives_gpu else self.gpu(target)

    async def close(self) -> None:
        for h in self._live.values():
            await h.close()
        await gpu_lock.finish_reaping()
