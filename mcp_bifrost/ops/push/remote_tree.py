"""What a push finds on the target, in one command: the real path, a listing, hashes, the manifest.

remote/push.sh prints it. One round trip whatever the tree size: `find -printf` lists every entry
with type, size, mtime, mode and link target (it does not follow symlinks, so nothing outside the tree is listed). With
checksum=true the same command hashes the candidate files named on stdin. The manifest is the list
of paths the last push made the target hold: only those may be deleted as "gone locally".
"""

from __future__ import annotations

import os
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


def parse_listing(data: bytes) -> RemoteState:
    tokens = data.split(b"\0")
    if tokens and tokens[-1] == b"":
        tokens.pop()
    state = RemoteState(real_dir="")
    i = 0
    section = b""
    while i < len(tokens):
        tok = tokens[i]
        if section == b"M":
            state.manifest.add(os.fsdecode(tok))
            i += 1
        elif tok == b"R":
            state.real_dir = os.fsdecode(tokens[i + 1])
            i += 2
        elif tok == b"E":
            kind, size, mtime, mode, path, link = tokens[i + 1:i + 7]
            state.entries[os.fsdecode(path)] = RemoteEntry(
                kind.decode(), int(size), _mtime_ns(mtime), int(mode, 8), os.fsdecode(link)
            )
            i += 7
        elif tok in (b"H", b"M"):
            section = tok
            i += 1
        elif section == b"H":
            digest, _, path = tok.partition(b"  ")
            state.hashes[os.fsdecode(path)] = digest.decode()
            i += 1
        else:
            raise ValueError(f"unexpected listing record {tok[:80]!r}")
    return state


def _mtime_ns(text: bytes) -> int:
    """find's %T@ ('1700000000.1234567890') as integer nanoseconds, without float rounding."""
    seconds, _, fraction = text.partition(b".")
    return int(seconds) * 1_000_000_000 + int((fraction + b"000000000")[:9])
