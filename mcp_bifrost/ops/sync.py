"""push: make a folder on the target hold exactly the local working tree, in about one round trip.

Procedure: select the local files (filelist) -> one command lists the target (remote_tree) -> plan
the difference (sync_plan) -> check the size caps -> one gzip'd tar stream carrying the changed
files, the delete list and the new manifest -> the target extracts it into a staging folder and,
only once the whole stream has arrived, removes what is gone and hard-links the new files into
place. A stream that breaks off changes nothing on the target. No change at all costs one command.

copy_files (the other direction) lives in ops/fetch.py and is re-exported here.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import posixpath
import tarfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from mcp_bifrost.config import Limits
from mcp_bifrost.errors import ConnectionLost, TransferError, TransferIncomplete, TransferTooLarge, UnsafePath
from mcp_bifrost.models import PushResult
from mcp_bifrost.ops import filelist
from mcp_bifrost.ops.fetch import copy_files
from mcp_bifrost.ops.remote_tree import RemoteState, listing_command, parse_listing
from mcp_bifrost.ops.shell import drain, quote, run_capture
from mcp_bifrost.ops.sync_plan import Plan, make_plan
from mcp_bifrost.ops.tarstream import ByteQueue, CountingReader, PipeAborted, QueueWriter
from mcp_bifrost.ops.workspace import inside, workdir, workspace_dir, workspace_name
from mcp_bifrost.targets.base import Target

Progress = Callable[[int, int], Awaitable[None]]

# Level 1 packs source text ~4x at several times the speed of level 6; the link is rarely slower.
COMPRESS_LEVEL = 1
PUSH_STATE = ".push"  # <workdir>/.push/{staging,manifests}: ours; never a push destination
LIST_CAP = 1000  # dry_run lists are cut here (counts stay exact)
PROGRESS_INTERVAL_S = 0.1
LARGEST_SHOWN = 5

__all__ = ["push", "copy_files", "Progress"]


async def push(
    target: Target,
    local_dir: str | Path,
    remote_dir: str | None = None,
    *,
    delete: bool = True,
    checksum: bool = False,
    dry_run: bool = False,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Send the changed files of `local_dir` to `remote_dir` (default: its workspace twin)."""
    limits = limits or Limits()
    started = time.monotonic()
    selection = await asyncio.to_thread(filelist.select, local_dir)
    wd = await workdir(target)
    dest = await _destination(target, wd, selection.root, remote_dir)
    manifest_path = posixpath.join(wd, PUSH_STATE, "manifests", hashlib.sha256(dest.encode()).hexdigest()[:32])
    remote = await _remote_state(target, wd, dest, manifest_path, selection if checksum else None)
    local_hashes = await asyncio.to_thread(_local_hashes, selection, remote) if checksum else None
    plan = make_plan(selection, remote, delete=delete, local_hashes=local_hashes)
    _check_caps(plan, limits)

    bytes_sent = 0
    if not dry_run and not plan.nothing_to_do:
        bytes_sent = await _send(target, apply_command(wd, remote.real_dir, manifest_path), selection.root,
                                 plan, progress)
    files = plan.files_to_send
    removed = plan.delete + [p + "/" for p in plan.rmdir]
    return PushResult(
        target=target.name,
        local_dir=str(selection.root),
        remote_dir=remote.real_dir,
        files_sent=len(files),
        files_deleted=len(removed),
        files_unchanged=plan.unchanged,
        dirs_created=len(plan.send) - len(files),
        bytes_sent=bytes_sent,
        content_bytes=plan.content_bytes,
        duration_s=round(time.monotonic() - started, 4),
        dry_run=dry_run,
        sent=[e.path for e in files][:LIST_CAP] if dry_run else [],
        deleted=removed[:LIST_CAP] if dry_run else [],
        refused=selection.refused,
        note=_note(plan, dry_run, selection.refused),
    )


async def _destination(target: Target, wd: str, root: Path, remote_dir: str | None) -> str:
    """The absolute remote folder: inside the workdir, never the workdir itself or our state."""
    if remote_dir is None:
        return await workspace_dir(target, workspace_name(str(root)))
    if remote_dir.startswith("~"):
        raise UnsafePath(f"remote_dir {remote_dir!r}: give an absolute path inside {wd}, or one relative "
                         f"to {wd}/workspaces")
    dest = posixpath.normpath(posixpath.join(wd, "workspaces", remote_dir))
    _check_destination(remote_dir, dest, wd)
    return dest


