"""What a push finds on the target, in one command: the real path, a listing, hashes, the manifest.

remote/push.sh prints it. One round trip whatever the tree size: `find -printf` lists every entry
with type, size, mtime, mode and link target (it does not follow symlinks, so nothing outside the tree is listed). With
checksum=true the same command hashes the candidate files named on stdin. The manifest is the list
of paths the last push made the target hold: only those may be deleted as "gone locally".
"""

from __future__ import annotations

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
    """The records push.sh prints, as a RemoteState. Written for 100,000 entries: one decode, one
    split, and the E records (seven fields each) taken seven at a time."""
    tokens = data.decode("utf-8", "surrogateescape").split("\0")  # os.fsdecode, once for all
    if tokens and tokens[-1] == "":
        tokens.pop()
    state = RemoteState(real_dir="")
    entries = state.entries
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok == "R":
            state.real_dir = tokens[i + 1]
            i += 2
        elif tok == "E":
            end = i
            while end < n and tokens[end] == "E":
                end += 7
            if end > n:
                raise ValueError("a listing record was cut short")
            fields = iter(tokens[i:end])
            for _, kind, size, mtime, mode, path, link in zip(*[fields] * 7):
                seconds, _, fraction = mtime.partition(".")
                entries[path] = RemoteEntry(
                    kind,
                    int(size),
                    int(seconds) * 1_000_000_000 + int(fraction[:9].ljust(9, "0")),
                    int(mode, 8),
                    link,
                )
            i = end
        elif tok == "H":
            end = tokens.index("M", i + 1) if "M" in tokens[i + 1 :] else n
            for record in tokens[i + 1 : end]:
                digest, _, path = record.partition("  ")
                state.hashes[path] = digest
            i = end
        elif tok == "M":
            state.manifest.update(tokens[i + 1 :])
            i = n
        else:
            raise ValueError(f"unexpected listing record {tok[:80]!r}")
    return state
