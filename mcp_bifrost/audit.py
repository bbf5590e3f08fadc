"""Append-only JSON-lines record of every tool call, so a person can see what the agent did.

Each call leaves two lines that share a `call` id: `"event": "start"` before anything runs (so a
call in flight when the server dies is still on record) and `"event": "end"` with the result
summary or the error, including calls refused by argument validation and calls to unknown tools.
Each entry names its `surface`: "mcp" (the server's tools) or "api" (mcp_bifrost.GPU called from a
script); the server drives the API without auditing it again, so one call is one pair of lines.
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
# What an end entry keeps of a result: enough to read what happened, never the output itself.
SUMMARY_KEYS = (
    "exit_code",
    "timed_out",
    "job_id",
    "duration_s",
    "state",
    "truncated",
    "survivors",
    "files_sent",
    "files_deleted",
    "bytes_sent",
    "files_copied",
    "bytes_received",
    "summary",
)


class AuditLog:
    def __init__(self, path: Path, *, surface: str | None = None) -> None:
        self.path = path
        self.surface = surface

    def start(self, tool: str, target: str | None, arguments: dict[str, Any]) -> str:
        """Record that a call begins; returns the id its end entry carries."""
        call = secrets.token_hex(6)
        self._write(
            {"event": "start", "call": call, "tool": tool, "target": target, "arguments": redact(arguments)}
        )
        return call

    def end(self, call: str, tool: str, target: str | None, outcome: dict[str, Any]) -> None:
        """Record how a call ended: {"result": ...} or {"error": ...}, plus "seconds"."""
        self._write({"event": "end", "call": call, "tool": tool, "target": target, **outcome})

    def record(
        self, tool: str, target: str | None, arguments: dict[str, Any], outcome: dict[str, Any]
    ) -> None:
        """A call that starts and ends at once (kept for callers outside the MCP server)."""
        self.end(self.start(tool, target, arguments), tool, target, outcome)

    def _write(self, entry: dict[str, Any]) -> None:
        now = time.time()
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
            **({"surface": self.surface} if self.surface else {}),
            **entry,
        }
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


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """The few fields of a result (a model's dump) an end entry keeps."""
    return {k: data[k] for k in SUMMARY_KEYS if k in data}


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
