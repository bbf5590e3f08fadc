"""ops/push/paxwrite.py: what it writes, GNU tar (the target's) and python's tarfile read back
exactly: names long, unicode and not utf-8, links, folders, modes, nanosecond mtimes."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from mcp_bifrost.ops.push.paxwrite import DIRECTORY, REGULAR, SYMLINK, PaxWriter

LONG = "d" * 60 + "/" + "e" * 70 + "/file.txt"  # over ustar's 100 bytes
NAMES = ["a.txt", LONG, "ünï çødé/名前 with spaces.txt", "bad-\udcff-name.bin", "sp ace/x\ny.txt"]
MTIME = 1_700_000_000_123_456_789


def _archive(members: list[tuple[str, bytes, bytes, int, str]]) -> bytes:
    out = io.BytesIO()
    tar = PaxWriter(out)
    for name, kind, data, mode, link in members:
        tar.add(name, kind, size=len(data), mtime_ns=MTIME, mode=mode, link=link, data=io.BytesIO(data))
    tar.close()
    return out.getvalue()


MEMBERS = [
    ("top", DIRECTORY, b"", 0o755, ""),
    *[(n, REGULAR, n.encode("utf-8", "surrogateescape") * 100, 0o640, "") for n in NAMES],
    ("empty.txt", REGULAR, b"", 0o600, ""),
    ("link", SYMLINK, b"", 0o777, "ünï çødé/名前 with spaces.txt"),
    ("long-link", SYMLINK, b"", 0o777, LONG),
]


def test_gnu_tar_extracts_every_member_as_it_was_written(tmp_path):
    data = _archive(MEMBERS)
    assert len(data) % 10240 == 0
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xpf", "-", "-C", str(out), "--no-same-owner"], input=data, check=True)
    for name, kind, content, mode, link in MEMBERS:
        path = Path(os.fsencode(out / name).decode("utf-8", "surrogateescape"))
        st = os.lstat(path)
        if kind == REGULAR:
            assert path.read_bytes() == content and st.st_mode & 0o777 == mode
            assert st.st_mtime_ns == MTIME
        elif kind == SYMLINK:
            assert os.readlink(path) == link
        else:
            assert path.is_dir()


def test_pythons_tarfile_reads_the_same_names_sizes_and_times():
    with tarfile.open(fileobj=io.BytesIO(_archive(MEMBERS)), mode="r:") as tar:
        got = {m.name: (m.size, m.mode, m.linkname, m.mtime) for m in tar.getmembers()}
    for name, _kind, content, mode, link in MEMBERS:
        size, got_mode, got_link, mtime = got[name]
        assert (size, got_mode, got_link) == (len(content), mode, link)
        assert mtime == pytest.approx(MTIME / 1e9, abs=1e-6)


def test_a_file_that_ends_before_its_size_is_an_error_not_a_short_member():
    tar = PaxWriter(io.BytesIO())
    with pytest.raises(OSError, match="unexpected end of data"):
        tar.add("shrunk.bin", REGULAR, size=10, data=io.BytesIO(b"12345"))