def _check_destination(asked: str, dest: str, wd: str) -> None:
    if not inside(wd, dest) or dest == wd or inside(posixpath.join(wd, PUSH_STATE), dest):
        raise UnsafePath(
            f"remote_dir {asked!r} resolves to {dest}, which is not a folder inside the target's workdir "
            f"{wd}. A push may only write (and delete) below {wd}/; leave remote_dir out to use the "
            "workspace's own folder."
        )


async def _remote_state(target: Target, wd: str, dest: str, manifest_path: str,
                        selection: filelist.Selection | None) -> RemoteState:
    """One command: real path, listing, (hashes,) manifest. `selection` given = checksum mode."""
    names = None
    if selection is not None:
        names = b"".join(e.path.encode("utf-8", "surrogateescape") + b"\0"
                         for e in selection.entries.values() if e.kind == "f")
    done = await run_capture(target, listing_command(wd, dest, manifest_path, checksum=names is not None),
                             input=names)
    if done.exit_status != 0:
        raise TransferError(f"listing {dest} on {target.name} failed (exit {done.exit_status}): "
                            f"{done.stderr.decode(errors='replace').strip()[-500:]}")
    state = parse_listing(done.stdout)
    _check_destination(dest, state.real_dir, wd)  # a symlink on the way may lead out
    return state


def _local_hashes(selection: filelist.Selection, remote: RemoteState) -> dict[str, str]:
    """sha256 of the local files that could be unchanged (the target holds one of the same size)."""
    hashes = {}
    for entry in selection.entries.values():
        there = remote.entries.get(entry.path)
        if entry.kind == "f" and there is not None and there.kind == "f" and there.size == entry.size:
            with open(selection.root / entry.path, "rb") as f:
                hashes[entry.path] = hashlib.file_digest(f, "sha256").hexdigest()
    return hashes


def _check_caps(plan: Plan, limits: Limits) -> None:
    files = sorted(plan.files_to_send, key=lambda e: e.size, reverse=True)
    too_big = [e for e in files if e.size > limits.max_file_bytes]
    if too_big:
        raise TransferTooLarge(
            f"{len(too_big)} file(s) over the per-file cap of {_size(limits.max_file_bytes)} "
            f"(limits.max_file_bytes): {_largest(too_big)}. Nothing was sent. Add them to .bifrostignore "
            "(or .gitignore), or raise the cap in the config."
        )
    if plan.content_bytes > limits.max_push_bytes:
        raise TransferTooLarge(
            f"this push would send {_size(plan.content_bytes)}, over the cap of {_size(limits.max_push_bytes)} "
            f"(limits.max_push_bytes). Largest: {_largest(files)}. Nothing was sent. Ignore what need not "
            "go (.bifrostignore), or raise the cap in the config."
        )


def _largest(entries: list[filelist.LocalEntry]) -> str:
    shown = ", ".join(f"{e.path} ({_size(e.size)})" for e in entries[:LARGEST_SHOWN])
    return shown + (f" and {len(entries) - LARGEST_SHOWN} more" if len(entries) > LARGEST_SHOWN else "")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def _note(plan: Plan, dry_run: bool, refused: list[str]) -> str | None:
    parts = []
    if dry_run:
        parts.append("dry run: nothing was changed on the target")
    if refused:
        parts.append(f"{len(refused)} path(s) not pushed (see refused)")
    if plan.nothing_to_do and not dry_run:
        parts.append("already up to date")
    return "; ".join(parts) or None


