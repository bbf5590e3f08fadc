"""How a command reaches a machine: one small interface (base.py), one class per kind."""

from mcp_bifrost.targets.base import Process, Target
from mcp_bifrost.targets.factory import TargetPool

__all__ = ["Process", "Target", "TargetPool"]
