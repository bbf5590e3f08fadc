"""The remote process lifecycle under crowds and crashes (issue 13 items 1, 7, 11), against the real sshd."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from mcp_bifrost.errors import REMOTE_EXIT_CODES, BifrostError, RemoteExit
from mcp_bifrost.ops.execute import ExecLimits, execute
from mcp_bifrost.ops.process_group import SILENCE_S
from mcp_bifrost.ops.remote_command import run_capture
from mcp_bifrost.ops.workspace import workdir
from tests.conftest import make_ssh_target
from tests.support.sshd import start_sshd

pytestmark = pytest.mark.anyio
REMOTE = Path(__file__).resolve().parents[2] / "mcp_bifrost" / "remote"


def _alive(marker: str) -> list[str]:
    """Processes on this machine (the loopback target) whose command line holds the marker."""
    done = subprocess.run(["pgrep", "-f", f"[{marker[0]}]{marker[1:]}"], capture_output=True, text=True)
    return done.stdout.split()


def _groups(marker: str) -> set[str]:
    """The process groups of the marker's processes: the whole remote run (wrapper, tees, command)."""
    pids = _alive(marker)
    if not pids:
        return set()
    done = subprocess.run(["ps", "-o", "pgid=", "-p", ",".join(pids)], capture_output=True, text=True)
    return set(done.stdout.split()) - {str(os.getpgrp())}  # not ours (a client's argv may hold the marker)


def _members(groups: set[str]) -> list[str]:
    """Live (not zombie) processes left in these groups."""
    table = subprocess.run(["ps", "-eo", "pid=,pgid=,stat=,args="], capture_output=True, text=True).stdout
    return [
        line
        for line in table.splitlines()
        if line.split()[1] in groups and not line.split()[2].startswith("Z")
    ]


async def _gone(marker: str, within_s: float, groups: set[str] | None = None) -> bool:
    groups = groups or set()
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not _alive(marker) and not _members(groups):
            return True
        await anyio.sleep(0.2)
    return not _alive(marker) and not _members(groups)


@pytest.fixture
def private_sshd():
    server = start_sshd(Path(tempfile.mkdtemp(prefix="bifrost-process-")))
    yield server
    server.stop()


def test_every_exit_code_a_remote_script_uses_is_mapped_under_its_name():
    for script in sorted(REMOTE.glob("*.sh")):
        text = script.read_text()
        named = dict(re.findall(r"\bEXIT_([A-Z_]+)=(\d+)", text))
        for name, code in named.items():
            if name in RemoteExit.__members__:
                assert RemoteExit[name] == int(code), (
                    f"{script.name}: EXIT_{name}={code} disagrees with errors.RemoteExit"
                )
            assert int(code) in REMOTE_EXIT_CODES, f"{script.name}: EXIT_{name} is not in REMOTE_EXIT_CODES"
        for literal in re.findall(r"\bexit\s+(\d+)", text):
            assert int(literal) in (0,) or int(literal) in REMOTE_EXIT_CODES, (
                f"{script.name}: bare exit {literal}"
            )
        for used in re.findall(r'exit\s+"\$EXIT_([A-Z_]+)"', text):
            assert used in named, f"{script.name} uses EXIT_{used} without defining it"
    for cls, meaning in REMOTE_EXIT_CODES.values():
        assert issubclass(cls, BifrostError) and meaning


@pytest.mark.parametrize("python", ["python3", "/no/such/python"], ids=["dispatcher", "channel-per-call"])
async def test_eight_concurrent_timeouts_on_one_connection_all_return_in_time_and_leave_nothing(
    python, sshd, tmp_path
):
    """Issue 13.1: eight calls at once (max_channels), each timing out: none may hang on the kill.
    Without a python on the target there is no dispatcher and every call holds a channel."""
    target = make_ssh_target(sshd, str(tmp_path / "wd"))
    target.python = python
    marker = "bifrost_crowd_marker"
    limits = ExecLimits(timeout_s=3, budget_s=None, cap_bytes=1000, grace_s=1)
    cwd = await workdir(target)
    started = time.monotonic()
    calls = asyncio.gather(
        *(execute(target, f"bash -c 'exec -a {marker} sleep 300'", cwd, limits) for _ in range(8))
    )
    await anyio.sleep(2)
    groups = _groups(marker)
    with anyio.fail_after(3 + 1 + 10):
        results = await calls
    took = time.monotonic() - started
    assert all(r.timed_out for r in results), [r.note for r in results]
    assert took < 3 + 1 + 5, f"took {took:.1f} s"  # timeout + grace, plus slack for a loaded 2-core CI box
    assert await _gone(marker, 5, groups), _members(groups)
    assert (await run_capture(target, "echo still-answering")).stdout == b"still-answering\n"
    await target.close()


