"""The server as bench/ scripts drive it: `mcp-bifrost serve` over stdio on a `local` target of its own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp import StdioServerParameters

REPO = Path(__file__).resolve().parents[1]


def write_config(root: Path, name: str, target_lines: str = "", extra: str = "") -> Path:
    """A config whose audit log, history and workdir live under `root`, with a `local` target."""
    path = root / f"config-{name}.toml"
    path.write_text(
        f'audit_log = "{root / "audit.jsonl"}"\nhistory_db = "{root / "history.sqlite3"}"\n{extra}'
        f"[limits]\ncall_budget_s = 600\n"
        f'[targets.local]\nkind = "local"\npython = "{sys.executable}"\nworkdir = "{root / "workdir"}"\n'
        f"{target_lines}"
    )
    return path


def server(config: Path, ws: Path) -> StdioServerParameters:
    """Stdio parameters for a server on `config` and workspace `ws`, with this checkout first on PYTHONPATH
    and the bare environment an MCP client passes (plus CUDA's paths)."""
    env = {
        k: v for k, v in os.environ.items() if k in ("HOME", "PATH", "USER", "LD_LIBRARY_PATH", "CUDA_HOME")
    }
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_bifrost", "serve", "--workspace", str(ws), "--config", str(config)],
        env=env,
    )
