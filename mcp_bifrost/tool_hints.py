"""What an MCP tool tells its client about itself: its hints (ToolAnnotations), one line per tool (whether
it acts on a target or only reads, whether it may destroy and whether repeating it is harmless), and
the `target` argument every tool that addresses a target takes."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.types import ToolAnnotations
from pydantic import Field

TargetArg = Annotated[str | None, Field(description="target name; default: the configured default")]


def acts(title: str, *, destructive: bool, idempotent: bool | None = None) -> ToolAnnotations:
    """A tool that acts on a target (open world). idempotent None: not said."""
    hints: dict[str, Any] = {"destructive_hint": destructive, "open_world_hint": True}
    if idempotent is not None:
        hints["idempotent_hint"] = idempotent
    return ToolAnnotations(title=title, **hints)


def reads(title: str, *, open_world: bool) -> ToolAnnotations:
    """A tool that only reads: a target's state (open world) or what this machine keeps."""
    return ToolAnnotations(title=title, read_only_hint=True, open_world_hint=open_world)
