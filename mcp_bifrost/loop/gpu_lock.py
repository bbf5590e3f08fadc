"""One benchmark per GPU at a time: an exclusive flock on the target, held by a command we keep open.

Two agents (two servers, two users) timing on one GPU would each measure the other. remote/gpu_lock.sh
holds two flocks for as long as we keep its stdin open: this user's (`/tmp/mcp-bifrost-<uid>/gpu<N>.lock`,
in a private folder it checks before trusting) and the host's (`/tmp/mcp-bifrost-locks/gpu<N>.lock`,
shared with other users, only ever opened read-only so a planted symlink cannot make us write). The
kernel frees both when that process dies, so a crashed client or a dropped connection never leaves a
GPU locked.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio

from mcp_bifrost.errors import BifrostError, GpuLockTimeout, error_for_exit
from mcp_bifrost.loop.harness import Lines
from mcp_bifrost.ops import jobs
from mcp_bifrost.ops.remote_command import drain
from mcp_bifrost.remote import command as remote_command
from mcp_bifrost.targets.base import Process, Target

LOCK_BASE = "/tmp/mcp-bifrost"  # this user's locks: LOCK_BASE-<uid>/
SHARED_LOCK_DIR = "/tmp/mcp-bifrost-locks"  # the host's, shared by every user
WAIT_REPORT_S = 2.0

OnWait = Callable[[str], Awaitable[None]]


def holder_text(purpose: str) -> str:
    """Who holds the lock, as another waiting client will read it."""
    return f"{getpass.getuser()}@{socket.gethostname()} ({purpose})"


@contextlib.asynccontextmanager
async def gpu_lock(
    target: Target,
    gpu: int,
    purpose: str,
    *,
    timeout_s: float,
    on_wait: OnWait | None = None,
    lock_base: str = LOCK_BASE,
    shared_dir: str = SHARED_LOCK_DIR,
) -> AsyncIterator[float]:
    """Hold GPU `gpu` of `target` inside the block; yields the seconds spent waiting for it."""
    started = time.monotonic()
    proc = await target.start(
        remote_command("gpu_lock", lock_base, shared_dir, str(gpu), holder_text(purpose)), stdin=True
    )
    err: list[bytes] = []
    errors = asyncio.ensure_future(drain(proc.read_stderr, err))
    lines = Lines(proc)
    held_by = ""
    try:
        while True:
            waited = time.monotonic() - started
            if waited > timeout_s:
                raise GpuLockTimeout(
                    f"GPU {gpu} on {target.name} stayed busy for {waited:.0f} s (held by {held_by or 'another run'}); "
                    "try again later, or raise timeout_s"
                )
            try:
                line = await lines.next(min(WAIT_REPORT_S, max(0.1, timeout_s - waited)))
            except asyncio.TimeoutError:
                if on_wait is not None:
                    await on_wait(
                        f"waiting for GPU {gpu}, held by {held_by or 'another run'} ({waited:.0f} s)"
                    )
                continue
            if line is None:
                status = await proc.wait()
                detail = b"".join(err).decode(errors="replace").strip()[-300:]
                raise error_for_exit(status, detail) or GpuLockTimeout(
                    f"the GPU lock on {target.name} failed (exit {status}): {detail}"
                )
            text = line.decode(errors="replace")
            if text.startswith("busy"):
                held_by = text[5:].strip()
                if on_wait is not None:
                    await on_wait(f"waiting for GPU {gpu}, held by {held_by or 'another run'}")
            elif text == "acquired":
                break
        yield time.monotonic() - started
    finally:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(BifrostError, OSError):
                await proc.close_stdin()  # the lock command ends and the kernel frees the lock
        # Its exit is awaited aside: the caller does not wait for the shell to go (a few ms per call).
        reaper = asyncio.ensure_future(_reap(target, proc, lines, errors))
        _REAPING.add(reaper)
        reaper.add_done_callback(_REAPING.discard)


_REAPING: set[asyncio.Future[Any]] = set()


async def finish_reaping() -> None:
    """Wait for the lock commands still being reaped aside: a child that ends after its event loop has
    closed makes asyncio print a warning and a traceback (the CLI's stderr after a quick call)."""
    while _REAPING:
        await asyncio.gather(*list(_REAPING), return_exceptions=True)


async def _reap(target: Target, proc: Process, lines: Lines, errors: asyncio.Future[Any]) -> None:
    """Wait for the lock command to end; kill it if it lingers (a stuck channel must not hold the GPU)."""
    try:
        await asyncio.wait_for(proc.wait(), 5)
    except (asyncio.TimeoutError, BifrostError, OSError):
        with contextlib.suppress(BifrostError, OSError):
            await jobs.kill_group(target, proc.pgid, 0.5)
        proc.detach()
    finally:
        lines.cancel()
        errors.cancel()
