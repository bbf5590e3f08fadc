"""The tar safety rules hold on Pythons without tarfile's 'data' filter (3.10, Debian's 3.11.2)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from mcp_bifrost.ops import tarsafe


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    buf.seek(0)
    return buf


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info


@pytest.mark.parametrize(
    "member",
    [
        _info("/etc/evil"),
        _info("../evil"),
        _info("a/../../evil"),
        _info("up", tarfile.SYMTYPE, "../../outside"),
        _info("abs", tarfile.SYMTYPE, "/etc/passwd"),
        _info("hard", tarfile.LNKTYPE, "../outside"),
        _info("dev", tarfile.CHRTYPE),
        _info("fifo", tarfile.FIFOTYPE),
    ],
    ids=lambda m: m.name,
)
def test_our_filter_refuses_what_leaves_the_folder_or_is_special(member, tmp_path):
    with pytest.raises(tarsafe.FilterError):
        tarsafe._own_data_filter(member, str(tmp_path))


def test_our_filter_keeps_plain_files_and_inner_links_and_drops_setuid(tmp_path):
    kept = tarsafe._own_data_filter(_info("a/b.txt", mode=0o4777), str(tmp_path))
    assert kept.mode == 0o755 and kept.uid != 12345
    assert tarsafe._own_data_filter(_info("a/l", tarfile.SYMTYPE, "b.txt"), str(tmp_path)).issym()


def test_extract_all_without_the_stdlib_filter_writes_only_the_safe_members(tmp_path, monkeypatch):
    monkeypatch.setattr(tarsafe, "HAS_STDLIB_FILTER", False)
    skipped: list[str] = []

    def keep(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        try:
            return tarsafe.data_filter(member, dest)
        except tarsafe.FilterError:
            skipped.append(member.name)
            return None

    stream = _tar(
        [
            (_info("ok/f.txt"), b"hello"),
            (_info("../escape.txt"), b"x"),
            (_info("ok/link", tarfile.SYMTYPE, "f.txt"), b""),
        ]
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        tarsafe.extract_all(tar, dest, keep)
    assert (dest / "ok" / "f.txt").read_text() == "hello"
    assert (dest / "ok" / "link").is_symlink()
    assert skipped == ["../escape.txt"] and not (tmp_path / "escape.txt").exists()
    assert not Path(tmp_path / "escape.txt").exists()
