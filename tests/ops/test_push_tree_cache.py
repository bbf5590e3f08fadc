"""The tree a client remembers after a push (ops/push/tree_cache.py): used only when the target
finds the same tree, so a change made behind our back, a push from another client, and a cache
file that is corrupt or cut short all end in the same tree as a push without it."""

from __future__ import annotations

import os
import posixpath
import shutil
from pathlib import Path

import pytest

from mcp_bifrost.ops.push import manifest_for, push, tree_cache
from mcp_bifrost.ops.push.stream import PushSession
from mcp_bifrost.ops.remote_command import quote, run_capture
from mcp_bifrost.ops.workspace import PUSH_STATE, workdir
from tests.ops.test_push import (
    CHANGES,
    IGNORED,
    assert_same_tree,
    local_tree,
    make_workspace,
    remote_tree,
    write,
)

pytestmark = pytest.mark.anyio


async def target_finds_the_remembered_tree(target, dest: str, cache_dir: Path) -> bool:
    """Ask push.sh, as a push would, whether the tree there is the one this client remembers."""
    remembered = tree_cache.load(tree_cache.path_for(target.name, dest, cache_dir))
    assert remembered is not None, "the push left nothing remembered"
    wd = await workdir(target)
    state_dir = posixpath.join(wd, PUSH_STATE)
    session = PushSession(target)
    state = await session.open(wd, state_dir, dest, manifest_for(state_dir, dest), None, 10, remembered.token)
    await session.stop()
    return state.same


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__ for c in CHANGES])
async def test_after_a_push_the_target_finds_the_tree_the_client_remembers(target, tmp_path, change):
    ws = make_workspace(tmp_path)
    write(ws, "odd\nname.txt", "a newline in a name splits its listing record in two lines\n")
    cache = tmp_path / "cache"
    first = await push(target, ws, cache_dir=cache)
    assert await target_finds_the_remembered_tree(target, first.remote_dir, cache)
    change(ws)
    second = await push(target, ws, cache_dir=cache)
    assert await target_finds_the_remembered_tree(target, second.remote_dir, cache)
    again = await push(target, ws, cache_dir=cache)  # planned against the remembered tree
    assert (again.files_sent, again.files_deleted) == (0, 0)
    await assert_same_tree(target, ws, again.remote_dir, IGNORED | {"more.log"})


REMOTE_CHANGES = {
    "appended": "echo more >> src/add.py",
    "rewritten, same size": "printf 'def add(a, b):\\n    return b + a\\n' > src/add.py",
    "deleted": "rm src/add.py",
    "made executable": "chmod +x src/add.py",
    "replaced by a link": "rm src/add.py && ln -s ../README.md src/add.py",
    "folder removed": "rm -r src/deep",
}


@pytest.mark.parametrize("script", REMOTE_CHANGES.values(), ids=REMOTE_CHANGES.keys())
async def test_a_file_changed_on_the_target_behind_our_back_is_repaired(target, tmp_path, script):
    ws = make_workspace(tmp_path)
    cache = tmp_path / "cache"
    first = await push(target, ws, cache_dir=cache)
    await push(target, ws, cache_dir=cache)
    (await run_capture(target, f"cd {quote(first.remote_dir)} && {script}")).check("changing the target")
    assert not await target_finds_the_remembered_tree(target, first.remote_dir, cache)
    result = await push(target, ws, cache_dir=cache)
    assert result.files_sent >= 1
    await assert_same_tree(target, ws, first.remote_dir)


async def test_two_clients_pushing_to_one_workspace_each_find_the_others_tree(target, tmp_path):
    """Two machines (two caches), two working trees, one remote folder: each push makes the folder
    its own tree, though each client remembers the tree its own last push left."""
    a = make_workspace(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b, symlinks=True)  # the same files, mtimes too: only what differs below travels
    write(b, "src/add.py", "def add(a, b):\n    return b + a  # b's version\n")
    write(b, "only_b.txt", "b\n")
    cache_a, cache_b = tmp_path / "cache-a", tmp_path / "cache-b"
    dest = posixpath.join(await workdir(target), "workspaces", "shared")
    await push(target, a, remote_dir=dest, cache_dir=cache_a)
    await push(target, b, remote_dir=dest, cache_dir=cache_b)
    await assert_same_tree(target, b, dest)
    assert not await target_finds_the_remembered_tree(target, dest, cache_a)
    result = await push(target, a, remote_dir=dest, cache_dir=cache_a)
    assert result.files_sent == 1 and result.files_deleted == 1  # src/add.py back; only_b.txt gone
    await assert_same_tree(target, a, dest)
    await push(target, b, remote_dir=dest, cache_dir=cache_b)
    await assert_same_tree(target, b, dest)


