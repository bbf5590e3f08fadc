"""Append-only JSON-lines record of every tool call, so a person can see what the agent did.

Each call leaves two lines that share a `call` id: `"event": "start"` before anything runs (so a
call in flight when the server dies is still on record) and `"event": "end"` with the result
summary or the error, including calls refused by argument validation and calls to unknown tools.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
MAX_TEXT = 4000  # a longer argument (a pasted script) is cut: the log is for reading


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def start(self, tool: str, target: str | None, arguments: dict[str, Any]) -> str:
        """Record that a call begins; returns the id its end entry carries."""
        call = secrets.token_hex(6)
        self._write({"event": "start", "call": call, "tool": tool, "target": target,
                     "arguments": redact(arguments)})
        return call

    def end(self, call: str, tool: str, target: str | None, outcome: dict[str, Any]) -> None:
        """Record how a call ended: {"result": ...} or {"error": ...}, plus "seconds"."""
        self._write({"event": "end", "call": call, "tool": tool, "target": target, **outcome})

    def record(self, tool: str, target: str | None, arguments: dict[str, Any], outcome: dict[str, Any]) -> None:
        """A call that starts and ends at once (kept for callers outside the MCP server)."""
        self.end(self.start(tool, target, arguments), tool, target, outcome)

    def _write(self, entry: dict[str, Any]) -> None:
        now = time.time()
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
                 **entry}
        line = json.dumps(entry, default=str, ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND makes each line land whole even with several servers writing.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode("utf-8", "backslashreplace"))  # odd file names too
            finally:
                os.close(fd)
        except OSError as exc:  # a full disk must not turn a call that worked into an error
            log.error("could not write the audit log %s: %s", self.path, exc)


def redact(arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as logged: environment values are secrets (only their names are kept), long text is cut."""
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        if key == "env" and isinstance(value, dict):
            out[key] = sorted(str(k) for k in value)
        elif isinstance(value, str) and len(value) > MAX_TEXT:
            out[key] = value[:MAX_TEXT] + f"... ({len(value)} characters)"
        else:
            out[key] = value
    return out
