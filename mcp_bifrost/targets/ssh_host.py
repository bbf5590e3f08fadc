"""Where an ssh target connects and how: its `user@host:port`, its known_hosts name, asyncssh's
options, and the words for a host key that was refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from mcp_bifrost.errors import (
    HostKeyMismatch,
    HostKeyUnknown,
    TargetError,
)
from mcp_bifrost.targets.sshlib import asyncssh

# AES-GCM first: with AES-NI it moves bulk data faster than chacha20 (push first-push 1.15 -> 1.06
# of rsync's time, measured); the rest of asyncssh's defaults follow, so any server still matches.
PREFERRED_CIPHERS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]


def parse_host(spec: str) -> tuple[str | None, str, int | None]:
    """`user@host:port` -> (user, host, port); any part but host may be absent."""
    m = re.fullmatch(r"(?:(?P<user>[^@]+)@)?(?P<host>\[[^\]]+\]|[^:]+)(?::(?P<port>\d+))?", spec)
    if not m:
        raise TargetError(f"cannot parse host {spec!r}: expected host, user@host or user@host:port")
    host = m["host"].strip("[]")
    return m["user"], host, int(m["port"]) if m["port"] else None


def known_hosts_key(host: str, port: int | None) -> str:
    """The name a known_hosts line uses for host:port."""
    return host if port in (None, 22) else f"[{host}]:{port}"


class Endpoint(Protocol):
    """What ssh_options reads of a target (SshTarget's attributes)."""

    port: int | None
    user: str | None
    identity_file: str | None
    ssh_config: str | None
    known_hosts: str | None
    connect_timeout_s: float
    keepalive_s: float


def ssh_options(target: Endpoint, *, verify_host: bool = True) -> dict:
    """asyncssh's connect options for a target: our ciphers first, keepalives, keys, known_hosts."""
    defaults = [c.decode() for c in asyncssh.encryption.get_default_encryption_algs()]
    ciphers = PREFERRED_CIPHERS + [c for c in defaults if c not in PREFERRED_CIPHERS]
    opts: dict = {
        "encryption_algs": ciphers,
        "connect_timeout": target.connect_timeout_s,
        "keepalive_interval": target.keepalive_s,
        "keepalive_count_max": 3,
    }
    if target.port:
        opts["port"] = target.port
    if target.user:
        opts["username"] = target.user
    if target.identity_file:
        opts["client_keys"] = [str(Path(target.identity_file).expanduser())]
    if target.ssh_config:
        opts["config"] = [str(Path(target.ssh_config).expanduser())]
    if not verify_host:
        opts["known_hosts"] = None
    elif target.known_hosts:
        path = Path(target.known_hosts).expanduser()
        # A missing file means "no host is known yet", not a crash.
        opts["known_hosts"] = str(path) if path.exists() else asyncssh.import_known_hosts("")
    return opts


def host_key_error(
    who: str, target: str, host: str, port: int | None, known_hosts: str | None
) -> TargetError:
    """Why the host key was refused, and what to do: unknown (trust it) or a mismatch (check first)."""
    name = known_hosts_key(host, port)
    recorded = Path(known_hosts or "~/.ssh/known_hosts").expanduser()
    known = recorded.exists() and any(
        line.split(" ", 1)[0].split(",").count(name) for line in recorded.read_text().splitlines()
    )
    if known:
        return HostKeyMismatch(
            f"{who}: the host key of {name} does NOT match the one in {recorded}. "
            "This may be an attack, or the host was reinstalled. Check with its admin, then remove "
            f"the old line (ssh-keygen -R '{name}') and run `mcp-bifrost trust {target}`."
        )
    return HostKeyUnknown(
        f"{who}: host key of {name} is not in {recorded}; refusing to connect. "
        f"Run `mcp-bifrost trust {target}` to see its fingerprint and record it."
    )
