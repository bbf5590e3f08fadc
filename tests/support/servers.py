"""The server as a process: killed the way a crash ends it, found by the config it was started with."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def kill_servers_of(config: Path) -> None:
    """SIGKILL every process started with `--config CONFIG` (there must be one)."""
    pids = subprocess.run(
        ["pgrep", "-f", "--", f"--config {config}"], capture_output=True, text=True
    ).stdout.split()
    assert pids, "the server process was not found"
    for pid in pids:
        os.kill(int(pid), signal.SIGKILL)
