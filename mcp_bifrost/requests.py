"""What a call asks for, as one object that goes down the layers (api -> app -> loop) instead of the
same keyword arguments written again at each: the call's arguments, which the audit log records, and
how the caller hears back (progress, a tee, whether a long run becomes a job), which it does not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

Mode = Literal["test", "benchmark", "both"]
Progress = Callable[[float, str], Awaitable[None]]  # (seconds so far, the latest line)
Tee = Callable[[str, bytes], None]  # ("stdout" | "stderr", chunk) as it arrives
ByteProgress = Callable[[int, int], Awaitable[None]]  # (bytes done, bytes in all)
FanoutProgress = Callable[[int, int, str], Awaitable[None]]  # (candidates done, in all, line)


def _unaudited(default: Any) -> Any:
    """A field that says how the caller hears back, not what it asks: left out of the audit entry."""
    return field(default=default, compare=False, metadata={"audited": False})


@dataclass(frozen=True, kw_only=True)
class Request:
    """The arguments of one call."""

    target: str | None = None

    def audited(self) -> dict[str, Any]:
        """The arguments as the audit log records them (None: left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("audited", True)}


@dataclass(frozen=True, kw_only=True)
class ExecRequest(Request):
    """A shell command to run in the workspace's twin (or a folder of it) on a target. use_budget: a run
    past the call budget continues as a job (the MCP tool's behaviour) instead of holding the call."""

    command: str
    cwd: str | None = None
    timeout_s: float | None = None
    env: dict[str, str] | None = None
    background: bool = False
    use_budget: bool = _unaudited(True)
    progress: Progress | None = _unaudited(None)
    tee: Tee | None = _unaudited(None)

    def audited(self) -> dict[str, Any]:
        return {**super().audited(), "background": self.background or None}


@dataclass(frozen=True, kw_only=True)
class PushRequest(Request):
    """A folder to make the remote twin equal to (default: the workspace)."""

    local_dir: str | None = None
    remote_dir: str | None = None
    delete: bool = True
    checksum: bool = False
    dry_run: bool = False
    progress: ByteProgress | None = _unaudited(None)
    confined: bool = _unaudited(True)  # local_dir only in the workspace or a push root (see GPU.push)


@dataclass(frozen=True, kw_only=True)
class CopyRequest(Request):
    """Files or folders of the remote twin to fetch into a local folder."""

    remote_paths: list[str]
    local_dir: str
    progress: ByteProgress | None = _unaudited(None)
    confined: bool = _unaudited(True)  # local_dir only in the workspace or a copy root (see GPU.copy_files)


@dataclass(frozen=True, kw_only=True)
class EvalRequest(Request):
    """What every evaluation of a candidate names: the problem, whether to push first, its timeout;
    use_budget: past the call budget it continues as a job (the MCP tools' behaviour)."""

    problem: str
    push: bool = True
    timeout_s: float | None = None
    use_budget: bool = _unaudited(True)


@dataclass(frozen=True, kw_only=True)
class SmokeRequest(EvalRequest):
    """One candidate checked and timed against the problem's reference."""

    candidate: str
    mode: Mode = "both"
    progress: Progress | None = _unaudited(None)


@dataclass(frozen=True, kw_only=True)
class FanoutRequest(EvalRequest):
    """Several candidates smoke-tested at once, one per free GPU, ranked."""

    candidates: list[str]
    mode: Mode = "both"
    progress: FanoutProgress | None = _unaudited(None)  # as each candidate finishes
    use_budget: bool = _unaudited(False)  # True: past the call budget the whole fan-out is one job


@dataclass(frozen=True, kw_only=True)
class ProfileRequest(EvalRequest):
    """One call of a candidate (and of a baseline) under Nsight Compute."""

    candidate: str
    sections: list[str] | None = None
    kernel_regex: str | None = None
    launch_count: int | None = None
    baseline: str | None = None
    progress: Progress | None = _unaudited(None)
