"""copy_files' local side: the stream extracted into a staging folder through tarfile's 'data' filter
(ops/tarsafe.py), never into a place a local tool obeys (EXECUTABLE_CONFIG), and the staging moved
into place all-or-nothing; a live copy's staging is locked, a killed server's swept by the next call.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gzip
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcp_bifrost.errors import (
    TransferError,
    TransferTooLarge,
    UnsafePath,
)
from mcp_bifrost.ops import tarsafe
from mcp_bifrost.ops.push.filelist import COPY_STAGING_PREFIX
from mcp_bifrost.ops.tarstream import CHUNK_BYTES, ByteQueue, CountingReader, QueueReader

# Places whose content a tool on this machine runs or obeys when it meets them: version control
# metadata (git runs core.fsmonitor, hooks, filters from .git/config), editor and shell set-ups.
# Fetched content never lands in one, and no copy is made into one.
EXECUTABLE_CONFIG = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        ".githooks",
        ".husky",
        ".vscode",
        ".idea",
        ".devcontainer",
        ".direnv",
        ".envrc",
    }
)


def refuse_executable_config(local: Path) -> None:
    """A copy never writes into .git/ (or another place whose content a tool here runs)."""
    bad = [part for part in local.parts if part in EXECUTABLE_CONFIG]
    if bad:
        raise UnsafePath(
            f"copy_files will not write into {local}: {bad[0]} holds configuration that tools on "
            "this machine run (git runs programs named in .git/config and .git/hooks); copy into "
            "an ordinary folder such as 'results' instead."
        )


@dataclass
class Received:
    files: int = 0
    content_bytes: int = 0
    wire_bytes: int = 0
    total: int = 0
    skipped: list[str] = field(default_factory=list)


class Extractor:
    """Runs in a worker thread: tar stream -> staging, through the 'data' filter and the size cap."""

    def __init__(self, chunks: ByteQueue, staging: Path, cap: int, received: Received) -> None:
        self.chunks = chunks
        self.staging = staging
        self.cap = cap
        self.received = received
        self.position = [0]  # bytes of the (uncompressed) tar read so far, for progress

    def run(self) -> None:
        try:
            # the readers are file-like by duck typing (read only), which typeshed's overloads do not model
            with gzip.GzipFile(fileobj=QueueReader(self.chunks), mode="rb") as gz:  # type: ignore[call-overload]
                with tarfile.open(fileobj=CountingReader(gz, self.position), mode="r|") as tar:  # type: ignore[call-overload]
                    tarsafe.extract_all(tar, self.staging, self._filter)
                # tar stops at its end marker; reading on to the end checks gzip's length and CRC,
                # so a stream cut at a member boundary is not taken for a whole one.
                while gz.read(CHUNK_BYTES):
                    pass
        except BaseException:
            self.chunks.abort()
            raise

    def _filter(self, member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        place = next((p for p in member.name.split("/") if p in EXECUTABLE_CONFIG), None)
        if place is not None:
            self.received.skipped.append(
                f"{member.name.removeprefix('./')}: not copied, {place} holds "
                "configuration that tools on this machine would run"
            )
            return None
        try:
            member = tarsafe.data_filter(member, dest)
        except tarsafe.FilterError as exc:
            self.received.skipped.append(f"{member.name.removeprefix('./')}: {exc}")
            return None
        if member.isfile():
            self.received.files += 1
            self.received.content_bytes += member.size
            if self.received.content_bytes > self.cap:
                raise TransferTooLarge(
                    f"the files grew past the copy cap of {self.cap} bytes "
                    "(limits.max_copy_bytes) while being sent; nothing was written"
                )
        return member


def hold(staging: Path) -> int:
    """An fd holding an exclusive flock on the staging folder for as long as this copy lives."""
    fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def sweep_stale_staging(local: Path) -> None:
    """Remove staging folders whose copy is gone (a killed server): nobody holds their lock."""
    for entry in os.scandir(local):
        if not entry.name.startswith(COPY_STAGING_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a copy in progress
        finally:
            os.close(fd)
        shutil.rmtree(entry.path, ignore_errors=True)


OLD = ".bifrost-replaced"  # inside staging: the files a copy replaced, kept until it has succeeded


def move_into_place(staging: Path, local: Path) -> list[str]:
    """Move everything from staging into local: whole new folders by one rename, files by os.replace.

    Conflicts (a folder where a file is, or a local symlink on the way) are checked before anything
    moves; a move that fails midway (permissions, a full disk) puts back every file already placed,
    so that the local folder is changed either as a whole or not at all.
    """
    names = sorted(os.listdir(staging))
    conflicts = [c for name in names for c in _conflicts(staging / name, local / name)]
    if conflicts:
        raise TransferError(
            f"not copied, local paths are in the way: {', '.join(conflicts[:5])}; move them "
            "or copy into another folder"
        )
    old = Path(tempfile.mkdtemp(prefix=OLD, dir=staging))  # a name no fetched entry has
    undo: list[Callable[[], None]] = []
    try:
        for name in names:
            _move(staging / name, local / name, old, undo)
    except OSError as exc:
        for step in reversed(undo):
            with contextlib.suppress(OSError):
                step()
        where = exc.filename or "a local file"
        raise TransferError(
            f"copy_files could not write {where} ({exc.strerror or exc}); nothing was changed "
            "locally (what was already placed was put back). Make the folder writable (or free "
            "disk space) and copy again."
        ) from exc
    return names


def _conflicts(src: Path, dst: Path) -> list[str]:
    if not os.path.lexists(dst):
        return []
    src_dir, dst_dir = src.is_dir() and not src.is_symlink(), dst.is_dir() and not dst.is_symlink()
    if src_dir != dst_dir:
        there, arriving = ("a folder" if dst_dir else "a file or link"), ("folder" if src_dir else "file")
        return [f"{dst} ({there} where a {arriving} arrives)"]
    if not src_dir:
        return []
    return [c for child in os.listdir(src) for c in _conflicts(src / child, dst / child)]


def _move(src: Path, dst: Path, old: Path, undo: list[Callable[[], None]]) -> None:
    if src.is_dir() and not src.is_symlink() and os.path.lexists(dst):
        for child in sorted(os.listdir(src)):
            _move(src / child, dst / child, old, undo)
        return
    if os.path.lexists(dst):  # a file or link (conflicts were refused): kept aside until the end
        kept = old / str(len(undo))
        os.rename(dst, kept)
        undo.append(functools.partial(os.replace, kept, dst))
    os.replace(src, dst)
    undo.append(functools.partial(os.rename, dst, src))
