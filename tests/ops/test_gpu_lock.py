"""The GPU lock on a shared host: another login (bifrost-test) plants links and folders where our
lock lives; we never write through them, and the lock still keeps two users off one GPU."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest

from mcp_bifrost.errors import GpuLockTimeout
from mcp_bifrost.loop import gpu_lock as gpu_lock_module
from mcp_bifrost.loop.gpu_lock import gpu_lock
from tests.support.unprivileged import USER, call_as_user

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
async def _lock_commands_reaped():
    """The lock command's exit is awaited aside (loop/gpu_lock.py): let it end before the loop does."""
    yield
    with anyio.fail_after(10):
        while gpu_lock_module._REAPING:
            await anyio.sleep(0.02)


@pytest.fixture
def lock_paths():
    """A fresh lock base and host-wide folder in /tmp (sticky, as on a real host), and a victim file."""
    token = secrets.token_hex(4)
    base, shared = f"/tmp/bifrost-test-lock-{token}", f"/tmp/bifrost-test-shared-{token}"
    victim = Path(f"/tmp/bifrost-test-victim-{token}")
    victim.write_text("root's secret\n")
    victim.chmod(0o600)
    yield base, shared, victim
    for path in (f"{base}-{os.getuid()}", shared):
        if os.path.islink(path):
            os.unlink(path)
        else:
            shutil.rmtree(path, ignore_errors=True)
    victim.unlink()


def _plant(shared: str, victim: str) -> None:
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    os.symlink(victim, os.path.join(shared, "gpu0.lock"))


async def test_a_link_planted_in_the_host_wide_lock_folder_is_never_written_through(local_target, lock_paths):
    base, shared, victim = lock_paths
    call_as_user(_plant, shared, str(victim))
    async with gpu_lock(local_target, 0, "smoke test", timeout_s=10, lock_base=base, shared_dir=shared):
        pass
    assert victim.read_text() == "root's secret\n" and victim.stat().st_mode & 0o777 == 0o600
    mine = Path(f"{base}-{os.getuid()}")
    assert mine.stat().st_mode & 0o777 == 0o700 and mine.stat().st_uid == os.getuid()
    assert "smoke test" in (mine / "gpu0.lock").read_text()


def _squat(mine: str, link: bool) -> None:
    theirs = mine + "-theirs"
    os.mkdir(theirs)
    os.chmod(theirs, 0o777)
    if link:
        os.symlink(theirs, mine)
    else:
        os.mkdir(mine)
        os.chmod(mine, 0o777)


@pytest.mark.parametrize("link", [True, False], ids=["link", "folder"])
async def test_a_private_lock_folder_made_by_another_user_is_refused_with_a_sentence(
    local_target, lock_paths, link
):
    base, shared, _ = lock_paths
    mine = f"{base}-{os.getuid()}"
    call_as_user(_squat, mine, link)
    try:
        with pytest.raises(GpuLockTimeout, match="not private to this user"):
            async with gpu_lock(
                local_target, 0, "smoke test", timeout_s=10, lock_base=base, shared_dir=shared
            ):
                pass
        assert os.listdir(mine + "-theirs") == []
    finally:
        shutil.rmtree(mine + "-theirs", ignore_errors=True)


async def test_another_user_holding_the_host_wide_lock_makes_us_wait(local_target, lock_paths):
    base, shared, _ = lock_paths
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    lock = Path(shared, "gpu0.lock")
    lock.touch()
    lock.chmod(0o644)
    holder = subprocess.Popen(["runuser", "-u", USER, "--", "flock", "-s", str(lock), "sleep", "30"])
    waits: list[str] = []

    async def on_wait(text: str) -> None:
        waits.append(text)

    try:
        with anyio.fail_after(20):
            while not subprocess.run(["flock", "-n", str(lock), "true"]).returncode:
                await anyio.sleep(0.05)  # until the other user holds it
        with pytest.raises(GpuLockTimeout, match="stayed busy"):
            async with gpu_lock(
                local_target, 0, "smoke test", timeout_s=2, on_wait=on_wait, lock_base=base, shared_dir=shared
            ):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert any("another user of this host" in w for w in waits)
