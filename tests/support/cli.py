"""The CLI as a person runs it: `mcp-bifrost ARGS` in a process of its own, its output captured."""

from __future__ import annotations

import subprocess
import sys


def bifrost(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`mcp-bifrost ARGS` (this interpreter's package), stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "mcp_bifrost", *args], capture_output=True, text=True, timeout=timeout
    )
