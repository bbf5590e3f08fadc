"""The CLI for people: exec streams and takes piped input, no cap on what it writes, exit codes as a
shell gives them, timeouts checked before anything starts, the job id on stdout, readable times and
arguments refused with a sentence (no traceback)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.configs import write_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path) -> Path:
    return write_config(
        tmp_path / "config.toml", None, str(tmp_path / "wd"), extra="[limits]\noutput_cap_bytes = 300\n"
    )


def bifrost(*args: str, input: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcp_bifrost", *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )


def test_exec_streams_output_as_it_comes(config, tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mcp_bifrost",
            "exec",
            "echo first; sleep 4; echo second",
            "--config",
            str(config),
            "-w",
            str(tmp_path),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        started = time.monotonic()
        assert proc.stdout.readline() == b"first\n"
        assert time.monotonic() - started < 3.5 and proc.poll() is None  # seen while it still runs
        assert proc.stdout.read() == b"second\n" and proc.wait(30) == 0
    finally:
        proc.kill()
        proc.wait()


def test_exec_passes_piped_stdin_and_writes_whole_output_past_the_tools_cap(config, tmp_path):
    done = bifrost(
        "exec", "tr a-z A-Z; exit 3", "--config", str(config), "-w", str(tmp_path), input="piped in\n"
    )
    assert (done.returncode, done.stdout) == (3, "PIPED IN\n"), done.stderr
    big = bifrost(
        "exec", r"head -c 5000 /dev/zero | tr '\000' x", "--config", str(config), "-w", str(tmp_path)
    )
    assert big.returncode == 0 and big.stdout == "x" * 5000 and "omitted" not in big.stdout + big.stderr


def test_exit_codes_follow_the_shell(config, tmp_path):
    def rc(command: str, *extra: str) -> int:
        return bifrost("exec", command, "--config", str(config), "-w", str(tmp_path), *extra).returncode

    assert rc("sleep 10", "--timeout", "1") == 124
    assert rc("kill -TERM $$") == 143
    assert rc("kill -KILL $$") == 137
    assert rc("exit 5") == 5


@pytest.mark.parametrize("value", ["0", "-3", "nan", "3e9"])
def test_a_bad_timeout_is_refused_at_once_in_every_command(config, tmp_path, value):
    for command in (
        ["exec", "touch ran"],
        ["smoke", "kernels/vectoradd", "kernels/vectoradd/examples/submission_torch.py"],
    ):
        started = time.monotonic()
        done = bifrost(*command, "--timeout", value, "--config", str(config), "-w", str(REPO))
        assert done.returncode != 0 and "--timeout" in done.stderr, (command, done.stderr)
        assert "Traceback" not in done.stderr and time.monotonic() - started < 5, done.stderr
    assert not list((tmp_path / "wd-local").rglob("ran"))


def test_background_prints_the_job_id_on_stdout_and_jobs_list_shows_readable_times(config, tmp_path):
    started = bifrost("exec", "--background", "echo from-job", "--config", str(config), "-w", str(tmp_path))
    job_id = started.stdout.strip()
    assert started.returncode == 0 and job_id.startswith("local:"), started.stdout + started.stderr
    listed = bifrost("jobs", "list", "--config", str(config))
    assert time.strftime("%Y-%m-%d") in listed.stdout and "started" in listed.stdout.splitlines()[0]


def test_harness_option_names_become_the_surfaces_own():
    from mcp_bifrost.messages import Words, reword

    text = (
        "stopped at the evaluation's deadline (5 s): 1 case(s) checked; raise deadline_s (--deadline) to run "
        "them all; pass compile_allowance_s (--compile-allowance) to exclude it"
    )
    cli, tool = reword(text, Words.CLI), reword(text, Words.TOOL)
    assert "--deadline" not in cli and "deadline_s" not in cli
    assert "raise --timeout" in cli and "--compile-allowance" not in cli
    assert "raise timeout_s" in tool and "--deadline" not in tool


def test_bad_words_on_the_command_line_are_one_sentence(config, tmp_path):
    odd = subprocess.run(
        [sys.executable, "-m", "mcp_bifrost", "problems", "-w", b"/tmp/\xff-no-utf8"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert odd.returncode == 2 and "not valid UTF-8" in odd.stderr and "Traceback" not in odd.stderr
    tab = bifrost("copy-files", "a\tb", "--config", str(config), "-w", str(tmp_path))
    assert tab.returncode == 2 and "contains a tab" in tab.stderr and "Traceback" not in tab.stderr
    big = bifrost("exec", "true #" + "x" * (110 * 1024), "--config", str(config), "-w", str(tmp_path))
    assert big.returncode == 2 and "102,400 bytes" in big.stderr and "Traceback" not in big.stderr


def test_a_reader_that_leaves_ends_the_command_with_sigpipes_status(config, tmp_path):
    marker = tmp_path / "finished"
    pipeline = (
        # the sleep: 100 MB may go through before the kill lands on a loaded machine; the command must
        # still be dead before it could touch the marker
        f"{sys.executable} -m mcp_bifrost exec 'yes | head -c 100000000; sleep 1; touch {marker}' "
        f'--config {config} -w {tmp_path} </dev/null | head -1; echo "rc=${{PIPESTATUS[0]}}"'
    )
    done = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == ["y", "rc=141"] and "Traceback" not in done.stderr, (
        done.stdout + done.stderr
    )
    time.sleep(3)
    assert not marker.exists()  # the command was killed, not left writing to nobody
