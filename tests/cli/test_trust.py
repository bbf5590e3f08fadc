"""`trust` keeps the README's promise against the real sshd: a changed key is a mismatch with both
fingerprints, replaced (not appended) only on explicit consent; a recorded key is never duplicated;
an unknown target name is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def bifrost(*args: str, input: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcp_bifrost", *args], capture_output=True, text=True, input=input, timeout=60
    )


def fingerprint(pub: Path) -> str:
    return subprocess.run(
        ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
    ).stdout.split()[1]


@pytest.fixture
def setup(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    config = tmp_path / "c.toml"
    config.write_text(
        f'[targets.gpu]\nkind = "ssh"\nhost = "127.0.0.1:{sshd.port}"\nuser = "{sshd.user}"\n'
        f'identity_file = "{sshd.client_key}"\nknown_hosts = "{known}"\nworkdir = "{tmp_path}/wd"\n'
    )
    return known, config


def test_trust_records_the_host_key_after_confirmation(sshd, setup):
    known, config = setup
    refused = bifrost("exec", "-t", "gpu", "true", "--config", str(config))
    assert refused.returncode == 1 and "mcp-bifrost trust gpu" in refused.stderr

    declined = bifrost("trust", "gpu", "--config", str(config), input="n\n")
    assert declined.returncode == 1 and "SHA256:" in declined.stdout and not known.exists()

    accepted = bifrost("trust", "gpu", "--config", str(config), input="y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert fingerprint(sshd.root / "host_key.pub") in accepted.stdout
    assert bifrost("exec", "-t", "gpu", "echo ok", "--config", str(config)).stdout == "ok\n"


def test_a_changed_key_is_a_mismatch_replaced_only_on_consent(sshd, tmp_path, setup):
    known, config = setup
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "old")], check=True)
    old_line = f"[127.0.0.1]:{sshd.port} " + " ".join((tmp_path / "old.pub").read_text().split()[:2]) + "\n"
    known.write_text(
        "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx7dJ6dKq3b0rjZzG9s2Nn1JrY8n6GqLrJjvYj5sQ2c\n"
        + old_line
    )
    before = known.read_text()
    old_fp, new_fp = fingerprint(tmp_path / "old.pub"), fingerprint(sshd.root / "host_key.pub")

    yes_only = bifrost("trust", "gpu", "--yes", "--config", str(config))
    assert yes_only.returncode == 1 and known.read_text() == before
    assert "does NOT match" in yes_only.stderr and old_fp in yes_only.stderr and new_fp in yes_only.stderr
    assert "--replace" in yes_only.stderr

    declined = bifrost("trust", "gpu", "--config", str(config), input="n\n")
    assert declined.returncode == 1 and known.read_text() == before

    accepted = bifrost("trust", "gpu", "--config", str(config), input="y\n")
    assert accepted.returncode == 0, accepted.stderr
    lines = known.read_text().splitlines()
    assert lines[0].startswith("other.example ") and len(lines) == 2  # the old line replaced, others kept
    assert bifrost("exec", "-t", "gpu", "echo ok", "--config", str(config)).stdout == "ok\n"


def test_yes_never_appends_a_duplicate(sshd, setup):
    known, config = setup
    assert bifrost("trust", "gpu", "--yes", "--config", str(config)).returncode == 0
    again = bifrost("trust", "gpu", "--yes", "--config", str(config))
    assert again.returncode == 0 and "already recorded" in again.stdout
    assert len(known.read_text().splitlines()) == 1


def test_an_unknown_target_name_is_refused_not_looked_up_as_a_host(setup):
    _, config = setup
    done = bifrost("trust", "gpux", "--config", str(config))
    assert done.returncode == 2 and "no target named 'gpux'" in done.stderr and "gpu" in done.stderr
