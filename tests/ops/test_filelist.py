"""Which local files a push selects: git's view of the working tree, .gitignore walks, .bifrostignore."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mcp_bifrost.ops.push.filelist import select


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
    )


def write(root: Path, rel: str, text: str = "x\n") -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def files(root: Path) -> set[str]:
    return {p for p, e in select(root).entries.items() if e.kind != "d"}


def test_inside_git_uncommitted_edits_and_untracked_files_go_ignored_ones_do_not(tmp_path):
    git(tmp_path, "init", "-q")
    write(tmp_path, ".gitignore", "*.o\n")
    write(tmp_path, "committed.py")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "c")
    write(tmp_path, "committed.py", "edited, not committed\n")
    write(tmp_path, "new.py")
    write(tmp_path, "out.o")
    assert files(tmp_path) == {".gitignore", "committed.py", "new.py"}
    assert select(tmp_path).source == "git"


def test_a_tracked_file_deleted_from_the_working_tree_is_not_selected(tmp_path):
    git(tmp_path, "init", "-q")
    write(tmp_path, "a.py")
    git(tmp_path, "add", "a.py")
    (tmp_path / "a.py").unlink()
    assert files(tmp_path) == set()


def test_empty_folders_are_selected_even_inside_untracked_folders(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "new/empty/deeper").mkdir(parents=True)
    write(tmp_path, "tracked_dir/a.py")
    git(tmp_path, "add", "-A")
    (tmp_path / "tracked_dir/empty").mkdir()
    dirs = {p for p, e in select(tmp_path).entries.items() if e.kind == "d"}
    assert {"new/empty/deeper", "tracked_dir/empty"} <= dirs


def test_a_nested_repository_is_selected_like_a_submodule(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "vendor/lib").mkdir(parents=True)
    git(tmp_path / "vendor/lib", "init", "-q")
    write(tmp_path, "vendor/lib/code.py")
    write(tmp_path, "vendor/lib/.gitignore", "*.tmp\n")
    write(tmp_path, "vendor/lib/junk.tmp")
    assert files(tmp_path) == {"vendor/lib/code.py", "vendor/lib/.gitignore"}


def test_bifrostignore_adds_patterns_inside_and_outside_git(tmp_path):
    for root, use_git in ((tmp_path / "g", True), (tmp_path / "w", False)):
        root.mkdir()
        if use_git:
            git(root, "init", "-q")
        write(root, ".bifrostignore", "data/\n*.bin\n")
        write(root, "data/big.csv")
        write(root, "w.bin")
        write(root, "k.py")
        assert files(root) == {".bifrostignore", "k.py"}


def test_git_internals_and_copy_staging_never_go(tmp_path):
    write(tmp_path, ".git/config")  # outside a real repository, a walk sees it
    write(tmp_path, "sub/.git")  # a submodule's pointer file
    write(tmp_path, ".bifrost-copy-x1/partial")
    write(tmp_path, "keep.py")
    assert files(tmp_path) == {"keep.py"}


def test_symlinks_inside_go_as_relative_links_and_those_leaving_are_refused(tmp_path):
    write(tmp_path, "src/a.py")
    os.symlink("src/a.py", tmp_path / "rel")
    os.symlink(tmp_path / "src", tmp_path / "abs_inside")
    os.symlink("/etc/passwd", tmp_path / "out")
    os.symlink("loop2", tmp_path / "loop1")
    os.symlink("loop1", tmp_path / "loop2")
    selection = select(tmp_path)
    assert selection.entries["rel"].link == "src/a.py"
    assert selection.entries["abs_inside"].link == "src"
    assert sorted(r.split(":")[0] for r in selection.refused) == ["loop1", "loop2", "out"]


def test_a_fetched_nested_repository_runs_nothing_it_names_in_its_git_config(tmp_path):
    """A folder fetched from a target may hold a .git whose config names a program (core.fsmonitor):
    selecting files for a push must not run it, in the nested repository or in the workspace's own."""
    ws = tmp_path / "ws"
    ws.mkdir()
    git(ws, "init", "-q")
    write(ws, "k.py")
    fetched = ws / "results"
    fetched.mkdir()
    git(fetched, "init", "-q")
    write(fetched, "out.txt")
    for repo, mark in ((fetched, "nested"), (ws, "own")):
        marker = tmp_path / f"ran-{mark}"
        git(repo, "config", "core.fsmonitor", f"touch {marker}; true")
    assert files(ws) == {"k.py", "results/out.txt"}
    assert not list(tmp_path.glob("ran-*")), "git ran a program named in a repository's config"


def test_git_runs_only_in_the_workspaces_own_repository(tmp_path, monkeypatch):
    """Every git the selection starts is logged by a wrapper in front of the real one: none runs in
    a nested repository (its config is not ours to obey)."""
    ws = tmp_path / "ws"
    (ws / "vendor/lib").mkdir(parents=True)
    git(ws, "init", "-q")
    git(ws / "vendor/lib", "init", "-q")
    write(ws, "vendor/lib/code.py")
    log = tmp_path / "git.log"
    shim = tmp_path / "bin"
    shim.mkdir()
    real = subprocess.run(
        ["sh", "-c", "command -v git"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (shim / "git").write_text(f'#!/bin/sh\npwd >> "{log}"\nexec "{real}" "$@"\n')
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    assert files(ws) == {"vendor/lib/code.py"}
    assert set(log.read_text().split()) == {str(ws)}
