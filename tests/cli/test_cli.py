"""The CLI as a user runs it: a real `mcp-bifrost` process against the real sshd."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_workdir
from tests.support.configs import write_config


def bifrost(*args: str, input: str | None = None, env_config: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcp_bifrost", *args], capture_output=True, text=True,
                          input=input, timeout=60)


@pytest.fixture
def config_file(tmp_path, sshd, tmp_path_factory) -> Path:
    return write_config(tmp_path / "config.toml", sshd, make_workdir(tmp_path_factory, sshd.user))


def test_exec_prints_output_and_exits_with_the_command_status(config_file):
    done = bifrost("exec", "echo hi; echo oops >&2; exit 4", "--config", str(config_file))
    assert (done.returncode, done.stdout, done.stderr) == (4, "hi\n", "oops\n")


def test_targets_shows_each_target_and_its_health(config_file):
    done = bifrost("targets", "--config", str(config_file))
    assert done.returncode == 0, done.stderr
    assert "gpu" in done.stdout and "local" in done.stdout and "yes" in done.stdout


def test_jobs_start_list_logs(config_file):
    started = bifrost("exec", "--background", "echo from-job", "--config", str(config_file))
    job_id = started.stderr.split("started as job ")[1].split()[0]
    import time

    for _ in range(50):
        listed = bifrost("jobs", "list", "--config", str(config_file))
        if "finished" in listed.stdout:
            break
        time.sleep(0.2)
    assert job_id.split(":")[1][:15] in listed.stdout
    assert bifrost("jobs", "logs", job_id, "--config", str(config_file)).stdout == "from-job\n"


def test_bad_config_exits_2_with_the_reason(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[targets.x]\nkind = "ssh"\n')
    done = bifrost("targets", "--config", str(path))
    assert done.returncode == 2 and "targets.x.ssh.host" in done.stderr


def test_trust_records_the_host_key_after_confirmation(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    config = tmp_path / "c.toml"
    config.write_text(
        f'[targets.gpu]\nkind = "ssh"\nhost = "127.0.0.1:{sshd.port}"\nuser = "{sshd.user}"\n'
        f'identity_file = "{sshd.client_key}"\nknown_hosts = "{known}"\nworkdir = "{tmp_path}/wd"\n'
    )
    refused = bifrost("exec", "-t", "gpu", "true", "--config", str(config))
    assert refused.returncode == 1 and "mcp-bifrost trust gpu" in refused.stderr

    declined = bifrost("trust", "gpu", "--config", str(config), input="n\n")
    assert declined.returncode == 1 and "SHA256:" in declined.stdout and not known.exists()

    accepted = bifrost("trust", "gpu", "--config", str(config), input="y\n")
    assert accepted.returncode == 0, accepted.stderr
    fingerprint = subprocess.run(["ssh-keygen", "-lf", str(sshd.root / "host_key.pub")], capture_output=True,
                                 text=True).stdout.split()[1]
    assert fingerprint in accepted.stdout
    assert bifrost("exec", "-t", "gpu", "echo ok", "--config", str(config)).stdout == "ok\n"


def test_push_then_pull_from_the_command_line(config_file, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "a.txt").write_text("alpha\n")
    common = ["--config", str(config_file), "--workspace", str(workspace)]
    dry = bifrost("push", "--dry-run", *common)
    assert dry.returncode == 0 and "a.txt" in dry.stdout and "would send 1" in dry.stdout
    done = bifrost("push", *common)
    assert done.returncode == 0 and "sent 1 files" in done.stdout
    assert bifrost("exec", "cat a.txt", *common).stdout == "alpha\n"
    pulled = bifrost("pull", "a.txt", "--to", str(tmp_path / "back"), *common)
    assert pulled.returncode == 0 and (tmp_path / "back" / "a.txt").read_text() == "alpha\n"
    escaped = bifrost("pull", "../../../../etc/passwd", "--to", str(tmp_path / "back"), *common)
    assert escaped.returncode == 1 and "climbs out" in escaped.stderr
