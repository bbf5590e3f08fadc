"""copy_files: fetch files and folders from a target into a local folder, safely and all-or-nothing.

Procedure: resolve each remote path (relative to the workspace, or absolute inside the workdir) ->
one command on the target resolves every real path (a symlink that leads out of the workdir is
refused there, before anything is sent), sums the sizes against the cap and streams one gzip'd tar
-> here tarfile's 'data' filter (ops/tarsafe.py) extracts it (no absolute names, no '..', no links that leave the
folder, no devices) into a staging folder inside local_dir -> only when the whole stream arrived is
each file moved into place with os.replace. A stream that breaks off leaves local_dir as it was.
The local side (extraction, staging, placement) is ops/copy_local.py; this module is the remote side.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import shutil
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from mcp_bifrost import remote
from mcp_bifrost.config import Limits
from mcp_bifrost.errors import (
    ConnectionLost,
    RemoteExit,
    TransferError,
    TransferIncomplete,
    TransferTooLarge,
    UnsafePath,
)
from mcp_bifrost.models import CopyResult
from mcp_bifrost.ops.copy_local import (
    Extractor,
    Received,
    hold,
    refuse_executable_config,
    sweep_stale_staging,
)
from mcp_bifrost.ops.copy_local import move_into_place as move_into_place
from mcp_bifrost.ops.push.filelist import COPY_STAGING_PREFIX
from mcp_bifrost.ops.tarstream import ByteQueue, PipeAborted, settle
from mcp_bifrost.ops.workspace import JOBS, PUSH_STATE, WORKSPACES, RemoteWorkspace, inside, workdir
from mcp_bifrost.targets.base import Target

Progress = Callable[[int, int], Awaitable[None]]

PROGRESS_INTERVAL_S = 0.1
# Exit codes of remote/copy_files.sh's checks (errors.REMOTE_EXIT_CODES); tar itself exits 0,
# 1 (a file changed while it was read) or 2.
EXIT_MISSING, EXIT_UNSAFE, EXIT_TOO_LARGE = (
    RemoteExit.COPY_MISSING,
    RemoteExit.COPY_UNSAFE,
    RemoteExit.COPY_TOO_LARGE,
)
EXIT_RESERVED, EXIT_HARDLINK = RemoteExit.COPY_RESERVED, RemoteExit.COPY_HARDLINK
TAR_FILE_CHANGED = 1


async def copy_files(
    target: Target,
    remote_paths: list[str],
    local_dir: str | Path,
    *,
    workspace_remote_dir: str,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> CopyResult:
    """Copy `remote_paths` (files or folders) into `local_dir`, each under its own name."""
    limits = limits or Limits()
    started = time.monotonic()
    if not remote_paths:
        raise TransferError("copy_files needs at least one remote path")
    wd = await workdir(target)
    resolved = [resolve_remote_path(p, workspace_remote_dir, wd) for p in remote_paths]
    for asked, path in zip(remote_paths, resolved):
        if reserved_for_copy(wd, path):
            raise UnsafePath(_reserved(asked, path, wd))
    _refuse_duplicate_names(resolved)
    local = Path(local_dir).expanduser().resolve()
    refuse_executable_config(local)
    created = next((p for p in [*reversed(local.parents), local] if not p.exists()), None)
    local.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(sweep_stale_staging, local)
    staging = Path(tempfile.mkdtemp(prefix=COPY_STAGING_PREFIX, dir=local))
    held = hold(staging)  # a live copy's staging is locked; a killed server's is swept by the next call
    try:
        received = await _receive(
            target,
            fetch_command(wd, resolved, limits.max_copy_bytes),
            staging,
            limits.max_copy_bytes,
            progress,
        )
        placed = await asyncio.to_thread(move_into_place, staging, local)
    except BaseException:
        if created is not None:  # a failed copy leaves no folder behind that it made
            await asyncio.to_thread(shutil.rmtree, created, True)
        raise
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
        os.close(held)
    return CopyResult(
        target=target.name,
        remote_paths=resolved,
        local_dir=str(local),
        local_paths=[str(local / name) for name in placed],
        files_copied=received.files,
        content_bytes=received.content_bytes,
        bytes_received=received.wire_bytes,
        duration_s=round(time.monotonic() - started, 4),
        skipped=received.skipped,
    )


def resolve_remote_path(path: str, workspace: str, wd: str) -> str:
    """Absolute remote path by the workspace model's rule (ops/workspace.py: one path policy)."""
    return RemoteWorkspace("", wd, workspace, Path()).transfer_path(path)


def reserved_for_copy(wd: str, path: str) -> bool:
    """The workdir itself and the folders that hold every workspace and every job: never fetched whole
    (they hold other projects' files); push's own state never."""
    return path in {wd, posixpath.join(wd, WORKSPACES), posixpath.join(wd, JOBS)} or inside(
        posixpath.join(wd, PUSH_STATE), path
    )


def _reserved(asked: str, real: str, wd: str) -> str:
    return (
        f"copy_files will not fetch {asked!r} ({real}): it is the workdir {wd} itself, the folder of every "
        "workspace or job, or mcp-bifrost's own state; name the files or a folder inside your workspace "
        "(e.g. 'results') instead."
    )


