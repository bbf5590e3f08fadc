"""How push packs its stream: zstd where the target has it, else gzip at the level that pays per file
(stored where data does not shrink), and a plain tar where nearly all of a big stream is incompressible."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import IO, BinaryIO, cast

import zstandard

from mcp_bifrost.ops.push.delta import Patch
from mcp_bifrost.ops.push.plan import Plan
from mcp_bifrost.ops.tarstream import CHUNK_BYTES, QueueWriter

# Level 1 packs source text ~3.5x at five times the speed of level 6 (measured: 72 vs 14 MB/s).
COMPRESS_LEVEL = 1
# Data that does not shrink (weights, archives) is stored instead: zlib level 1 crawls over it
# (28 MB/s measured) for nothing. A file is judged by how well its first SAMPLE_BYTES pack.
SAMPLE_BYTES = 16384
SAMPLE_MIN_FILE = 65536  # smaller files are packed at COMPRESS_LEVEL without a test
INCOMPRESSIBLE_RATIO = 0.9
# A big stream that is nearly all incompressible (weights, archives) goes as a plain tar ("go raw"):
# no gzip framing and CRC here, no inflating process there. Judged by sampling the files of at least
# RAW_SAMPLE_MIN_FILE; text then travels unpacked, a few per cent of such a stream.
RAW_SHARE = 0.9
RAW_SAMPLE_MIN_FILE = 1 << 20


class LevelledGzip:
    """A gzip stream of several members, so that each file is packed at the level that pays.

    `gzip -d` (and so `tar -xz`) reads concatenated members as one stream (RFC 1952, 2.2). A new
    member starts only when the level changes, so runs of text share one dictionary.
    """

    def __init__(self, sink: QueueWriter) -> None:
        self._sink = sink
        self._member: gzip.GzipFile | None = None
        self._level: int | None = None

    def use_level(self, level: int) -> None:
        if level != self._level:
            if self._member is not None:
                self._member.close()  # writes the member's trailer; the sink stays open
            self._member = gzip.GzipFile(fileobj=self._sink, mode="wb", compresslevel=level, mtime=0)
            self._level = level

    def write(self, data: bytes) -> int:
        assert self._member is not None
        return self._member.write(data)

    def close(self) -> None:
        if self._member is not None:
            self._member.close()


def level_for(f: BinaryIO, size: int) -> int:
    """COMPRESS_LEVEL, or 0 (stored) for a file whose first bytes do not shrink."""
    if size < SAMPLE_MIN_FILE:
        return COMPRESS_LEVEL
    sample = f.read(SAMPLE_BYTES)
    f.seek(0)
    return (
        0
        if len(zlib.compress(sample, COMPRESS_LEVEL)) > INCOMPRESSIBLE_RATIO * len(sample)
        else COMPRESS_LEVEL
    )


def mostly_stored(root: Path, plan: Plan, patches: dict[str, Patch]) -> bool:
    """True when the files that sample as incompressible make RAW_SHARE of the stream."""
    stored = streamed = 0
    for entry in plan.files_to_send:
        patch = patches.get(entry.path)
        size = entry.size if patch is None else patch.literal_bytes()
        streamed += size
        if patch is None and size >= RAW_SAMPLE_MIN_FILE:
            try:
                with open(root / entry.path, "rb") as f:
                    stored += size if level_for(f, size) == 0 else 0
            except OSError:
                pass  # write_tar says what is wrong with it
    return stored >= RAW_SHARE * streamed


# zstd packs source text ~8x faster than zlib level 1 and smaller where many files look alike (its window
# spans files); incompressible data passes as raw blocks with no test per file. Measured on the 2-core box
# (bench_push.py's trees): 20,000 files / 150 MB in 0.10 s to 3.6 MB at level 3, 0.16 s to 12 MB at
# level 1 (zlib level 1: ~1 s to ~39 MB); the 2,000-file workspace (41 MB, half random) 0.077 s at
# level 3, 0.067 s at level 1. Level 3 is zstd's own default.
ZSTD_LEVEL = 3


class Zstd:
    """LevelledGzip's face over one zstd frame (the target's `zstd -d` unpacks it): no levels per file."""

    def __init__(self, sink: QueueWriter) -> None:
        self._writer = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(
            cast(IO[bytes], sink),  # it calls write and flush only
            closefd=False,
            write_return_read=True,
        )

    def use_level(self, level: int) -> None:
        pass

    def write(self, data: bytes) -> int:
        return self._writer.write(data)

    def close(self) -> None:
        self._writer.close()  # ends the frame; the sink stays open


class RawSink(QueueWriter):
    """The plain tar's sink: big writes (file data) go to the queue as they are, without a copy."""

    def write(self, data: bytes) -> int:
        if len(data) >= CHUNK_BYTES:
            self.flush()
            self._chunks.put(bytes(data))
            return len(data)
        return super().write(data)


class Plain:
    """LevelledGzip's face without the gzip: a plain tar."""

    def __init__(self, sink: QueueWriter) -> None:
        self.write = sink.write

    def use_level(self, level: int) -> None:
        pass

    def close(self) -> None:
        pass
