"""Processes as /proc shows them."""

from __future__ import annotations

from pathlib import Path


def alive(pid: int) -> bool:
    """A process that exists and is neither a zombie nor dead (an unreaped corpse is gone for our purposes)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :][:1] not in (b"Z", b"X")
