"""Faults against a real sshd: dead connections, host keys, and what is left behind."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from mcp_bifrost.errors import AuthFailed, ConnectFailed, ConnectionLost, HostKeyMismatch, HostKeyUnknown
from mcp_bifrost.ops.execute import ExecLimits, execute
from mcp_bifrost.ops.remote_command import run_capture
from mcp_bifrost.targets.ssh import SshTarget
from tests.conftest import make_ssh_target
from tests.support.sshd import start_sshd

pytestmark = pytest.mark.anyio
LIMITS = ExecLimits(timeout_s=30, budget_s=None, cap_bytes=1000, grace_s=1)


@pytest.fixture
def private_sshd(tmp_path):
    """An sshd of this test's own, since these tests kill it."""
    import tempfile
    from pathlib import Path

    server = start_sshd(Path(tempfile.mkdtemp(prefix="bifrost-faults-")))
    yield server
    server.stop()


def _target(server, tmp_path, *, known_hosts=None, identity_file=None) -> SshTarget:
    return SshTarget(
        "gpu",
        "127.0.0.1",
        port=server.port,
        user=server.user,
        identity_file=str(identity_file or server.client_key),
        known_hosts=str(known_hosts or server.known_hosts),
        workdir=str(tmp_path),
    )


async def _alive(target, marker: str) -> bool:
    done = await run_capture(target, f"pgrep -f '[{marker[0]}]{marker[1:]}' || true")
    return bool(done.stdout.strip())


async def test_next_call_reconnects_after_sshd_died_between_calls(private_sshd, tmp_path):
    target = make_ssh_target(private_sshd, str(tmp_path / "wd"))
    assert (await run_capture(target, "echo one")).stdout == b"one\n"
    private_sshd.kill_all_sessions()
    private_sshd.restart()
    assert (await run_capture(target, "echo two")).stdout == b"two\n"
    await target.close()


async def test_sshd_killed_mid_command_gives_a_clear_error_and_kills_the_command(private_sshd, tmp_path):
    target = make_ssh_target(private_sshd, str(tmp_path / "wd"))
    marker = "bifrost_midcmd_marker"

    def kill_soon() -> None:
        time.sleep(1.0)
        private_sshd.kill_all_sessions()
        private_sshd.restart()

    threading.Thread(target=kill_soon).start()
    with pytest.raises(ConnectionLost) as info:
        await execute(target, f"bash -c 'exec -a {marker} sleep 60'", str(tmp_path), LIMITS)
    assert "killed" in str(info.value), str(info.value)
    assert not await _alive(target, marker)  # this call reconnected
    await target.close()


async def test_unknown_host_key_is_refused_with_the_trust_command(private_sshd, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    target = _target(private_sshd, tmp_path, known_hosts=empty)
    with pytest.raises(HostKeyUnknown) as info:
        await run_capture(target, "true")
    assert "mcp-bifrost trust gpu" in str(info.value)


async def test_changed_host_key_is_refused_as_a_mismatch(private_sshd, tmp_path):
    other = tmp_path / "known_hosts"
    wrong = start_sshd(tmp_path / "other")  # same kind of key, different key
    wrong.stop()
    line = (wrong.root / "host_key.pub").read_text().split()
    other.write_text(f"[127.0.0.1]:{private_sshd.port} {line[0]} {line[1]}\n")
    target = _target(private_sshd, tmp_path, known_hosts=other)
    with pytest.raises(HostKeyMismatch) as info:
        await run_capture(target, "true")
    assert "does NOT match" in str(info.value)


async def test_wrong_key_is_an_auth_error_that_says_what_to_do(private_sshd, tmp_path):
    import subprocess

    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True
    )
    target = _target(private_sshd, tmp_path, identity_file=tmp_path / "stranger")
    with pytest.raises(AuthFailed) as info:
        await run_capture(target, "true")
    assert "identity_file" in str(info.value)


async def test_nothing_listening_is_a_connect_error(tmp_path):
    from tests.support.sshd import free_port

    target = SshTarget("gpu", f"127.0.0.1:{free_port()}", workdir=str(tmp_path), connect_timeout_s=3)
    with anyio.fail_after(10), pytest.raises(ConnectFailed):
        await run_capture(target, "true")


async def test_channels_stay_under_max_sessions_with_many_concurrent_commands(sshd, tmp_path):
    target = make_ssh_target(sshd, str(tmp_path / "wd"))
    results = await _gather([run_capture(target, f"sleep 0.2; echo {i}") for i in range(30)])
    assert [r.stdout for r in results] == [f"{i}\n".encode() for i in range(30)]
    await target.close()


async def _gather(coros):
    import asyncio

    return await asyncio.gather(*coros)


async def test_an_ssh_config_alias_supplies_host_port_user_key_and_known_hosts(sshd, tmp_path):
    target = SshTarget("gpu", "bifrost-test", ssh_config=str(sshd.ssh_config), workdir=str(tmp_path / "wd"))
    assert (await run_capture(target, "echo via-alias")).stdout == b"via-alias\n"
    await target.close()
