"""What the client remembers of a destination after a push, so that the next push need not list it.

Kept per destination (target name and folder) in the client's state dir, and in memory for the
life of the process. It holds the target's listing records and manifest as they were when the last
push ended, and their token (remote_tree.tree_token). The next push sends the token; the target
lists its tree as always and compares (push.sh): the same token means the same listing byte for
byte, so the remembered records stand in for the 1-2 MB a 20,000-file listing puts on the wire and
the time to parse it. Any difference (a file changed on the target, a push from another client, a
push that failed half way) changes the token, and the target sends its listing as before.

So the cache is never trusted, only checked: a corrupt or truncated file is one that fails its own
sha256 and is ignored, and a file that says the wrong thing about the target is one whose token
the target does not find.

After a push that changed the target, push.sh prints the records of the paths it wrote or deleted
(a `find` of those paths, not of the tree); the cache takes them in and computes the new token.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mcp_bifrost.config import default_state_dir
from mcp_bifrost.ops.push.remote_tree import RemoteEntry, RemoteState, parse_records, tree_token

log = logging.getLogger(__name__)

MAGIC = b"bifrost-push-tree 1\n"
FOLDER = "push-trees"


@dataclass
class TreeCache:
    token: str
    entries: dict[str, RemoteEntry]
    records: dict[str, str]
    manifest_raw: bytes

    def state(self, real_dir: str, hashes: dict[str, str]) -> RemoteState:
        """The remembered tree as a listing the plan reads (the target said it is unchanged)."""
        return RemoteState(
            real_dir,
            self.entries,
            hashes,
            set(_names(self.manifest_raw)),
            self.token,
            same=True,
            records=self.records,
            manifest_raw=self.manifest_raw,
        )


def from_listing(remote: RemoteState) -> TreeCache | None:
    """What to remember of a listing the target sent in full (None when it carried no token)."""
    if not remote.token or remote.same:
        return None
    return TreeCache(remote.token, remote.entries, remote.records, remote.manifest_raw)


def after_push(
    before: RemoteState, touched: list[str], restat: bytes | None, manifest_raw: bytes | None
) -> TreeCache | None:
    """The tree after a push: `before`, with the records push.sh printed for the `touched` paths
    (a touched path with no record is gone) and the manifest it wrote. None when the target printed
    no restat (an older script, a cut-off stream): the next push lists in full."""
    if restat is None:
        return None
    parsed = _records(restat)
    if parsed is None:
        return None
    now, now_records = parsed
    entries, records = dict(before.entries), dict(before.records)
    gone_folders = set()
    for path in touched:
        entries.pop(path, None)
        records.pop(path, None)
        was = before.entries.get(path)
        if path not in now and was is not None and was.kind == "d":
            gone_folders.add(path)
    if gone_folders:  # a folder removed: whatever was below it went too
        for below in [p for p in records if any(a in gone_folders for a in _ancestors(p))]:
            entries.pop(below, None)
            records.pop(below, None)
    entries.update(now)
    records.update(now_records)
    manifest = before.manifest_raw if manifest_raw is None else manifest_raw
    return TreeCache(tree_token(records, manifest), entries, records, manifest)


def path_for(target_name: str, dest: str, state_dir: Path | None = None) -> Path:
    key = hashlib.sha256(f"{target_name}\0{dest}".encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return (state_dir or default_state_dir()) / FOLDER / key


_memory: dict[Path, tuple[tuple[int, int, int], TreeCache]] = {}
_swept: set[Path] = set()  # folders swept by this process
FORGET_AFTER_S = 30 * 86400  # a destination not pushed to for 30 days is forgotten


def _sweep(folder: Path) -> None:
    """Once per process and folder: drop what was not written for FORGET_AFTER_S (every test's and
    every old workspace's destination would otherwise stay), and temporary files a kill left."""
    if folder in _swept:
        return
    _swept.add(folder)
    cutoff = time.time() - FORGET_AFTER_S
    try:
        with os.scandir(folder) as found:
            for entry in found:
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                except OSError:
                    pass
    except OSError:
        pass


def load(path: Path) -> TreeCache | None:
    """The cache at `path`, or None when there is none or it fails its own check."""
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    held = _memory.get(path)
    if held is not None and held[0] == stamp:
        return held[1]
    try:
        data = path.read_bytes()
        cache = _decode(data)
    except (OSError, ValueError, UnicodeDecodeError, IndexError) as exc:
        log.info("push: the remembered tree %s is unreadable (%s); the target lists in full", path, exc)
        return None
    _memory[path] = (stamp, cache)
    return cache


def save(path: Path, cache: TreeCache | None) -> None:
    """Write (or, with None, forget) the cache; atomically, private to this user. A failure to write
    only costs the next push a full listing."""
    try:
        if cache is None:
            _memory.pop(path, None)
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _sweep(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_encode(cache))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        st = path.stat()
        _memory[path] = ((st.st_ino, st.st_size, st.st_mtime_ns), cache)
    except OSError as exc:
        log.warning("push: could not remember the target's tree in %s: %s", path, exc)


def _encode(cache: TreeCache) -> bytes:
    body = b"%s\n%d\n" % (cache.token.encode(), len(cache.manifest_raw))
    body += cache.manifest_raw + "".join(cache.records.values()).encode("utf-8", "surrogateescape")
    return MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def _decode(data: bytes) -> TreeCache:
    if not data.startswith(MAGIC):
        raise ValueError("not a push tree file")
    digest, _, body = data[len(MAGIC) :].partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode() != digest:
        raise ValueError("its sha256 does not match (corrupt or cut short)")
    token, _, rest = body.partition(b"\n")
    length, _, rest = rest.partition(b"\n")
    manifest_raw, listing = rest[: int(length)], rest[int(length) :]
    parsed = _records(listing)
    if parsed is None:
        raise ValueError("a record is malformed")
    return TreeCache(token.decode(), *parsed, manifest_raw)


def _records(raw: bytes) -> tuple[dict[str, RemoteEntry], dict[str, str]] | None:
    """Entries and raw records of NUL-separated listing records (push.sh's format); None if malformed."""
    tokens = raw.decode("utf-8", "surrogateescape").split("\0")
    if tokens and tokens[-1] == "":
        tokens.pop()
    entries: dict[str, RemoteEntry] = {}
    records: dict[str, str] = {}
    if parse_records(tokens, 0, entries, records) != len(tokens):
        return None
    return entries, records


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _names(raw: bytes) -> list[str]:
    return [p for p in raw.decode("utf-8", "surrogateescape").split("\0") if p]
