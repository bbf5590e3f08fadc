"""Append-only JSON-lines record of every tool call, so a person can see what the agent did."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, tool: str, target: str | None, arguments: dict[str, Any], outcome: dict[str, Any]) -> None:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z",
            "tool": tool,
            "target": target,
            "arguments": arguments,
            **outcome,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, default=str, ensure_ascii=False) + "\n"
        # O_APPEND makes each line land whole even with several servers writing.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
