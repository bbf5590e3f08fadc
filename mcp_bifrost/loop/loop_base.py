"""What the kernel loop's calls share: the shell they run over (`Shell`, app.py's Bifrost), the
workspace paths of problems and candidates, an evaluation's limits, and the history every report
goes to. KernelLoop (kernel_loop.py) is built on it, with its fan-out and profile calls.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from mcp_bifrost.config import Config
from mcp_bifrost.errors import CommandError, PathOutsideWorkdir
from mcp_bifrost.loop import evaluation
from mcp_bifrost.loop.harness import TargetHarness
from mcp_bifrost.loop.harnesses import Harnesses
from mcp_bifrost.loop.history import History
from mcp_bifrost.messages import Words
from mcp_bifrost.models import (
    ProfileReport,
    PushResult,
    SmokeReport,
)
from mcp_bifrost.ops.workspace import RemoteWorkspace
from mcp_bifrost.requests import Mode as Mode
from mcp_bifrost.requests import ProfileRequest, PushRequest, SmokeRequest
from mcp_bifrost.targets.base import Target

Report = TypeVar("Report", bound="SmokeReport | ProfileReport")  # what an evaluation ends in


class Shell(Protocol):
    """What the loop uses of the application's shell operations (app.Bifrost)."""

    config: Config
    workspace: Path
    words: Words

    def target(self, name: str | None = None) -> Target: ...

    def timeout(self, timeout_s: float | None, default: float) -> float: ...

    async def remote_workspace(self, target: Target) -> RemoteWorkspace: ...

    async def push(self, request: PushRequest) -> PushResult: ...


class LoopBase:
    """The state of the kernel loop and the checks every call makes before anything starts."""

    def __init__(self, shell: Shell, *, project: str) -> None:
        self.shell = shell
        self.config = shell.config
        self.harnesses = Harnesses(self.config)
        self.harness = self.harnesses.get
        db = self.config.history_db
        self.history = History(Path(db).expanduser() if db else None, project=project)
        self.last_report: SmokeReport | ProfileReport | None = None

    def workspace_path(self, path: str, what: str, *, must_exist: bool) -> tuple[str, Path]:
        """(path relative to the workspace, local path). Absolute paths must lie inside the workspace."""
        workspace = self.shell.workspace
        p = Path(path).expanduser()
        if p.is_absolute():
            try:
                rel = p.resolve().relative_to(workspace).as_posix()
            except ValueError:
                raise PathOutsideWorkdir(
                    f"{what} {path!r} is outside the workspace {workspace}; give a path "
                    "relative to the workspace"
                ) from None
        else:
            rel = posixpath.normpath(p.as_posix())
            if rel == ".." or rel.startswith("../"):
                raise PathOutsideWorkdir(f"{what} {path!r} climbs out of the workspace {workspace}")
        local = workspace / rel
        if must_exist and not local.exists():
            raise CommandError(
                f"{what} {path!r} does not exist in the workspace {workspace} (paths are relative "
                "to the workspace; the `problems` tool lists the problems and their examples)"
            )
        return rel, local

    def _call(
        self, request: SmokeRequest | ProfileRequest, default_s: float
    ) -> tuple[float, Target, str, tuple[str, Path]]:
        """What one evaluation is about, checked before anything starts: its timeout, target, problem and
        candidate (workspace paths; they must exist locally when the workspace is pushed first)."""
        timeout = self.shell.timeout(request.timeout_s, default_s)
        t = self.shell.target(request.target)
        prob, _ = self.workspace_path(request.problem, "problem", must_exist=request.push)
        return timeout, t, prob, self.workspace_path(request.candidate, "candidate", must_exist=request.push)

    def _limits(self, timeout_s: float, use_budget: bool) -> evaluation.EvalLimits:
        lim = self.config.limits
        return evaluation.EvalLimits(
            timeout_s=timeout_s,
            budget_s=lim.call_budget_s if use_budget else None,
            gpu_wait_s=self.config.harness.gpu_wait_s,
            progress_interval_s=lim.progress_interval_s,
        )

    async def _evaluate_call(
        self,
        h: TargetHarness,
        t: Target,
        call: tuple[str, str, str, str],
        ws: str,
        limits: evaluation.EvalLimits,
        work: evaluation.Run[Report],
        progress: evaluation.Progress | None,
        failed: Callable[[BaseException], str],
    ) -> Report | evaluation.Started[Report]:
        """One tool call's evaluation under the target's GPU lock, remembered in history. `call` is
        (what, tool, problem, candidate): past the call budget it goes on as job `<tool> <problem>
        <candidate>`, whose record carries the report or `failed`'s words."""
        what, tool, prob, cand = call
        return await evaluation.evaluate(
            h,
            self.harnesses.lock_gpu(t),
            f"{what} {prob} {cand}",
            limits,
            work,
            job_command=f"{tool} {prob} {cand}",
            job_cwd=ws,
            progress=progress,
            on_done=self._remember,
            on_job_report=lambda m: m.model_dump_json(),
            on_job_error=failed,
        )

    async def _remember(self, report: SmokeReport | ProfileReport) -> None:
        self.last_report = report
        await asyncio.to_thread(self.history.record, report)
