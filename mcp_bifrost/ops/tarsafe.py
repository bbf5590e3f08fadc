"""Extract an untrusted tar safely on every Python the client supports (3.10+).

tarfile's 'data' extraction filter arrived in 3.11.4 (and 3.10.12); Debian 12 ships 3.11.2 and
Ubuntu 22.04 3.10.x without it. Where the filter exists we use it; elsewhere `data_filter` below
applies the same rules itself: no absolute names, no '..', no links that leave the folder, no
devices or FIFOs, no set-uid bits, owner set to us.
"""

from __future__ import annotations

import copy
import os
import tarfile
from collections.abc import Callable

HAS_STDLIB_FILTER = hasattr(tarfile, "data_filter")
FilterError: type[Exception] = getattr(tarfile, "FilterError", None) or type(
    "FilterError", (tarfile.TarError,), {}
)

MemberFilter = Callable[[tarfile.TarInfo, str], "tarfile.TarInfo | None"]


def _within(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


def _own_data_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """The 'data' filter's rules, for Pythons without it."""
    name = member.name
    if name.startswith(("/", os.sep)) or os.path.isabs(name):
        raise FilterError(f"{name!r} is an absolute path")
    root = os.path.realpath(dest)
    target = os.path.realpath(os.path.join(root, name))
    if not _within(root, target):
        raise FilterError(f"{name!r} would be written outside the folder")
    if (
        member.ischr()
        or member.isblk()
        or member.isfifo()
        or not (member.isfile() or member.isdir() or member.issym() or member.islnk())
    ):
        raise FilterError(f"{name!r} is a special file")
    if member.issym() or member.islnk():
        link = member.linkname
        if os.path.isabs(link):
            raise FilterError(f"{name!r} links to the absolute path {link!r}")
        base = os.path.dirname(target) if member.issym() else root
        if not _within(root, os.path.realpath(os.path.join(base, link))):
            raise FilterError(f"{name!r} links outside the folder ({link!r})")
    member = copy.copy(member)
    member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
    if member.isfile() or member.islnk():
        member.mode = (member.mode & 0o755) | 0o600
    elif member.isdir():
        member.mode = (member.mode & 0o755) | 0o700
    return member


def data_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """tarfile.data_filter where it exists, else the same checks; raises FilterError."""
    if HAS_STDLIB_FILTER:
        return tarfile.data_filter(member, dest)
    return _own_data_filter(member, dest)


def extract_all(tar: tarfile.TarFile, dest: str | os.PathLike, member_filter: MemberFilter) -> None:
    """`tar.extractall(dest, filter=member_filter)`, also where extractall has no `filter`."""
    if HAS_STDLIB_FILTER:
        tar.extractall(dest, filter=member_filter)
        return
    dest = os.fspath(dest)
    for member in tar:  # works on streams (mode "r|"): members come in order
        kept = member_filter(member, dest)
        if kept is not None:
            tar.extract(kept, dest, set_attrs=not kept.issym())