@pytest.mark.parametrize("python", ["python3", "/no/such/python"], ids=["dispatcher", "channel-per-call"])
async def test_rc_file_chatter_on_both_streams_does_not_break_the_pid_handshake(python, tmp_path):
    """Issue 13.11: a login shell that prints on stdout and stderr before our shell starts."""
    noisy = tmp_path / "noisy-rc.sh"
    noisy.write_text("echo 'welcome to the GPU box'; echo 'conda: base activated' >&2\n")
    noisy.chmod(0o755)
    server = start_sshd(
        Path(tempfile.mkdtemp(prefix="bifrost-noisy-")), extra_config=f"SetEnv BASH_ENV={noisy}\n"
    )
    try:
        target = make_ssh_target(server, str(tmp_path / "wd"))
        target.python = python
        chatter = await run_capture(target, "true")  # the noise is real: a plain bash shows it
        assert chatter.exit_status == 0
        cwd = await workdir(target)
        results = await asyncio.gather(
            *(
                execute(
                    target,
                    f"echo out{i}; echo err{i} >&2",
                    cwd,
                    ExecLimits(timeout_s=30, budget_s=None, cap_bytes=1000),
                )
                for i in range(12)
            )
        )
        assert [(r.exit_code, r.stdout, r.stderr) for r in results] == [
            (0, f"out{i}\n", f"err{i}\n") for i in range(12)
        ]
        await target.close()
    finally:
        server.stop()


async def test_a_foreground_command_dies_soon_after_the_connection_is_lost_for_good(private_sshd, tmp_path):
    """Issue 13.7: sshd gone for longer than the client's reconnect attempts: the target cleans up."""
    target = make_ssh_target(private_sshd, str(tmp_path / "wd"))
    marker = "bifrost_lostlink_marker"
    cwd = await workdir(target)
    running = asyncio.ensure_future(
        execute(
            target,
            f"bash -c 'exec -a {marker} sleep 300'",
            cwd,
            ExecLimits(timeout_s=120, budget_s=None, cap_bytes=1000, grace_s=1),
        )
    )
    with anyio.fail_after(10):
        while not _alive(marker):
            await anyio.sleep(0.1)
    groups = _groups(marker)
    private_sshd.kill_all_sessions()  # and it stays down: the client cannot reconnect to kill
    with pytest.raises(BifrostError):
        with anyio.fail_after(30):
            await running
    assert await _gone(marker, 5, groups), f"still running: {_members(groups)}"
    await target.close()


_CLIENT = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from mcp_bifrost.app import Bifrost
    from mcp_bifrost.config import load_config
    from mcp_bifrost.requests import ExecRequest
    app = Bifrost(load_config(Path(sys.argv[1])), Path(sys.argv[2]))
    request = ExecRequest(command=sys.argv[4], target=sys.argv[3], timeout_s=300, use_budget=False)
    asyncio.run(app.exec(request))
""")


@pytest.mark.parametrize("target_name", ["local", "gpu"])
def test_a_foreground_command_dies_soon_after_its_server_is_killed(
    target_name, sshd, tmp_path, tmp_path_factory
):
    """Issue 13.7: SIGKILL the process that runs exec; its command must not outlive it."""
    from tests.conftest import make_workdir
    from tests.support.configs import write_config

    config = write_config(tmp_path / "config.toml", sshd, make_workdir(tmp_path_factory, sshd.user))
    marker = f"bifrost_serverkill_{target_name}_marker"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    client = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CLIENT,
            str(config),
            str(tmp_path),
            target_name,
            f"bash -c 'exec -a {marker} sleep 300'",
        ],
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while (
            not _groups(marker) and time.monotonic() < deadline
        ):  # the client's own argv holds the marker too
            time.sleep(0.1)
        groups = _groups(marker)
        assert groups, "the command never started"
        client.send_signal(signal.SIGKILL)
        client.wait(5)
        assert anyio.run(_gone, marker, 5, groups), f"outlived the killed client: {_members(groups)}"
    finally:
        client.kill()
        for line in _members(_groups(marker)):
            os.kill(int(line.split()[0]), signal.SIGKILL)


async def test_a_truncated_foreground_output_does_not_promise_a_job_log(target):
    """Issue 13.12: no job log is kept for a foreground run, so the marker must not point to one."""
    r = await execute(
        target, "seq 1 100000", await workdir(target), ExecLimits(timeout_s=30, budget_s=None, cap_bytes=1000)
    )
    assert r.truncated and "omitted" in r.stdout
    assert "job log" not in r.stdout and "redirect the output to a file" in r.stdout


def test_a_silent_client_is_given_up_after_a_bounded_time():
    assert 0 < SILENCE_S <= 60
