"""`mcp-bifrost trust`: what known_hosts already says about a host, compared with the key it presents.

Three cases, three answers: the key is recorded (nothing to do, never a duplicate line), nothing is
recorded (the first-time question), or a *different* key is recorded: the host changed its key or
someone is in the middle. That one is shown as a mismatch with both fingerprints, and the old lines
are replaced, never joined by the new one, only on explicit consent.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from mcp_bifrost.targets.ssh import known_hosts_key


@dataclass
class Recorded:
    """The lines of a known_hosts file that name one host, split by whether they hold the presented key."""

    same: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    other_keys: list[asyncssh.SSHKey] = field(default_factory=list)


def _keys_of(line: str, host: str, port: int | None) -> list[asyncssh.SSHKey]:
    """The host keys one known_hosts line gives `host` (hashed names included); [] for any other line."""
    text = line.strip()
    if not text or text.startswith("#"):
        return []
    try:
        matched = asyncssh.import_known_hosts(text).match(host, "", port)
    except (ValueError, asyncssh.Error):
        return []
    return list(matched[0])


def recorded(path: Path, host: str, port: int | None, key: asyncssh.SSHKey) -> Recorded:
    """What `path` records for host:port, against `key`."""
    found = Recorded()
    if not path.exists():
        return found
    presented = key.export_public_key()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        keys = _keys_of(line, host, port)
        if not keys:
            continue
        if any(k.export_public_key() == presented for k in keys):
            found.same.append(line)
        else:
            found.other.append(line)
            found.other_keys.extend(keys)
    return found


def replace(path: Path, host: str, port: int | None, key: asyncssh.SSHKey) -> None:
    """Rewrite `path` without the lines naming host:port, plus one line with `key` (atomic: a crash
    leaves the old file or the new one)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    kept = [ln for ln in lines if not _keys_of(ln, host, port)]
    kept.append(f"{known_hosts_key(host, port)} {key.export_public_key().decode().strip()}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".known_hosts.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(kept) + "\n")
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def looks_like_host(name: str) -> bool:
    """A name given to trust that is meant as a host, not a target: user@host, host:port, a dotted or
    IPv6 address, localhost. A bare word that is no configured target is most likely a typo of one."""
    return "@" in name or ":" in name or "." in name or name == "localhost"
