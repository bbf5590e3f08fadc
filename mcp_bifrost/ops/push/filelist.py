"""Which local files a push sends: the working tree as git sees it, minus .bifrostignore.

Inside git: tracked plus untracked-not-ignored files (`git ls-files --cached --others
--exclude-standard`), so uncommitted edits go and build outputs do not. Outside git: a walk that
honours every .gitignore on the way down (pathspec). `.bifrostignore` at the root adds patterns in
either case. `.git` never goes. Symlinks go as links only when they stay inside the workspace.
A file or folder that cannot be read here is named in `refused` and in `unreadable`, so that push
keeps (never deletes) its copy on the target.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import pathspec

from mcp_bifrost.errors import TransferError

BIFROSTIGNORE = ".bifrostignore"
GITIGNORE = ".gitignore"

Kind = Literal["f", "l", "d"]  # the letters `find -printf %y` uses


class LocalEntry(NamedTuple):  # a NamedTuple: thousands are made per push, and cheaply
    path: str  # relative, '/'-separated
    kind: Kind
    size: int = 0
    mtime_ns: int = 0
    executable: bool = False
    link: str | None = None  # symlink target as it will be written on the target
    mode: int | None = None  # a file's permission bits, kept on the target (a 0600 file stays 0600)


@dataclass
class Selection:
    root: Path
    entries: dict[str, LocalEntry] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # "path: reason"
    source: Literal["git", "walk"] = "walk"
    unreadable: set[str] = field(default_factory=set)  # files and folders we could not read

    def is_unreadable(self, path: str) -> bool:
        """True for an unreadable path or anything below an unreadable folder."""
        return any(path == u or path.startswith(u + "/") for u in self.unreadable)


def local_root(local_dir: str | os.PathLike[str]) -> Path:
    """The folder to push, resolved; TransferError when there is none."""
    root = Path(local_dir).expanduser().resolve()
    if not root.is_dir():
        raise TransferError(f"local folder {local_dir} does not exist or is not a folder")
    return root


def select(local_dir: str | os.PathLike[str], *, use_git: bool = True) -> Selection:
    """The files, symlinks and directories a push of `local_dir` makes the target hold.

    git runs only on the workspace's own repository (use_git), never inside a nested one: a nested
    folder may have been fetched from a target, and git would run commands its config names
    (core.fsmonitor). Nested repositories and submodules are walked, honouring their .gitignore files.
    """
    root = local_root(local_dir)
    selection = Selection(root)
    paths, dirs, closed = _git_paths(root) if use_git else (None, [], [])
    stats: dict[str, os.stat_result] = {}
    if paths is None:
        paths, dirs, closed, stats = _walk(root)
    else:
        selection.source = "git"
    extra = _ignore_spec(root / BIFROSTIGNORE)
    for rel, reason in closed:
        if not (extra and extra.match_file(rel + "/")):
            _refuse_unreadable(selection, rel, reason, folder=True)
    entries = selection.entries
    for rel in paths:
        if _never_sent(rel) or (extra and extra.match_file(rel)):
            continue
        st = stats.get(rel)
        if st is not None and stat.S_ISREG(st.st_mode) and st.st_uid == _EUID and st.st_mode & stat.S_IRUSR:
            # the usual file (ours, readable, already lstat'ed): _add's work inline, 20,000 times a push
            mode = st.st_mode
            entries[rel] = LocalEntry(
                rel, "f", st.st_size, st.st_mtime_ns, bool(mode & stat.S_IXUSR), None, mode & 0o777
            )
            parent = rel.rpartition("/")[0]
            if parent and parent not in entries:
                _add_dir(selection, parent)
        else:
            _add(selection, rel, st)
    for rel in dirs:
        if not _never_sent(rel) and not (extra and extra.match_file(rel + "/")):
            _add_dir(selection, rel)
    return selection


COPY_STAGING_PREFIX = ".bifrost-copy-"  # copy_files' staging folders (ops/copy_files.py): transient


def _never_sent(rel: str) -> bool:
    if ".git" not in rel and COPY_STAGING_PREFIX not in rel:
        return False  # nearly every path: no split (20,000 files a push)
    return any(part == ".git" or part.startswith(COPY_STAGING_PREFIX) for part in rel.split("/"))


def _add(selection: Selection, rel: str, st: os.stat_result | None = None) -> None:
    """Add `rel`, lstat'ed here unless the walk already did (`st`)."""
    full = f"{selection.root}/{rel}"  # str paths: pathlib (and os.path.join) cost more than the lstat here
    if st is None:
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            return  # tracked but deleted in the working tree: it is gone locally
        except OSError as exc:  # a folder on the way that we may not enter
            _refuse_unreadable(selection, rel, exc.strerror or str(exc), folder=False)
            return
    if stat.S_ISREG(st.st_mode) and not _readable(full, st):
        _refuse_unreadable(selection, rel, "permission denied", folder=False)
        return
    if stat.S_ISREG(st.st_mode):
        entry = LocalEntry(
            rel,
            "f",
            st.st_size,
            st.st_mtime_ns,
            bool(st.st_mode & stat.S_IXUSR),
            mode=stat.S_IMODE(st.st_mode) & 0o777,
        )
    elif stat.S_ISLNK(st.st_mode):
        link = _link_inside(selection.root, Path(full))
        if link is None:
            selection.refused.append(f"{rel}: symlink to {os.readlink(full)} leaves the workspace")
            return
        entry = LocalEntry(rel, "l", 0, st.st_mtime_ns, link=link)
    elif stat.S_ISDIR(st.st_mode):  # a git submodule: its own working tree, selected the same way
        sub = select(Path(full), use_git=False)
        selection.refused.extend(f"{rel}/{r}" for r in sub.refused)
        selection.unreadable.update(f"{rel}/{u}" for u in sub.unreadable)
        for entry in sub.entries.values():
            _put(
                selection,
                LocalEntry(
                    f"{rel}/{entry.path}",
                    entry.kind,
                    entry.size,
                    entry.mtime_ns,
                    entry.executable,
                    entry.link,
                    entry.mode,
                ),
            )
        _add_dir(selection, rel)
        return
    else:
        selection.refused.append(f"{rel}: not a regular file, folder or symlink")
        return
    _put(selection, entry)


