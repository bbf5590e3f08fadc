"""The CLI as a user runs it: a real `mcp-bifrost` process against the real sshd."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_workdir
from tests.support.configs import write_config


def bifrost(
    *args: str, input: str | None = None, env_config: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcp_bifrost", *args], capture_output=True, text=True, input=input, timeout=60
    )


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
    job_id = started.stdout.strip()  # the id alone on stdout, for scripts: ID=$(mcp-bifrost exec -b ...)
    assert f"started as job {job_id}" in started.stderr
    deadline = time.monotonic() + 20
    while True:  # a poll that ends in a failure, never silently
        listed = bifrost("jobs", "list", "--config", str(config_file))
        row = next((line for line in listed.stdout.splitlines() if job_id.split(":")[1][:15] in line), "")
        if "finished" in row:
            break
        assert time.monotonic() < deadline, f"job {job_id} not listed as finished in 20 s:\n{listed.stdout}"
        time.sleep(0.2)
    assert bifrost("jobs", "logs", job_id, "--config", str(config_file)).stdout == "from-job\n"


def test_the_configured_output_cap_reaches_exec_on_the_command_line(tmp_path, sshd, tmp_path_factory):
    config = write_config(
        tmp_path / "capped.toml",
        sshd,
        make_workdir(tmp_path_factory, sshd.user),
        extra="[limits]\noutput_cap_bytes = 300\n",
    )
    done = bifrost("exec", r"head -c 5000 /dev/zero | tr '\000' x", "--config", str(config), "--json")
    stdout = json.loads(done.stdout)[
        "stdout"
    ]  # the cap is the tool's (and --json's); plain exec writes it all
    assert done.returncode == 0 and stdout.count("x") == 300 and "bytes omitted" in stdout


def test_bad_config_exits_2_with_the_reason(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[targets.x]\nkind = "ssh"\n')
    done = bifrost("targets", "--config", str(path))
    assert done.returncode == 2 and "targets.x.ssh.host" in done.stderr


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
    copied = bifrost("copy-files", "a.txt", "--to", str(tmp_path / "back"), *common)
    assert copied.returncode == 0 and (tmp_path / "back" / "a.txt").read_text() == "alpha\n"
    pulled = bifrost("pull", "a.txt", "--to", str(tmp_path / "again"), *common)  # the alias
    assert pulled.returncode == 0 and (tmp_path / "again" / "a.txt").read_text() == "alpha\n"
    escaped = bifrost("copy-files", "../../../../etc/passwd", "--to", str(tmp_path / "back"), *common)
    assert escaped.returncode == 1 and "climbs out" in escaped.stderr


def _in(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "mcp_bifrost", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


def test_pull_to_a_relative_folder_writes_under_the_shells_directory(config_file, tmp_path):
    workspace, shell_dir = tmp_path / "ws", tmp_path / "shell"
    workspace.mkdir()
    shell_dir.mkdir()
    (workspace / "a.txt").write_text("alpha\n")
    common = ["--config", str(config_file), "--workspace", str(workspace)]
    assert _in(shell_dir, "push", *common).returncode == 0
    pulled = _in(shell_dir, "pull", "a.txt", "--to", "got", *common)
    assert pulled.returncode == 0, pulled.stderr
    assert (shell_dir / "got" / "a.txt").read_text() == "alpha\n" and not (workspace / "got").exists()


def test_push_of_a_relative_folder_means_the_one_beside_the_shell(config_file, tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "p.txt").write_text("p\n")
    common = ["--config", str(config_file), "--workspace", str(tmp_path)]
    pushed = _in(tmp_path, "push", "proj", *common)
    assert pushed.returncode == 0 and "sent 1 files" in pushed.stdout
    assert _in(tmp_path, "exec", "cat p.txt", "--cwd", "proj", *common).stdout == "p\n"


def test_a_failed_pull_leaves_no_folder_behind(config_file, tmp_path):
    failed = bifrost(
        "pull",
        "no-such-file",
        "--to",
        str(tmp_path / "new" / "deeper"),
        "--config",
        str(config_file),
        "--workspace",
        str(tmp_path),
    )
    assert failed.returncode == 1 and "does not exist" in failed.stderr
    assert not (tmp_path / "new").exists()


def test_exec_in_a_workspace_that_does_not_exist_is_refused(config_file, tmp_path):
    done = bifrost("exec", "true", "-w", str(tmp_path / "nosuchws"), "--config", str(config_file))
    assert done.returncode == 1 and "not an existing folder" in done.stderr
    assert not (tmp_path / "nosuchws").exists()


def test_jobs_status_takes_the_id_exactly_as_jobs_list_prints_it(config_file):
    started = bifrost("exec", "--background", "echo listed", "--config", str(config_file), "--json")
    job_id = json.loads(started.stdout)["job_id"]
    listed = bifrost("jobs", "list", "--config", str(config_file))
    printed = next(line.split("\t")[0] for line in listed.stdout.splitlines() if job_id in line)
    assert printed == job_id and printed.startswith("gpu:")  # whole, with its target, at any width
    status = bifrost("jobs", "status", printed, "--config", str(config_file))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["job_id"] == job_id
    bare = bifrost("jobs", "status", job_id.split(":", 1)[1], "--target", "gpu", "--config", str(config_file))
    assert bare.returncode == 0, bare.stderr


@pytest.mark.parametrize("timeout", ["0", "-5"])
def test_a_timeout_that_is_not_positive_is_refused_with_a_sentence(config_file, timeout):
    done = bifrost("exec", "echo ran", "--timeout", timeout, "--config", str(config_file))
    assert done.returncode == 1 and "ran" not in done.stdout
    assert "--timeout must be a positive number of seconds" in done.stderr


def test_errors_speak_cli_words(config_file):
    done = bifrost("exec", "sleep 5", "--timeout", "1", "--config", str(config_file))
    assert "--timeout" in done.stderr and "--background" in done.stderr and "timeout_s" not in done.stderr
    started = bifrost("exec", "-b", "true", "--config", str(config_file))
    assert "mcp-bifrost jobs logs gpu:" in started.stderr and "job_logs" not in started.stderr


def test_version_and_json_everywhere():
    assert bifrost("--version").stdout.strip().startswith("mcp-bifrost 0.")
    for command in (
        ["targets"],
        ["exec"],
        ["push"],
        ["pull"],
        ["jobs", "list"],
        ["jobs", "status"],
        ["jobs", "logs"],
        ["jobs", "cancel"],
    ):
        assert "--json" in bifrost(*command, "--help").stdout, command


@pytest.mark.parametrize(
    "body, says", [('host = "h"\n', "no `kind`"), ('kind = "slurmy"\nhost = "h"\n', "unknown kind")]
)
def test_a_missing_or_unknown_kind_lists_the_kinds(tmp_path, body, says):
    path = tmp_path / "c.toml"
    path.write_text("[targets.x]\n" + body)
    done = bifrost("targets", "--config", str(path))
    assert (
        done.returncode == 2
        and says in done.stderr
        and "one of: local" in done.stderr
        and "ssh" in done.stderr
    )
    assert "discriminator" not in done.stderr
