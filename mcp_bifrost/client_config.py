"""`mcp-bifrost client-config`: the exact configuration an MCP client needs to start this server.

A client (Claude Desktop, Claude Code) starts the server with a near-empty environment and no shell:
`mcp-bifrost` on a PATH it never sees, or a placeholder in `env`, makes the server exit before it
speaks, and the client shows only "Connection closed". So the printed command is the absolute path
of the executable that runs now, the workspace and config are absolute, and `env` carries only what
this installation really needs (PYTHONPATH when the package is found only through it).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import mcp_bifrost

SERVER_NAME = "bifrost"
CLIENTS = ("desktop", "code", "mcp-json")


def server_command() -> list[str]:
    """The absolute command that starts mcp-bifrost with the interpreter (and venv) running now."""
    script = Path(sys.executable).parent / "mcp-bifrost"
    if script.is_file() and os.access(script, os.X_OK) and _installed():
        return [str(script)]
    return [sys.executable, "-m", "mcp_bifrost"]


def _package_root() -> Path:
    return Path(mcp_bifrost.__file__).resolve().parent.parent


def _installed() -> bool:
    """True when the interpreter finds this very package without PYTHONPATH (an install, or an editable one)."""
    root = str(_package_root())
    on_pythonpath = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return root not in on_pythonpath


def server_entry(workspace: Path, config: Path | None) -> dict[str, Any]:
    """One `mcpServers` entry: command, args and (only when needed) env."""
    command = server_command()
    args = [*command[1:], "serve", "--workspace", str(workspace.expanduser().resolve())]
    if config is not None:
        args += ["--config", str(config.expanduser().resolve())]
    entry: dict[str, Any] = {"command": command[0], "args": args}
    if not _installed():
        entry["env"] = {"PYTHONPATH": str(_package_root())}
    return entry


def render(client: str, workspace: Path, config: Path | None) -> str:
    """The text to paste for one client."""
    entry = server_entry(workspace, config)
    if client == "code":
        # the name first: --env takes several values and would swallow a name that followed it
        env = "".join(f" --env {shlex.quote(f'{k}={v}')}" for k, v in entry.get("env", {}).items())
        words = " ".join(shlex.quote(w) for w in [entry["command"], *entry["args"]])
        return f"claude mcp add {SERVER_NAME}{env} -- {words}"
    return json.dumps({"mcpServers": {SERVER_NAME: entry}}, indent=2)


def explain(client: str) -> str:
    return {
        "desktop": "Claude Desktop: merge into claude_desktop_config.json (macOS: ~/Library/Application Support/"
        "Claude/, Windows: %APPDATA%\\Claude\\), then restart Claude Desktop",
        "code": "Claude Code: run in your project",
        "mcp-json": "a project's .mcp.json (Claude Code and other clients read it)",
    }[client]
