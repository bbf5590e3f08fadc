"""ops/push/delta.py: which blocks travel, and when a big file goes whole instead. Pure; no target."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mcp_bifrost.ops.push import delta
from mcp_bifrost.ops.push.filelist import LocalEntry

BLOCK = delta.BLOCK_BYTES


def _entry(root: Path, data: bytes) -> LocalEntry:
    (root / "big.bin").write_bytes(data)
    return LocalEntry("big.bin", "f", len(data))


def _theirs(data: bytes) -> dict[str, tuple[int, list[str]]]:
    """What remote/push_helper.py's `hashes` answers for a copy holding `data`."""
    return {
        "big.bin": (
            BLOCK,
            [hashlib.sha256(data[i : i + BLOCK]).hexdigest() for i in range(0, len(data), BLOCK)],
        )
    }


def test_an_append_sends_the_last_old_block_and_the_new_ones(tmp_path):
    old = os.urandom(40 * BLOCK + 100)
    entry = _entry(tmp_path, old + os.urandom(BLOCK))
    patch = delta.make_patches([entry], delta.local_blocks(tmp_path, [entry]), _theirs(old))["big.bin"]
    assert patch.literal == [40, 41]  # the old partial block grew; one more block follows
    new = (tmp_path / "big.bin").read_bytes()
    assert patch.hashes == [hashlib.sha256(new[i : i + BLOCK]).hexdigest() for i in range(0, len(new), BLOCK)]


def test_an_edit_in_place_sends_the_blocks_it_touches(tmp_path):
    old = os.urandom(40 * BLOCK)
    new = bytearray(old)
    new[10 * BLOCK + 5 : 11 * BLOCK + 5] = os.urandom(BLOCK)
    entry = _entry(tmp_path, bytes(new))
    patch = delta.make_patches([entry], delta.local_blocks(tmp_path, [entry]), _theirs(old))["big.bin"]
    assert patch.literal == [10, 11] and patch.literal_bytes() == 2 * BLOCK


def test_a_file_mostly_rewritten_goes_whole(tmp_path):
    old = os.urandom(40 * BLOCK)
    entry = _entry(tmp_path, os.urandom(40 * BLOCK))
    assert delta.make_patches([entry], delta.local_blocks(tmp_path, [entry]), _theirs(old)) == {}


def test_block_hashes_of_another_block_size_are_not_used(tmp_path):
    old = os.urandom(40 * BLOCK)
    entry = _entry(tmp_path, old)
    block, hashes = _theirs(old)["big.bin"]
    assert (
        delta.make_patches([entry], delta.local_blocks(tmp_path, [entry]), {"big.bin": (block * 2, hashes)})
        == {}
    )


def test_blocks_grow_so_that_a_huge_file_has_at_most_max_blocks():
    assert delta.block_size(delta.DELTA_MIN_BYTES) == BLOCK
    huge = 64 << 30
    assert -(-huge // delta.block_size(huge)) <= delta.MAX_BLOCKS


def test_the_targets_answer_is_parsed_per_path():
    data = b"K\0B\0a b/c.bin\0" + str(BLOCK).encode() + b"\0" + b"ab" * 64 + b"\0"
    assert delta.parse_blocks(data) == {"a b/c.bin": (BLOCK, ["ab" * 32, "ab" * 32])}
    assert delta.parse_blocks(b"K\0") == {}