_EUID = os.geteuid()


def _readable(full: str, st: os.stat_result) -> bool:
    """os.access(R_OK), without its system call for the usual file: ours, and readable by us."""
    return (st.st_uid == _EUID and bool(st.st_mode & stat.S_IRUSR)) or os.access(full, os.R_OK)


def _refuse_unreadable(selection: Selection, rel: str, reason: str, *, folder: bool) -> None:
    selection.unreadable.add(rel)
    what = "folder cannot be read here" if folder else "cannot be read here"
    selection.refused.append(
        f"{rel}{'/' if folder else ''}: {what} ({reason.lower()}); not pushed, and its "
        "copy on the target (if any) is kept"
    )


def _put(selection: Selection, entry: LocalEntry) -> None:
    selection.entries[entry.path] = entry
    parent = entry.path.rpartition("/")[0]
    if parent:
        _add_dir(selection, parent)


def _add_dir(selection: Selection, rel: str) -> None:
    while rel and rel not in selection.entries:
        selection.entries[rel] = LocalEntry(rel, "d")
        rel = rel.rpartition("/")[0]


def _link_inside(root: Path, link: Path) -> str | None:
    """The link's target, relative, if it resolves inside `root`; None if it leaves."""
    target = os.readlink(link)
    lexical = os.path.normpath(os.path.join(link.parent, target))
    try:
        real = link.resolve()
    except (RuntimeError, OSError):  # a loop of links
        return None
    if not _is_within(root, Path(lexical)) or not _is_within(root, real):
        return None
    return os.path.relpath(lexical, link.parent) if os.path.isabs(target) else target