def _forge_record(path: Path, rel: str, size: int, mtime_ns: int, mode: int) -> None:
    """Rewrite one record in the cache file in place, keeping its token (and its sha256 line stale)."""
    cache = tree_cache.load(path)
    assert cache is not None
    old = cache.records[rel]
    seconds, ns = divmod(mtime_ns, 1_000_000_000)
    new = "\0".join(("\nf", str(size), f"{seconds}.{ns:09d}", f"{mode:o}", rel, "")) + "\0"
    path.write_bytes(path.read_bytes().replace(old.encode(), new.encode()))


async def test_a_cache_file_that_is_corrupt_or_cut_short_is_not_believed(target, tmp_path):
    ws = make_workspace(tmp_path)
    cache = tmp_path / "cache"
    first = await push(target, ws, cache_dir=cache)
    cache_file = tree_cache.path_for(target.name, first.remote_dir, cache)
    write(ws, "src/add.py", "def add(a, b):\n    return a + b + 0  # longer\n")
    st = os.lstat(ws / "src/add.py")
    # A record forged to say the target already holds the new src/add.py: only the file's own
    # sha256 tells the client not to believe it (the target's token is unchanged).
    _forge_record(cache_file, "src/add.py", st.st_size, st.st_mtime_ns, st.st_mode & 0o777)
    result = await push(target, ws, cache_dir=cache)
    assert result.files_sent == 1
    await assert_same_tree(target, ws, first.remote_dir)
    assert await target_finds_the_remembered_tree(target, first.remote_dir, cache)  # written anew

    data = cache_file.read_bytes()
    for broken in (data[: len(data) // 2], b"", b"not a cache\n", data[:-1] + b"\1"):
        cache_file.write_bytes(broken)
        write(ws, "README.md", f"# kernels, {len(broken)}\n")
        result = await push(target, ws, cache_dir=cache)
        assert result.files_sent == 1
        await assert_same_tree(target, ws, first.remote_dir)
        assert await target_finds_the_remembered_tree(target, first.remote_dir, cache)


async def test_a_checksum_push_and_a_dry_run_read_the_remembered_tree_alike(target, tmp_path):
    ws = make_workspace(tmp_path)
    cache = tmp_path / "cache"
    first = await push(target, ws, cache_dir=cache)
    path = ws / "src/add.py"
    st = os.stat(path)
    path.write_text(path.read_text().replace("a + b", "b + a"))  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime: only a checksum sees it
    dry = await push(target, ws, cache_dir=cache, checksum=True, dry_run=True)
    assert dry.sent == ["src/add.py"]
    result = await push(target, ws, cache_dir=cache, checksum=True)
    assert result.files_sent == 1
    await assert_same_tree(target, ws, first.remote_dir)
    assert local_tree(ws) == await remote_tree(target, first.remote_dir)


async def test_what_a_client_remembers_of_a_folder_not_pushed_to_for_a_month_is_forgotten(target, tmp_path):
    ws = make_workspace(tmp_path)
    cache = tmp_path / "cache"
    old = cache / tree_cache.FOLDER / ("0" * 32)
    old.parent.mkdir(parents=True)
    old.write_bytes(b"a destination pushed to long ago")
    month_ago = os.stat(old).st_mtime - tree_cache.FORGET_AFTER_S - 60
    os.utime(old, (month_ago, month_ago))
    tree_cache._swept.discard(old.parent)  # as in a new process
    await push(target, ws, cache_dir=cache)
    assert not old.exists()
    assert len(list(old.parent.iterdir())) == 1  # this push's own
