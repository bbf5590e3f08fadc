"""A command that succeeds says nothing on stderr: no third-party warnings, no stray diagnostics.

Why: a new `cryptography` release once put ten lines of DSA deprecation warnings in front of every
`mcp-bifrost` command (asyncssh touches DSA at import). A person reads them as a failure, and a script
that treats stderr as the error channel breaks.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cli.test_cli import bifrost
from tests.conftest import make_workdir
from tests.support.configs import write_config


@pytest.fixture
def config_file(tmp_path, sshd, tmp_path_factory) -> Path:
    return write_config(tmp_path / "config.toml", sshd, make_workdir(tmp_path_factory, sshd.user))


def test_every_successful_command_leaves_stderr_empty(config_file, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "a.txt").write_text("alpha\n")
    common = ["--config", str(config_file), "--workspace", str(workspace)]
    config = ["--config", str(config_file)]
    commands = [
        ["--version"],
        ["--help"],
        ["targets", *config],
        ["targets", "--json", *config],
        ["exec", "true", *common],
        ["exec", "-t", "local", "echo hi", *common],
        ["push", *common],
        ["copy-files", "a.txt", "--to", str(tmp_path / "back"), *common],
        ["jobs", "list", *config],
        ["problems", "--workspace", str(workspace), *config],
        ["client-config", *common],
    ]
    for argv in commands:
        done = bifrost(*argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
        assert done.stderr == "", f"mcp-bifrost {' '.join(argv)} wrote to stderr:\n{done.stderr}"

    started = bifrost("exec", "--background", "sleep 30", *config)
    job_id = (
        started.stderr.split("started as job ")[1].split()[0]
        if "started as job " in started.stderr
        else started.stdout.split()[-1]
    )
    for argv in (
        ["jobs", "status", job_id, *config],
        ["jobs", "logs", job_id, *config],
        ["jobs", "cancel", job_id, *config],
    ):
        done = bifrost(*argv)
        assert done.returncode == 0 and done.stderr == "", (argv, done.stdout, done.stderr)
        time.sleep(0.05)
