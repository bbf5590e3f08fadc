"""What a push must do: compare the local selection with the target's state. Pure; no I/O but lexists.

Rules:
- A file is unchanged when the target holds a regular file of the same size, exec bit and mtime
  (within MTIME_TOLERANCE_NS), or with checksum=true the same sha256. A symlink is unchanged when
  its target string is equal; a folder when one exists.
- Deleted are only paths the last push sent (the manifest) that are gone from the local disk, so
  outputs created on the target and files that are merely ignored now are left alone.
- A path whose type changed (file <-> folder <-> link) is removed first, whatever `delete` says.
- Nothing is removed below a symlink or outside the listing: every parent must be a real folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mcp_bifrost.ops.filelist import LocalEntry, Selection
from mcp_bifrost.ops.remote_tree import RemoteState

# The tar header carries mtime as decimal seconds (PAX); 1 ms absorbs rounding, no real edit is that close.
MTIME_TOLERANCE_NS = 1_000_000


@dataclass
class Plan:
    send: list[LocalEntry] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # rm -rf, in this order
    rmdir: list[str] = field(default_factory=list)  # gone folders, deepest first; kept if not empty
    unchanged: int = 0
    manifest: list[str] = field(default_factory=list)
    manifest_changed: bool = False

    @property
    def content_bytes(self) -> int:
        return sum(e.size for e in self.send)

    @property
    def files_to_send(self) -> list[LocalEntry]:
        return [e for e in self.send if e.kind != "d"]

    @property
    def nothing_to_do(self) -> bool:
        return not (self.send or self.delete or self.rmdir or self.manifest_changed)


def make_plan(
    selection: Selection,
    remote: RemoteState,
    *,
    delete: bool,
    local_hashes: dict[str, str] | None = None,
) -> Plan:
    plan = Plan()
    for path in sorted(selection.entries):
        entry = selection.entries[path]
        there = remote.entries.get(path)
        if there is not None and there.kind != entry.kind:
            plan.delete.append(path)
            there = None
        if there is None:
            plan.send.append(entry)
        elif _same(entry, there, remote.hashes, local_hashes):
            plan.unchanged += entry.kind != "d"
        else:
            plan.send.append(entry)

    removed = set(plan.delete)
    if delete:
        gone = sorted(p for p in remote.manifest
                      if p not in selection.entries and is_safe_relpath(p)
                      and not os.path.lexists(selection.root / p))
        for path in gone:
            there = remote.entries.get(path)
            if there is None or not _parents_are_folders(path, remote) or _below_any(path, removed):
                continue
            (plan.rmdir if there.kind == "d" else plan.delete).append(path)
        plan.rmdir.sort(reverse=True)  # "a/b" sorts after "a": children first

    kept = set(selection.entries)
    if not delete:
        kept |= {p for p in remote.manifest if p in remote.entries and is_safe_relpath(p)}
    plan.manifest = sorted(kept)
    plan.manifest_changed = kept != remote.manifest
    return plan


def _same(entry: LocalEntry, there, remote_hashes: dict[str, str], local_hashes: dict[str, str] | None) -> bool:
    if entry.kind == "d":
        return True
    if entry.kind == "l":
        return entry.link == there.link
    if entry.size != there.size or entry.executable != there.executable:
        return False
    if local_hashes is not None:
        return local_hashes.get(entry.path) is not None and local_hashes.get(entry.path) == remote_hashes.get(entry.path)
    return abs(entry.mtime_ns - there.mtime_ns) <= MTIME_TOLERANCE_NS


def _parents_are_folders(path: str, remote: RemoteState) -> bool:
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        parent = remote.entries.get("/".join(parts[:i]))
        if parent is None or parent.kind != "d":
            return False
    return True


def _below_any(path: str, roots: set[str]) -> bool:
    return any(path.startswith(r + "/") for r in roots)


def is_safe_relpath(path: str) -> bool:
    """A relative path that stays where it is put: no '', '.', '..' parts, not absolute."""
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..") for p in path.split("/"))
