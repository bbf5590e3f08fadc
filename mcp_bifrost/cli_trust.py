"""`mcp-bifrost trust HOST`: show a host's key fingerprint and record it in known_hosts on consent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import typer
from rich.console import Console

from mcp_bifrost import trust as known
from mcp_bifrost.config import Config, SshTargetConfig
from mcp_bifrost.errors import BifrostError
from mcp_bifrost.targets.factory import build_target
from mcp_bifrost.targets.ssh import SshTarget, known_hosts_key


def trust_host(
    cfg: Config,
    host: str,
    *,
    yes: bool,
    replace: bool,
    out: Console,
    err: Console,
    error: Callable[[str], None],
) -> int:
    """Fetch `host`'s key, compare it with known_hosts and record it on consent; the exit code (0, 1, 2).
    A key that differs from the recorded one is shown as a mismatch and replaced only on explicit consent."""
    target_cfg = cfg.targets.get(host)
    if target_cfg is not None and not isinstance(target_cfg, SshTargetConfig):
        error(f"target {host!r} is not an ssh target")
        return 2
    if target_cfg is None and not known.looks_like_host(host):
        error(
            f"no target named {host!r}; configured targets: {', '.join(sorted(cfg.targets))}. To trust a host "
            "that is no target, give it as user@host, host:port or its full name"
        )
        return 2
    target = build_target(host, target_cfg) if target_cfg else SshTarget(host, host)
    assert isinstance(target, SshTarget)
    try:
        key = asyncio.run(target.fetch_host_key())
    except BifrostError as exc:
        error(str(exc))
        return 1
    name = known_hosts_key(target.host, target.port)
    path = target.known_hosts_path()
    fingerprint = key.get_fingerprint("sha256")
    found = known.recorded(path, target.host, target.port, key)
    if found.same and not found.other:
        out.print(
            f"{name}'s {key.get_algorithm()} key {fingerprint} is already recorded in {path}; nothing to do",
            markup=False,
            highlight=False,
        )
        return 0
    if found.other:
        old = ", ".join(sorted({k.get_fingerprint("sha256") for k in found.other_keys}))
        err.print(
            f"WARNING: the host key of {name} does NOT match the one recorded in {path}.",
            style="bold red",
            markup=False,
            highlight=False,
        )
        err.print(
            f"  recorded: {old}\n  now:      {fingerprint} ({key.get_algorithm()})\n"
            "The host may have been reinstalled, or someone may be intercepting the connection. Ask the "
            "host's admin for its fingerprint (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) before you "
            "replace it.",
            markup=False,
            highlight=False,
        )
        consent = (yes and replace) or (
            not yes
            and typer.confirm(f"Replace the recorded key of {name} with {fingerprint}?", default=False)
        )
        if not consent:
            if yes:
                error(
                    "a changed key is replaced only with --yes --replace (or answering the question); "
                    "nothing was changed"
                )
            return 1
        known.replace(path, target.host, target.port, key)
        out.print(f"replaced the key of {name} in {path}", markup=False, highlight=False)
        return 0
    out.print(f"{name} presents a {key.get_algorithm()} key, fingerprint [bold]{fingerprint}[/bold]")
    out.print("Compare it with the one the host's admin sees (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub).")
    if not yes and not typer.confirm(f"Record it in {path}?", default=False):
        return 1
    recorded_in = target.record_host_key(key)
    out.print(f"recorded in {recorded_in}")
    return 0