def _refuse_duplicate_names(paths: list[str]) -> None:
    names = [posixpath.basename(p) for p in paths]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TransferError(
            f"several remote paths end in the same name ({', '.join(dupes)}); they would "
            "overwrite each other in the local folder. Copy them in separate calls."
        )


def fetch_command(wd: str, paths: list[str], cap: int) -> str:
    """remote/copy_files.sh: check real paths and the total size, then stream one tar on stdout."""
    return remote.command("copy_files", wd, cap, *paths)


async def _receive(
    target: Target, command: str, staging: Path, cap: int, progress: Progress | None
) -> Received:
    received = Received()
    chunks = ByteQueue()
    extractor = Extractor(chunks, staging, cap, received)
    proc = await target.start(command, bulk=True)
    err: list[bytes] = []
    stderr_done = asyncio.ensure_future(_read_stderr(proc, err, received))
    worker = asyncio.ensure_future(asyncio.to_thread(extractor.run))
    finished = False
    last = 0.0
    try:
        try:
            while data := await proc.read_stdout():
                received.wire_bytes += len(data)
                await chunks.aput(data)
                if progress is not None and time.monotonic() - last >= PROGRESS_INTERVAL_S:
                    last = time.monotonic()
                    await progress(min(extractor.position[0], received.total), received.total)
            await chunks.aput(None)
        except PipeAborted:
            await worker  # the extractor stopped early (cap, corrupt stream): raise its error
            raise
        status = await proc.wait()
        finished = True
        await stderr_done
        _raise_for_refusal(target, status, b"".join(err).decode(errors="replace"), cap)
        try:
            await worker
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise TransferIncomplete(
                f"copy from {target.name}: the tar stream could not be read ({exc}); nothing was written"
            ) from exc
        if status not in (0, TAR_FILE_CHANGED):
            raise TransferIncomplete(
                f"copy from {target.name} failed on the target (tar exit {status}): "
                f"{_tail(err)}; nothing was written"
            )
        if status == TAR_FILE_CHANGED:
            received.skipped.append("(a file changed while it was read on the target; it may be incomplete)")
    except (ConnectionLost, BrokenPipeError, ConnectionResetError) as exc:
        raise TransferIncomplete(
            f"copy from {target.name} broke off after {received.wire_bytes} bytes "
            f"({exc}); nothing was written locally. Try again."
        ) from exc
    finally:
        chunks.abort()
        if not finished:
            proc.detach()
        await settle(worker, stderr_done)  # the thread must stop before staging is removed
    if progress is not None:
        await progress(received.total, received.total)
    return received


async def _read_stderr(proc, err: list[bytes], received: Received) -> None:
    """Collect stderr; pick up the total size line early, for progress."""
    while chunk := await proc.read_stderr():
        err.append(chunk)
        if not received.total and b"bifrost-total\t" in b"".join(err):
            line = b"".join(err).split(b"bifrost-total\t", 1)[1].split(b"\n", 1)
            if len(line) == 2:
                received.total = int(line[0])


def _tail(err: list[bytes]) -> str:
    return b"".join(err).decode(errors="replace").strip()[-800:]


def _raise_for_refusal(target: Target, status: int, stderr: str, cap: int) -> None:
    fields = [line.split("\t") for line in stderr.splitlines()]
    if status == EXIT_MISSING:
        missing = [f[1] for f in fields if f[0] == "bifrost-missing"]
        raise TransferError(f"{', '.join(missing) or 'a path'} does not exist on {target.name}")
    if status == EXIT_UNSAFE:
        bad = [f"{f[1]} -> {f[2]}" for f in fields if f[0] == "bifrost-unsafe" and len(f) > 2]
        raise UnsafePath(
            f"refused: {', '.join(bad)} leads outside the target's workdir (a symlink?); "
            "copy_files only fetches from inside the workdir"
        )
    if status == EXIT_RESERVED:
        bad = next((f for f in fields if f[0] == "bifrost-reserved" and len(f) > 2), ["", "a path", "?"])
        raise UnsafePath(_reserved(bad[1], bad[2], "of this target"))
    if status == EXIT_HARDLINK:
        linked = ", ".join(f[1] for f in fields if f[0] == "bifrost-hardlink" and len(f) > 1)
        raise UnsafePath(
            f"copy_files refused {linked}: a file with other hard links may be a file from outside "
            "the workdir; copy it inside the workdir first (exec `cp FILE FILE.copy`) and fetch the copy."
        )
    if status == EXIT_TOO_LARGE:
        total = next((f[1] for f in fields if f[0] == "bifrost-total"), "?")
        largest = ", ".join(f"{f[2]} ({f[1]} B)" for f in fields if f[0] == "bifrost-large" and len(f) > 2)
        raise TransferTooLarge(
            f"the requested paths hold {total} bytes, over the copy cap of {cap} bytes "
            f"(limits.max_copy_bytes). Largest: {largest}. Nothing was sent; fetch fewer "
            "or smaller paths, or raise the cap in the config."
        )
