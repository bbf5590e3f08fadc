"""The per-connection dispatcher on a real sshd: no request, whatever its bytes, ends it or touches
another command on the connection, and a request sent to a dispatcher that then died is never resent."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import anyio
import pytest

from mcp_bifrost.errors import ConnectionLost, TargetError
from mcp_bifrost.ops.execute import ExecLimits, execute
from mcp_bifrost.ops.remote_command import run_capture

pytestmark = pytest.mark.anyio

HOSTILE = ["echo a\x00b", "\x00", "true\x00; touch x", "\xff\xfe\x00\x00" * 64]


async def test_a_nul_in_a_command_fails_that_call_and_an_innocent_sleep_in_flight_survives(ssh_target):
    # issue 20.1: a NUL killed the dispatcher and every command running on it
    innocent = asyncio.ensure_future(run_capture(ssh_target, "sleep 6; echo survived"))
    await asyncio.sleep(0.5)
    link = await ssh_target._dispatcher()
    for command in HOSTILE:
        with pytest.raises(TargetError, match="could not start the command") as caught:
            await ssh_target.start(command)
        assert "null" in str(caught.value) or "NUL" in str(caught.value)
    assert await ssh_target._dispatcher() is link and link.alive
    done = await innocent
    assert (done.exit_status, done.stdout) == (0, b"survived\n")


async def test_malformed_frames_are_ignored_and_the_link_keeps_working(ssh_target):
    link = await ssh_target._dispatcher()
    innocent = asyncio.ensure_future(run_capture(ssh_target, "sleep 2; echo survived"))
    await asyncio.sleep(0.3)
    for kind, cid, payload in ((b"A", 1, b"short"), (b"Q", 7, b"?"), (b"I", 999, b"x"), (b"A", 99, b"")):
        link.send(kind, cid, payload)
    await link.drain()
    assert (await run_capture(ssh_target, "echo still")).stdout == b"still\n"
    assert (await innocent).stdout == b"survived\n"


async def test_a_request_whose_dispatcher_died_is_not_resent_after_the_reconnect(ssh_target, tmp_path):
    # issue 20.1: the reconnect resent the request that had killed the dispatcher, killing the next one too
    marker = tmp_path / "ran"
    os.chmod(tmp_path, 0o777)
    probe = await run_capture(ssh_target, "echo $PPID")
    dispatcher_pid = int(probe.stdout)
    os.kill(dispatcher_pid, signal.SIGSTOP)  # it reads nothing: our request waits in its pipe
    try:
        call = asyncio.ensure_future(ssh_target.start(f"touch {marker}"))
        await asyncio.sleep(0.5)
    finally:
        os.kill(dispatcher_pid, signal.SIGKILL)
    with pytest.raises(ConnectionLost, match="not sent again") as caught:
        await call
    assert "run it again" in str(caught.value).lower()
    time.sleep(0.5)
    assert not marker.exists()
    assert (await run_capture(ssh_target, "echo next")).stdout == b"next\n"  # the next call reconnects


async def test_exec_of_a_nul_on_the_local_target_is_a_sentence_not_a_bare_error(local_target):
    limits = ExecLimits(timeout_s=10, budget_s=None, cap_bytes=4096)
    with anyio.fail_after(20), pytest.raises(TargetError, match="NUL"):
        await execute(local_target, "echo a\x00b", ".", limits)
