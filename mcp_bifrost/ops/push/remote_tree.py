"""What a push finds on the target, in one command: the real path, a listing, hashes, the manifest.

remote/push.sh prints it. One round trip whatever the tree size: `find -printf` lists every entry
with type, size, mtime, mode and link target (it does not follow symlinks, so nothing outside the tree is listed). With
checksum=true the same command hashes the candidate files named on stdin. The manifest is the list
of paths the last push made the target hold: only those may be deleted as "gone locally".

The target also prints a token of what it found (T): the sha256 of its listing's lines, sorted, and
of its manifest. A client that remembers a listing (ops/push/tree_cache.py) sends its token; when the
target finds the same, it prints S instead of the listing and the manifest: 20,000 entries then
cost the target its `find` and nothing on the wire.

A listing record is "\\n" type NUL size NUL mtime NUL mode NUL path NUL link NUL (folders carry no
size, mtime or mode: the first two change with what a folder holds, the mode with a push that
places a file in it (cp -a copies the staging folder's), and no plan reads them). The leading newline
makes each record a line for `sort`, which is what lets both sides compute the same token whatever
order `find` walked in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NamedTuple


class RemoteEntry(NamedTuple):  # a NamedTuple: one per remote file, made cheaply
    kind: str  # find's %y: f, l, d, or another letter for special files
    size: int
    mtime_ns: int
    mode: int
    link: str

    @property
    def executable(self) -> bool:
        return bool(self.mode & 0o100)


@dataclass
class RemoteState:
    real_dir: str
    entries: dict[str, RemoteEntry] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    manifest: set[str] = field(default_factory=set)
    token: str = ""  # the target's token of its listing and manifest (T or S record)
    same: bool = False  # S: the target found the tree the client's token names; entries are empty
    records: dict[str, str] = field(default_factory=dict)  # path -> the record as printed (for the cache)
    manifest_raw: bytes = b""  # the manifest file as it is on the target (for the cache)
    tools: set[str] = field(default_factory=set)  # C records: what the target can unpack a stream with


FIELDS = 6  # type, size, mtime, mode, path, link


def parse_records(tokens: list[str], i: int, entries: dict[str, RemoteEntry], records: dict[str, str]) -> int:
    """The records starting at tokens[i] into `entries` (and their text into `records`); returns the
    index after the last. A path given as './x' (find's %p, in the post-push restat) is stored as 'x'."""
    n = len(tokens)
    while i < n and tokens[i][:1] == "\n":
        if i + FIELDS > n:
            raise ValueError("a listing record was cut short")
        kind, size, mtime, mode, path, link = tokens[i : i + FIELDS]
        if path.startswith("./"):
            path = path[2:]
        seconds, _, fraction = mtime.partition(".")
        entries[path] = RemoteEntry(
            kind[1:],
            int(size or 0),
            int(seconds or 0) * 1_000_000_000 + int(fraction[:9].ljust(9, "0")),
            int(mode or "0", 8),
            link,
        )
        records[path] = "\0".join((kind, size, mtime, mode, path, link)) + "\0"
        i += FIELDS
    return i


def parse_listing(data: bytes) -> RemoteState:
    """The records push.sh prints, as a RemoteState. Written for 100,000 entries: one decode, one split."""
    tokens = data.decode("utf-8", "surrogateescape").split("\0")  # os.fsdecode, once for all
    if tokens and tokens[-1] == "":
        tokens.pop()
    state = RemoteState(real_dir="")
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok == "R":
            state.real_dir = tokens[i + 1]
            i += 2
        elif tok == "C":
            state.tools.add(tokens[i + 1])
            i += 2
        elif tok in ("T", "S"):
            state.token, state.same = tokens[i + 1], tok == "S"
            i += 2
        elif tok == "L":
            i = parse_records(tokens, i + 1, state.entries, state.records)
        elif tok == "H":
            end = tokens.index("M", i + 1) if "M" in tokens[i + 1 :] else n
            for record in tokens[i + 1 : end]:
                digest, _, path = record.partition("  ")
                state.hashes[path] = digest
            i = end
        elif tok == "M":
            names = tokens[i + 1 :]
            state.manifest.update(names)
            state.manifest_raw = "".join(p + "\0" for p in names).encode("utf-8", "surrogateescape")
            i = n
        else:
            raise ValueError(f"unexpected listing record {tok[:80]!r}")
    return state


def tree_token(records: dict[str, str], manifest_raw: bytes) -> str:
    """What push.sh computes of a tree: `sort | sha256sum` of its listing, ':', sha256 of its manifest.

    LC_ALL=C sort orders lines as bytes, as python does; every record starts a line, so the order
    `find` walked in does not matter (a name holding a newline splits its record the same way here)."""
    data = "".join(records.values()).encode("utf-8", "surrogateescape")
    lines = sorted(data.split(b"\n")) if data else []
    listing = b"".join(line + b"\n" for line in lines)
    return hashlib.sha256(listing).hexdigest() + ":" + hashlib.sha256(manifest_raw).hexdigest()
