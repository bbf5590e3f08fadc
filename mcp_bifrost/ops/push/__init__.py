"""push: make a folder on the target hold exactly the local working tree, in about one round trip.

Procedure: select the local files (filelist) -> one command on the target (remote/push.sh) takes
the destination's lock, lists its tree and stays open (stream); when the tree is the one this client
remembers from its last push (tree_cache), the target says so instead of sending the listing ->
plan the difference here (plan)
-> refuse type conflicts -> check the size caps -> for big changed files, ask the same command for
its block hashes (delta) -> tell the command "stop", or "go" plus one packed tar of the changed
files (zstd where the target has it, else gzip; big ones as their changed blocks), the delete list
and the new manifest. The target applies the stream only once it has arrived whole, then reports what
the paths it touched are now, which updates the remembered tree. No change costs one command; a change
costs the same command plus the stream.

copy_files (the other direction) lives in ops/copy_files.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
import time
from pathlib import Path

from mcp_bifrost.config import Limits
from mcp_bifrost.errors import TransferTooLarge, TypeConflict, UnsafePath
from mcp_bifrost.models import PushResult
from mcp_bifrost.ops.push import delta, filelist, tree_cache
from mcp_bifrost.ops.push.plan import Plan, make_plan
from mcp_bifrost.ops.push.remote_tree import RemoteState
from mcp_bifrost.ops.push.stream import Progress, PushSession, nul_list
from mcp_bifrost.ops.tarstream import settle
from mcp_bifrost.ops.workspace import (
    PUSH_STATE,
    WORKSPACES,
    reserved_for_push,
    workdir,
    workspace_dir,
    workspace_name,
)
from mcp_bifrost.targets.base import Target

LIST_CAP = 1000  # dry_run lists are cut here (counts stay exact)
LARGEST_SHOWN = 5

__all__ = ["Progress", "push"]


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
    cache_dir: Path | None = None,
) -> PushResult:
    """Send the changed files of `local_dir` to `remote_dir` (default: its workspace twin).
    `cache_dir` holds what this client remembers of each destination (default: the state dir)."""
    limits = limits or Limits()
    started = time.monotonic()
    root = filelist.local_root(local_dir)
    wd = await workdir(target)
    dest = await _destination(target, wd, root, remote_dir)
    state_dir = posixpath.join(wd, PUSH_STATE)
    manifest_path = manifest_for(state_dir, dest)

    # The local walk and the remote listing take about as long: run them side by side, unless
    # checksum mode must first know which files to hash.
    selecting = asyncio.ensure_future(asyncio.to_thread(filelist.select, root))
    hash_paths = None
    if checksum:
        hash_paths = sorted(p for p, e in (await selecting).entries.items() if e.kind == "f")
    cache_path = tree_cache.path_for(target.name, dest, cache_dir)
    remembered = tree_cache.load(cache_path)
    session = PushSession(target)
    try:
        remote = await session.open(
            wd,
            state_dir,
            dest,
            manifest_path,
            hash_paths,
            limits.push_lock_wait_s,
            remembered.token if remembered else "",
        )
    except BaseException:
        await settle(selecting)
        raise
    if remote.same and remembered is not None:  # the tree we remember: its listing did not travel
        remote = remembered.state(remote.real_dir, remote.hashes)
    try:
        selection = await selecting
        _check_destination(dest, remote.real_dir, wd)  # a symlink on the way may lead out
        local_hashes = await asyncio.to_thread(_local_hashes, selection, remote) if checksum else None
        plan = make_plan(selection, remote, delete=delete, local_hashes=local_hashes)
        _check_conflicts(plan, remote.real_dir)
        _check_caps(plan, limits)
    except BaseException:
        await session.abort()  # the command reads end-of-input instead of "go" and leaves everything
        raise
    patches: dict[str, delta.Patch] = {}
    if dry_run or plan.nothing_to_do:
        await session.stop()
        bytes_sent = 0
        if not remote.same:
            tree_cache.save(cache_path, tree_cache.from_listing(remote))
    else:
        try:
            patches = await _patches(session, selection.root, delta.candidates(plan, remote))
        except BaseException:
            await session.abort()
            raise
        bytes_sent = await session.send(selection.root, plan, progress, patches)
        manifest = nul_list(plan.manifest) if plan.manifest_changed else None
        tree_cache.save(cache_path, tree_cache.after_push(remote, plan.touched, session.restat, manifest))

    files = plan.files_to_send
    removed = plan.delete + [p + "/" for p in plan.rmdir]
    refused = selection.refused + [
        f"{p}: cannot be checked here (a folder on the way cannot be read); its copy on the target is kept"
        for p in plan.protected
        if not selection.is_unreadable(p)
    ]
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
        refused=refused,
        note=_note(plan, dry_run, refused, len(patches)),
    )


def manifest_for(state_dir: str, dest: str) -> str:
    """Where the target keeps the manifest of `dest` (the paths the last push made it hold)."""
    return posixpath.join(state_dir, "manifests", hashlib.sha256(dest.encode()).hexdigest()[:32])


async def _patches(
    session: PushSession, root: Path, candidates: list[filelist.LocalEntry]
) -> dict[str, delta.Patch]:
    """The changed blocks of big files: the target hashes its copies while we hash ours."""
    if not candidates:
        return {}
    hashing = asyncio.ensure_future(asyncio.to_thread(delta.local_blocks, root, candidates))
    try:
        theirs = await session.blocks(delta.request(candidates))
    except BaseException:
        await settle(hashing)
        raise
    return delta.make_patches(candidates, await hashing, theirs)


async def _destination(target: Target, wd: str, root: Path, remote_dir: str | None) -> str:
    """The absolute remote folder. Relative remote_dir: below <workdir>/workspaces (the app passes
    an absolute one, resolved by the workspace model's path rule)."""
    if remote_dir is None:
        dest = posixpath.normpath(await workspace_dir(target, workspace_name(str(root))))
    elif remote_dir.startswith("~"):
        raise UnsafePath(
            f"remote_dir {remote_dir!r}: give an absolute path inside the target's workdir {wd}, "
            f"or one relative to {wd}/{WORKSPACES}"
        )
    else:
        dest = posixpath.normpath(posixpath.join(wd, WORKSPACES, remote_dir))
    _check_destination(str(root) if remote_dir is None else remote_dir, dest, wd)
    return dest


def _check_destination(asked: str, dest: str, wd: str) -> None:
    if reserved_for_push(wd, dest):
        raise UnsafePath(
            f"remote_dir {asked!r} resolves to {dest}, which is outside the target's workdir {wd}, the workdir "
            f"itself, the folder that holds every workspace ({wd}/{WORKSPACES}), the jobs folder or "
            "mcp-bifrost's own state. A push writes (and deletes) only in a folder of its own inside the "
            "workdir: leave remote_dir out to use this workspace's twin, or name a subfolder of it."
        )


def _check_conflicts(plan: Plan, real_dir: str) -> None:
    if plan.conflicts:
        shown = "; ".join(plan.conflicts[:LARGEST_SHOWN])
        more = (
            f" and {len(plan.conflicts) - LARGEST_SHOWN} more" if len(plan.conflicts) > LARGEST_SHOWN else ""
        )
        raise TypeConflict(
            f"push refused, nothing was changed: {len(plan.conflicts)} path(s) are a file on one side and a "
            f"folder (or link) on the other in {real_dir}: {shown}{more}. Push never removes what it did not "
            "put there. Rename or remove one side (on the target with exec, e.g. `mv results results.old`), "
            "ignore the local path (.bifrostignore), or push to another remote_dir."
        )


def _local_hashes(selection: filelist.Selection, remote: RemoteState) -> dict[str, str]:
    """sha256 of the local files that could be unchanged (the target holds one of the same size)."""
    hashes = {}
    for entry in selection.entries.values():
        there = remote.entries.get(entry.path)
        if entry.kind == "f" and there is not None and there.kind == "f" and there.size == entry.size:
            digest = hashlib.sha256()
            with open(selection.root / entry.path, "rb") as f:  # hashlib.file_digest is 3.11+
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            hashes[entry.path] = digest.hexdigest()
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


def _note(plan: Plan, dry_run: bool, refused: list[str], by_delta: int = 0) -> str | None:
    parts = []
    if by_delta:
        parts.append(f"{by_delta} big file(s) sent as their changed blocks")
    if dry_run:
        parts.append("dry run: nothing was changed on the target")
    if refused:
        parts.append(f"{len(refused)} path(s) not pushed (see refused)")
    if plan.nothing_to_do and not dry_run:
        parts.append("already up to date")
    return "; ".join(parts) or None
