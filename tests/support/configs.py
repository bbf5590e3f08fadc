"""Write config files that point targets at the test sshd."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp_bifrost.config import Config
from tests.support.sshd import SshServer


def write_config(
    path: Path,
    sshd: SshServer | None,
    workdir: str,
    *,
    default: str = "gpu",
    known_hosts: Path | None = None,
    extra: str = "",
) -> Path:
    text = f'default_target = "{default if sshd else "local"}"\naudit_log = "{path.parent / "audit.jsonl"}"\n'
    text += f'[targets.local]\nkind = "local"\nworkdir = "{workdir}-local"\n'
    if sshd:
        text += (
            f'[targets.gpu]\nkind = "ssh"\nhost = "{sshd.user}@127.0.0.1:{sshd.port}"\n'
            f'identity_file = "{sshd.client_key}"\nknown_hosts = "{known_hosts or sshd.known_hosts}"\n'
            f'workdir = "{workdir}"\n'
        )
    path.write_text(text + extra)
    return path


def local_only(tmp_path: Path, **limits: Any) -> Config:
    """A config with the one target `local` (its workdir tmp_path/remote-wd) and the audit log in tmp_path."""
    return Config.model_validate(
        {
            "audit_log": str(tmp_path / "audit.jsonl"),
            "limits": limits,
            "targets": {"local": {"kind": "local", "workdir": str(tmp_path / "remote-wd")}},
        }
    )