def _is_within(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


# Settings of the repository that would make `git ls-files` run a program: turned off, whoever wrote
# the config (a folder fetched with copy_files could hold a .git of its own).
SAFE_GIT = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_CONFIG_PARAMETERS", "GIT_EXTERNAL_DIFF"):
        env.pop(name, None)
    return env


Unreadable = list[tuple[str, str]]  # (folder, reason) for folders that could not be opened
_GIT_CLOSED = re.compile(r"could not open directory '(.+?)/?': (.+)$")


def _git_paths(root: Path) -> tuple[list[str] | None, list[str], Unreadable]:
    """(files, empty untracked dirs, unreadable folders) from git; (None, [], []) outside a git work tree."""
    done = _git_run(root, "--cached", "--others", "--exclude-standard")
    if done is None:
        return None, [], []
    files = _split(done.stdout)
    closed = [
        (m.group(1), m.group(2))
        for line in os.fsdecode(done.stderr).splitlines()
        if (m := _GIT_CLOSED.search(line))
    ]
    # Empty folders are not files to git; ask for untracked directories to keep them.
    # git collapses an untracked folder to one "dir/" entry, so look inside those for empty leaves.
    closed_dirs = {c for c, _ in closed}
    untracked = [
        d
        for d in _git(root, "--others", "--exclude-standard", "--directory") or []
        if d.rstrip("/") not in closed_dirs
    ]
    empty = [
        Path(dirpath).relative_to(root).as_posix()
        for d in untracked
        if d.endswith("/")
        for dirpath, dirnames, filenames in os.walk(root / d)
        if not dirnames and not filenames
    ]
    # A "dir/" among the files is a nested repository: _add selects inside it like a submodule.
    return [f.rstrip("/") for f in files], empty, closed


def _git_run(root: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    try:
        done = subprocess.run(
            ["git", *SAFE_GIT, "ls-files", "-z", *args],
            cwd=root,
            capture_output=True,
            check=False,
            env=_git_env(),
        )
    except FileNotFoundError:
        return None  # no git on this machine: walk
    return done if done.returncode == 0 else None


def _git(root: Path, *args: str) -> list[str] | None:
    done = _git_run(root, *args)
    return None if done is None else _split(done.stdout)


def _split(out: bytes) -> list[str]:
    return [os.fsdecode(p) for p in out.split(b"\0") if p]


def _ignore_spec(path: Path) -> pathspec.GitIgnoreSpec | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _walk(root: Path) -> tuple[list[str], list[str], Unreadable, dict[str, os.stat_result]]:
    """Files, empty folders and unreadable folders under root, honouring every .gitignore on the way,
    and the lstat of each file (os.scandir's, taken here so that _add need not ask again: the walk
    and its lstat are most of what a 20,000-file push costs when nothing changed)."""
    specs: dict[str, pathspec.GitIgnoreSpec] = {}
    files: list[str] = []
    empty: list[str] = []
    closed: Unreadable = []
    stats: dict[str, os.stat_result] = {}
    stack = [(str(root), "")]
    while stack:
        dirpath, rel_dir = stack.pop()
        try:
            with os.scandir(dirpath) as it:
                found = list(it)
        except OSError as exc:
            closed.append((rel_dir, exc.strerror or str(exc)))
            continue
        if rel_dir and not found:
            empty.append(rel_dir)
            continue
        if any(e.name == GITIGNORE for e in found):
            spec = _ignore_spec(Path(dirpath) / GITIGNORE)
            if spec is not None:
                specs[rel_dir] = spec
        below = []
        for e in found:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if e.name == ".git" or _ignored(specs, rel, is_dir=True):
                    continue
                below.append((e.path, rel))
                continue
            link_to_dir = e.is_symlink() and _is_dir(e)  # a link, sent as one: never a folder to descend
            if link_to_dir and e.name == ".git":
                continue
            if _ignored(specs, rel, is_dir=link_to_dir):
                continue
            files.append(rel)
            try:
                stats[rel] = e.stat(follow_symlinks=False)
            except OSError:
                pass  # _add asks again and says why
        stack.extend(reversed(below))
    return files, empty, closed, stats


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _ignored(specs: dict[str, pathspec.GitIgnoreSpec], rel: str, *, is_dir: bool) -> bool:
    """gitignore precedence: the deepest .gitignore with an opinion decides."""
    if not specs:
        return False
    for base in _ancestors(rel):
        spec = specs.get(base)
        if spec is None:
            continue
        sub = rel[len(base) + 1 :] if base else rel
        result = spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            return result.include
    return False


def _ancestors(rel: str) -> Iterable[str]:
    """'a/b/c' -> 'a/b', 'a', '' (deepest first)."""
    parts = rel.split("/")[:-1]
    for i in range(len(parts), -1, -1):
        yield "/".join(parts[:i])