def apply_command(wd: str, real_dir: str, manifest_path: str) -> str:
    """Shell program on the target: extract the stream into staging, then delete and link into place.

    Exit codes name the step that failed: 70 staging, 71 extract, 72 stream cut short, 73 the
    destination moved, 74 delete, 75 move into place, 76 manifest.
    """
    staging = posixpath.join(wd, PUSH_STATE, "staging")
    return "\n".join([
        f"d={quote(real_dir)}; m={quote(manifest_path)}; sp={quote(staging)}",
        'mkdir -p "$sp" "$d" "${m%/*}" || exit 70',
        's=$(mktemp -d "$sp/XXXXXXXX") || exit 70',
        "trap 'rm -rf \"$s\"' EXIT; trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM",
        'tar -xzf - -C "$s" --no-same-owner || { echo "bifrost: tar could not extract the stream" >&2; exit 71; }',
        '[ -f "$s/.bifrost/complete" ] || { echo "bifrost: the stream ended early" >&2; exit 72; }',
        'cd "$d" && [ "$(pwd -P)" = "$d" ] || { echo "bifrost: $d moved during the push" >&2; exit 73; }',
        'if [ -s "$s/.bifrost/delete" ]; then xargs -0 rm -rf -- < "$s/.bifrost/delete" || exit 74; fi',
        'if [ -d "$s/files" ]; then',
        '  cp -al --remove-destination "$s/files/." . 2>/dev/null || cp -a --remove-destination "$s/files/." . || exit 75',
        "fi",
        'if [ -s "$s/.bifrost/rmdir" ]; then xargs -0 rmdir --ignore-fail-on-non-empty -- < "$s/.bifrost/rmdir"; fi',
        'mv -f "$s/.bifrost/manifest" "$m" || exit 76',
    ])


async def _send(target: Target, command: str, root: Path, plan: Plan, progress: Progress | None) -> int:
    """Stream the plan as one tar to `command` on the target; returns the bytes on the wire."""
    chunks = ByteQueue()
    done = [0]
    total = plan.content_bytes
    proc = await target.start(command, stdin=True)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = asyncio.gather(drain(proc.read_stdout, out), drain(proc.read_stderr, err))
    writer = asyncio.ensure_future(asyncio.to_thread(write_tar, root, plan, chunks, done))
    sent = 0
    last = 0.0
    try:
        try:
            while (chunk := await chunks.aget()) is not None:
                await proc.write_stdin(chunk)
                sent += len(chunk)
                if progress is not None and time.monotonic() - last >= PROGRESS_INTERVAL_S:
                    last = time.monotonic()
                    await progress(done[0], total)
        except PipeAborted:
            await writer  # the tar writer failed: raise its error
            raise
        await writer
        await proc.close_stdin()
        status = await proc.wait()
        await readers
    except (ConnectionLost, BrokenPipeError, ConnectionResetError) as exc:
        chunks.abort()
        proc.detach()
        readers.cancel()
        raise TransferIncomplete(
            f"push to {target.name} broke off after {sent} bytes ({exc}); the target discarded the partial "
            "stream and its files are as before this push (or whole files of it). Push again."
        ) from exc
    except BaseException:
        chunks.abort()
        proc.detach()
        readers.cancel()
        raise
    if status != 0:
        raise TransferIncomplete(
            f"push to {target.name} failed on the target (exit {status}): "
            f"{b''.join(err).decode(errors='replace').strip()[-800:]}. No half-written file was kept."
        )
    if progress is not None:
        await progress(total, total)
    return sent


def write_tar(root: Path, plan: Plan, chunks: ByteQueue, done: list[int]) -> None:
    """Runs in a worker thread: the tar (gzip level COMPRESS_LEVEL) of the plan into `chunks`."""
    sink = QueueWriter(chunks)
    try:
        with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT, copybufsize=1 << 20) as tar:
            for entry in plan.send:
                info = tarfile.TarInfo("files/" + entry.path)
                info.mtime = entry.mtime_ns / 1e9
                if entry.kind == "d":
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                elif entry.kind == "l":
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.link or "", 0o777
                    tar.addfile(info)
                else:
                    info.size, info.mode = entry.size, 0o755 if entry.executable else 0o644
                    with open(root / entry.path, "rb") as f:
                        tar.addfile(info, CountingReader(f, done))
            _add_bytes(tar, ".bifrost/delete", _nul_list(plan.delete))
            _add_bytes(tar, ".bifrost/rmdir", _nul_list(plan.rmdir))
            _add_bytes(tar, ".bifrost/manifest", _nul_list(plan.manifest))
            _add_bytes(tar, ".bifrost/complete", b"")  # last: its presence proves the stream is whole
        sink.close()
    except OSError as exc:
        chunks.abort()
        raise TransferError(f"reading the local files failed ({exc}); did one change during the push? "
                            "Push again.") from exc
    except BaseException:
        chunks.abort()
        raise


def _nul_list(paths: list[str]) -> bytes:
    return b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, time.time()
    tar.addfile(info, io.BytesIO(data))
