"""What a push must do: compare the local selection with the target's state. Pure; no I/O but lstat.

Rules:
- A file is unchanged when the target holds a regular file of the same size, exec bit and mtime
  (within MTIME_TOLERANCE_NS), or with checksum=true the same sha256. A symlink is unchanged when
  its target string is equal; a folder when one exists.
- Deleted are only paths the last push sent (the manifest) that are gone from the local disk, so
  outputs created on the target and files that are merely ignored now are left alone.
- A path whose type differs (file <-> folder <-> link) is replaced only when push made the target's
  copy (it is in the manifest) and, for a folder, push made everything in it and `delete` is on.
  Otherwise it is a conflict: the push is refused, never resolved by removing the target's folder.
- Files are removed one by one (never rm -r); folders by rmdir, which keeps any that hold more.
- A manifest path that is not in the selection but cannot be checked here (it, or a folder on the
  way, is unreadable) is kept on the target and stays in the manifest.
- Nothing is removed below a symlink or outside the listing: every parent must be a real folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mcp_bifrost.ops.push.filelist import LocalEntry, Selection
from mcp_bifrost.ops.push.remote_tree import RemoteState

# The tar header carries mtime as decimal seconds (PAX); 1 ms absorbs rounding, no real edit is that close.
MTIME_TOLERANCE_NS = 1_000_000


@dataclass
class Plan:
    send: list[LocalEntry] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # files and links, removed with rm -f (never -r)
    rmdir: list[str] = field(default_factory=list)  # gone folders, deepest first; kept if not empty
    unchanged: int = 0
    manifest: list[str] = field(default_factory=list)
    manifest_changed: bool = False
    conflicts: list[str] = field(default_factory=list)  # "path (why)": the push must be refused
    protected: list[str] = field(default_factory=list)  # kept on the target: local side unreadable

    @property
    def content_bytes(self) -> int:
        return sum(e.size for e in self.send)

    @property
    def files_to_send(self) -> list[LocalEntry]:
        return [e for e in self.send if e.kind != "d"]

    @property
    def touched(self) -> list[str]:
        """Every path the target writes or removes: what it reports back after the push (tree_cache)."""
        return [e.path for e in self.send] + self.delete + self.rmdir

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
    replaced: set[str] = set()
    conflicted: set[str] = set()  # the push is refused; nothing below these is planned either
    remote_entries = remote.entries
    for path in sorted(selection.entries):
        entry = selection.entries[path]
        there = remote_entries.get(path)
        if (
            there is not None
            and local_hashes is None
            and entry.kind == "f" == there.kind
            and entry.size == there.size
            and entry.mode is not None
            and entry.mode == there.mode & 0o777
            and -MTIME_TOLERANCE_NS <= entry.mtime_ns - there.mtime_ns <= MTIME_TOLERANCE_NS
            and not (replaced and _below_any(path, replaced))
        ):
            plan.unchanged += 1  # the usual file, as _same decides it, without the calls (20,000 a push)
            continue
        if replaced and _below_any(path, replaced):
            there = None  # its remote parent was a file or link that this push replaces
        if there is not None and there.kind != entry.kind:
            why = _conflict(path, entry, there, remote, delete)
            if why:
                plan.conflicts.append(why)
                conflicted.add(path)
                continue
            _replace(path, there, remote, plan)
            replaced.add(path)
            there = None
        if there is None:
            plan.send.append(entry)
        elif _same(entry, there, remote.hashes, local_hashes):
            plan.unchanged += entry.kind != "d"
        else:
            plan.send.append(entry)

    kept = set(selection.entries)
    for path in sorted(remote.manifest - kept):
        if not is_safe_relpath(path) or path not in remote.entries:
            continue
        state = "unknown" if selection.is_unreadable(path) else _local_state(selection.root / path)
        if state == "unknown":
            plan.protected.append(path)
            kept.add(path)
            continue
        if state == "present" or not delete:  # merely ignored now, or delete=false: left alone
            if not delete:
                kept.add(path)
            continue
        there = remote.entries[path]
        if (
            not _parents_are_folders(path, remote)
            or path in replaced
            or _below_any(path, replaced)
            or _below_any(path, conflicted)
        ):
            continue
        (plan.rmdir if there.kind == "d" else plan.delete).append(path)
    plan.rmdir = sorted(set(plan.rmdir), reverse=True)  # "a/b" sorts after "a": children first
    plan.manifest = sorted(kept)
    plan.manifest_changed = kept != remote.manifest
    return plan


def _conflict(path: str, entry: LocalEntry, there, remote: RemoteState, delete: bool) -> str | None:
    """Why the target's `path` may not be replaced by the local entry of another type; None if it may."""
    here, on_target = (
        _KIND_WORDS.get(entry.kind, "file"),
        _KIND_WORDS.get(there.kind, f"'{there.kind}' entry"),
    )
    if path not in remote.manifest:
        return f"{path} ({here} here, {on_target} on the target that push did not make)"
    if there.kind != "d":
        return None
    foreign = [p for p in _below(path, remote) if p not in remote.manifest]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        return f"{path} ({here} here, folder on the target holding files push did not make: {shown})"
    if not delete:
        return f"{path} ({here} here, folder on the target; replacing it needs delete=true)"
    return None


def _replace(path: str, there, remote: RemoteState, plan: Plan) -> None:
    """Remove the target's `path` (push made it all) before the new entry arrives."""
    if there.kind != "d":
        plan.delete.append(path)
        return
    for below in _below(path, remote):
        (plan.rmdir if remote.entries[below].kind == "d" else plan.delete).append(below)
    plan.rmdir.append(path)


_KIND_WORDS = {"f": "file", "d": "folder", "l": "symlink"}


def _below(path: str, remote: RemoteState) -> list[str]:
    prefix = path + "/"
    return sorted(p for p in remote.entries if p.startswith(prefix))


def _local_state(path: os.PathLike[str]) -> str:
    """'gone', 'present', or 'unknown' when the local disk will not say (a folder we may not enter)."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "gone"
    except OSError:
        return "unknown"
    return "present"


def _same(
    entry: LocalEntry, there, remote_hashes: dict[str, str], local_hashes: dict[str, str] | None
) -> bool:
    if entry.kind == "d":
        return True
    if entry.kind == "l":
        return entry.link == there.link
    if entry.size != there.size or entry.executable != there.executable:
        return False
    if entry.mode is not None and there.mode & 0o777 != entry.mode:
        return False  # a chmod travels too (the file is sent again)
    if local_hashes is not None:
        return local_hashes.get(entry.path) is not None and local_hashes.get(entry.path) == remote_hashes.get(
            entry.path
        )
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
