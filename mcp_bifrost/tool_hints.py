"""What an MCP tool tells its client about itself: its hints (ToolAnnotations), one line per tool (whether
it acts on a target or only reads, whether it may destroy and whether repeating it is harmless), and
the `target` argument every tool that addresses a target takes; and how a tool hands its arguments on."""

from __future__ import annotations

import inspect
from collections.abc import Callable
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


def api_arguments(tool: Callable[..., object], values: dict[str, Any]) -> dict[str, Any]:
    """The tool's arguments, out of its `locals()`, less the MCP context: a tool's parameters are named
    as the keywords of the API method it calls, so it hands them on whole instead of naming each again.
    (Read through the tool's signature: `locals()` of a closure also holds the names it uses from outside.)"""
    return {name: values[name] for name in inspect.signature(tool).parameters if name != "ctx"}
