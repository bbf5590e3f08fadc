"""Which kind of target a target is, in one place: the layers above ask the kind, never the class."""

from __future__ import annotations

from mcp_bifrost.ops.host import HostKind
from mcp_bifrost.ops.slurm.kind import SlurmKind
from mcp_bifrost.targets.base import Target

HOST = HostKind()
_KINDS: dict[str, HostKind] = {"slurm": SlurmKind()}


def kind_of(target: Target) -> HostKind:
    """The behaviour of `target`'s kind (local and ssh: a host; slurm: a cluster whose scheduler gives the GPU)."""
    return _KINDS.get(target.kind, HOST)
