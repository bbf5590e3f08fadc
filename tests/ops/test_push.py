"""push against the local target and a real sshd: the remote tree equals the local one, byte for byte.

Trees are compared by content hashes computed on each side (sha256 of every file, link targets,
exec bits, folders), after every kind of change an agent makes between two pushes.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from mcp_bifrost.config import Limits
from mcp_bifrost.errors import (
    PushBusy,
    TransferError,
    TransferIncomplete,
    TransferTooLarge,
    TypeConflict,
    UnsafePath,
)
from mcp_bifrost.ops.push import push
from mcp_bifrost.ops.remote_command import quote, run_capture
from mcp_bifrost.ops.workspace import workdir, workspace_name

pytestmark = pytest.mark.anyio

Tree = dict[str, str]  # path -> "f <sha256> <x|->" / "l <target>" / "d"


def write(root: Path, rel: str, data: str | bytes = "", *, executable: bool = False) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if executable:
        path.chmod(0o755)
    return path


def make_workspace(tmp_path: Path, *, git: bool = True) -> Path:
    """A small kernel workspace: sources, a script, a link, odd names, and things that must not go."""
    ws = tmp_path / "kernels ws"
    write(ws, "README.md", "# kernels\n")
    write(ws, "src/add.py", "def add(a, b):\n    return a + b\n")
    write(ws, "src/deep/er/matmul.cu", "__global__ void k() {}\n" * 50)
    write(ws, "run.sh", "#!/bin/sh\necho run\n", executable=True)
    write(ws, "ünï çødé/名前 with spaces.txt", "unicode\n")
    write(ws, ".gitignore", "*.log\nbuild/\n")
    write(ws, ".bifrostignore", "secrets.env\n")
    write(ws, "train.log", "ignored by .gitignore\n")
    write(ws, "build/out.o", b"\x7fELF ignored folder")
    write(ws, "secrets.env", "TOKEN=ignored by .bifrostignore\n")
    os.symlink("src/add.py", ws / "add_link.py")
    if git:
        subprocess.run(["git", "init", "-q", str(ws)], check=True)
    return ws


IGNORED = {"train.log", "build", "build/out.o", "secrets.env"}


def local_tree(root: Path, ignored: set[str] = IGNORED) -> Tree:
    tree: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if rel in ignored or rel.split("/")[0] in ignored:
                continue
            if full.is_symlink():
                tree[rel] = f"l {os.readlink(full)}"
            elif full.is_dir():
                tree[rel] = "d"
            else:
                digest = hashlib.sha256(full.read_bytes()).hexdigest()
                tree[rel] = f"f {digest} {'x' if os.access(full, os.X_OK) else '-'}"
    return tree


async def remote_tree(target, remote_dir: str) -> Tree:
    """The same description, computed on the target by its own tools."""
    listing = await run_capture(
        target,
        f"cd {quote(remote_dir)} && find . -mindepth 1 -printf '%y\\0%m\\0%P\\0%l\\0' && "
        "printf 'H\\0' && find . -type f -print0 | xargs -0 -r sha256sum -z",
    )
    listing.check("listing the remote tree")
    head, _, hashes = listing.stdout.partition(b"H\0")
    fields = head.split(b"\0")
    digests = {}
    for record in hashes.split(b"\0"):
        if record:
            digest, _, path = record.partition(b"  ")
            digests[os.fsdecode(path).removeprefix("./")] = digest.decode()
    tree: Tree = {}
    for i in range(0, len(fields) - 1, 4):
        kind, mode, path, link = (os.fsdecode(f) for f in fields[i : i + 4])
        if kind == "f":
            tree[path] = f"f {digests[path]} {'x' if int(mode, 8) & 0o100 else '-'}"
        else:
            tree[path] = f"l {link}" if kind == "l" else kind
    return tree


async def assert_same_tree(target, ws: Path, remote_dir: str, ignored: set[str] = IGNORED) -> None:
    assert await remote_tree(target, remote_dir) == local_tree(ws, ignored)


async def test_first_push_makes_the_remote_tree_equal_the_working_tree(target, tmp_path):
    ws = make_workspace(tmp_path)
    result = await push(target, ws)
    await assert_same_tree(target, ws, result.remote_dir)
    assert result.remote_dir == posixpath.join(await workdir(target), "workspaces", workspace_name(str(ws)))
    assert result.files_sent == 8 and result.files_unchanged == 0 and result.files_deleted == 0
    assert result.bytes_sent > 0 and result.content_bytes > 0


async def test_push_with_no_change_sends_nothing(target, tmp_path):
    ws = make_workspace(tmp_path)
    await push(target, ws)
    result = await push(target, ws)
    assert (result.files_sent, result.files_deleted, result.bytes_sent) == (0, 0, 0)
    assert result.files_unchanged == 8 and result.note == "already up to date"
    await assert_same_tree(target, ws, result.remote_dir)


def edit_one_file(ws: Path) -> None:
    path = ws / "src/add.py"
    path.write_text(path.read_text().replace("a + b", "b + a"))  # same size, same second


def delete_a_file(ws: Path) -> None:
    (ws / "README.md").unlink()


def rename_a_file(ws: Path) -> None:
    (ws / "src/deep/er/matmul.cu").rename(ws / "src/matmul_v2.cu")


def add_an_empty_folder(ws: Path) -> None:
    (ws / "outputs/empty").mkdir(parents=True)


def make_a_file_executable(ws: Path) -> None:
    (ws / "src/add.py").chmod(0o755)


def add_unicode_and_spaces(ws: Path) -> None:
    write(ws, "new dir/ä b c.py", "x = 1\n")
    write(ws, "ünï çødé/名前 with spaces.txt", "changed unicode\n")


def replace_a_folder_by_a_file(ws: Path) -> None:
    (ws / "src/deep/er/matmul.cu").unlink()
    (ws / "src/deep/er").rmdir()
    write(ws, "src/deep/er", "now a file\n")


def add_an_ignored_file(ws: Path) -> None:
    write(ws, "more.log", "must not go\n")
    write(ws, "build/more.o", "must not go\n")


CHANGES: list[Callable[[Path], None]] = [
    edit_one_file,
    delete_a_file,
    rename_a_file,
    add_an_empty_folder,
    make_a_file_executable,
    add_unicode_and_spaces,
    replace_a_folder_by_a_file,
    add_an_ignored_file,
]


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__ for c in CHANGES])
async def test_push_after_a_change_makes_the_trees_equal_again(target, tmp_path, change):
    ws = make_workspace(tmp_path)
    await push(target, ws)
    change(ws)
    result = await push(target, ws)
    await assert_same_tree(target, ws, result.remote_dir, IGNORED | {"more.log"})
    if change is add_an_ignored_file:
        assert result.files_sent == 0


async def test_push_outside_git_honours_nested_gitignore_and_bifrostignore(target, tmp_path):
    ws = make_workspace(tmp_path, git=False)
    write(ws, "src/.gitignore", "*.tmp\n!keep.tmp\n")
    write(ws, "src/scratch.tmp", "ignored by the nested .gitignore\n")
    write(ws, "src/keep.tmp", "re-included\n")
    result = await push(target, ws)
    await assert_same_tree(target, ws, result.remote_dir, IGNORED | {"src/scratch.tmp"})


async def test_push_refuses_a_file_over_the_cap_and_writes_nothing(target, tmp_path):
    ws = make_workspace(tmp_path)
    os.truncate(write(ws, "weights.bin"), 50 * 2**20)  # sparse: 50 MB in size, instantly
    limits = Limits(max_file_bytes=10 * 2**20)
    with pytest.raises(TransferTooLarge, match=r"max_file_bytes.*weights\.bin \(50\.0 MiB\)"):
        await push(target, ws, limits=limits)
    remote = posixpath.join(await workdir(target), "workspaces", "kernels_ws")
    assert (await run_capture(target, f"ls -A {quote(remote)} 2>/dev/null")).stdout == b""
    with pytest.raises(TransferTooLarge, match=r"over the cap.*weights\.bin"):
        await push(target, ws, limits=Limits(max_push_bytes=2**20))


async def test_dry_run_lists_what_would_change_and_changes_nothing(target, tmp_path):
    ws = make_workspace(tmp_path)
    first = await push(target, ws)
    delete_a_file(ws)
    edit_one_file(ws)
    before = await remote_tree(target, first.remote_dir)
    result = await push(target, ws, dry_run=True)
    assert result.dry_run and result.sent == ["src/add.py"] and result.deleted == ["README.md"]
    assert await remote_tree(target, first.remote_dir) == before


async def test_checksum_finds_a_change_that_size_and_mtime_miss(target, tmp_path):
    ws = make_workspace(tmp_path)
    result = await push(target, ws)
    remote_file = quote(posixpath.join(result.remote_dir, "src/add.py"))
    # Same size, same mtime, other bytes: only a content hash can tell.
    (
        await run_capture(
            target, f't=$(stat -c %y {remote_file}); sed -i s/a/z/ {remote_file}; touch -d "$t" {remote_file}'
        )
    ).check("tampering")
    assert (await push(target, ws)).files_sent == 0
    fixed = await push(target, ws, checksum=True)
    assert fixed.files_sent == 1 and fixed.files_unchanged == 7
    await assert_same_tree(target, ws, result.remote_dir)


async def test_files_created_on_the_target_survive_a_push_with_delete(target, tmp_path):
    ws = make_workspace(tmp_path)
    result = await push(target, ws)
    (await run_capture(target, f"cd {quote(result.remote_dir)} && echo 1 > results.txt")).check("output")
    delete_a_file(ws)
    after = await push(target, ws)
    assert after.files_deleted == 1
    tree = await remote_tree(target, result.remote_dir)
    assert "results.txt" in tree and "README.md" not in tree


async def test_push_without_delete_keeps_files_gone_locally_until_a_push_with_delete(target, tmp_path):
    ws = make_workspace(tmp_path)
    result = await push(target, ws)
    delete_a_file(ws)
    assert (await push(target, ws, delete=False)).files_deleted == 0
    assert "README.md" in await remote_tree(target, result.remote_dir)
    assert (await push(target, ws)).files_deleted == 1
    await assert_same_tree(target, ws, result.remote_dir)


@pytest.mark.parametrize("remote_dir", ["/tmp", "../..", "..", "~/x", "../.push/staging", "../jobs"])
async def test_push_refuses_a_remote_dir_outside_the_workdir(target, tmp_path, remote_dir):
    ws = make_workspace(tmp_path)
    with pytest.raises(UnsafePath, match="workdir"):
        await push(target, ws, remote_dir=remote_dir)


async def test_push_refuses_a_remote_dir_that_a_symlink_leads_out_of_the_workdir(target, tmp_path):
    ws = make_workspace(tmp_path)
    wd = await workdir(target)
    outside = wd + "-outside"
    (
        await run_capture(
            target,
            f"mkdir -p {quote(outside)} && echo keep > {quote(outside)}/precious && "
            f"mkdir -p {quote(wd)}/workspaces && ln -s {quote(outside)} {quote(wd)}/workspaces/evil",
        )
    ).check("setting up")
    with pytest.raises(UnsafePath, match="outside the target's workdir"):
        await push(target, ws, remote_dir="evil")
    assert (await run_capture(target, f"ls {quote(outside)}")).stdout == b"precious\n"


async def test_push_sends_outward_symlinks_never_and_names_them(target, tmp_path):
    ws = make_workspace(tmp_path)
    os.symlink("/etc/passwd", ws / "passwd_link")
    os.symlink("../../outside", ws / "src/up_link")
    result = await push(target, ws)
    assert sorted(r.split(":")[0] for r in result.refused) == ["passwd_link", "src/up_link"]
    await assert_same_tree(target, ws, result.remote_dir, IGNORED | {"passwd_link", "src/up_link"})


async def test_push_reports_progress_up_to_the_total(target, tmp_path):
    ws = make_workspace(tmp_path)
    write(ws, "data.bin", os.urandom(3 * 2**20))
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    result = await push(target, ws, progress=progress)
    assert seen[-1] == (result.content_bytes, result.content_bytes)
    assert all(d <= t for d, t in seen)


async def test_a_push_cut_off_mid_stream_leaves_no_half_written_file(ssh_target, tmp_path):
    ws = make_workspace(tmp_path)
    first = await push(ssh_target, ws)
    write(ws, "big.bin", os.urandom(20 * 2**20))
    edit_one_file(ws)

    async def drop_connection(done: int, total: int) -> None:
        await ssh_target.close()  # the pooled connection dies mid-transfer

    with pytest.raises(TransferIncomplete, match="broke off"):
        await push(ssh_target, ws, progress=drop_connection)
    staging = posixpath.join(await workdir(ssh_target), ".push", "staging")
    with anyio.fail_after(10):  # the target notices the dead connection and cleans up
        while (await run_capture(ssh_target, f"ls -A {quote(staging)}")).stdout:
            await anyio.sleep(0.05)
    tree = await remote_tree(ssh_target, first.remote_dir)
    assert "big.bin" not in tree
    before_edit = hashlib.sha256(b"def add(a, b):\n    return a + b\n").hexdigest()
    assert tree["src/add.py"] == f"f {before_edit} -"
    await push(ssh_target, ws)
    await assert_same_tree(ssh_target, ws, first.remote_dir)


async def _put_another_workspace(target) -> str:
    """Another workspace's twin, with a file and an output folder, that no push of ours may touch."""
    other = posixpath.join(await workdir(target), "workspaces", "other")
    (
        await run_capture(
            target, f"mkdir -p {quote(other)}/results && echo keep > {quote(other)}/results/model.bin"
        )
    ).check("setting up another workspace")
    return other


@pytest.mark.parametrize(
    "remote_dir", [".", "", "./", "a/..", "WD/workspaces", "WD/workspaces/", "WD", "WD/jobs"]
)
async def test_push_refuses_the_workspaces_root_and_the_workdir_itself(target, tmp_path, remote_dir):
    # issue 13.2: remote_dir="." resolved to the folder holding every workspace's copy
    ws = make_workspace(tmp_path)
    write(ws, "other", "a file where another workspace has its folder\n")
    other = await _put_another_workspace(target)
    with pytest.raises(
        UnsafePath, match=r"holds every workspace .*A push writes .* only in a folder of its own"
    ):
        await push(target, ws, remote_dir=remote_dir.replace("WD", await workdir(target)))
    assert (await run_capture(target, f"cat {quote(other)}/results/model.bin")).stdout == b"keep\n"


async def test_a_local_file_where_the_target_has_an_output_folder_is_refused_and_the_folder_kept(
    target, tmp_path
):
    # issue 13.3: `results` here vs `results/model.bin` made on the target: push ran rm -rf, even with delete=false
    ws = make_workspace(tmp_path)
    first = await push(target, ws)
    (
        await run_capture(
            target, f"cd {quote(first.remote_dir)} && mkdir results && echo w > results/model.bin"
        )
    ).check("an output folder made by a job")
    write(ws, "results", "a local file of the same name\n")
    for delete in (False, True):
        with pytest.raises(
            TypeConflict, match=r"results \(file here, folder on the target that push did not make\)"
        ):
            await push(target, ws, delete=delete)
    tree = await remote_tree(target, first.remote_dir)
    assert tree["results"] == "d" and "results/model.bin" in tree


async def test_a_pushed_folder_holding_outputs_is_not_replaced_by_a_file(target, tmp_path):
    ws = make_workspace(tmp_path)
    first = await push(target, ws)
    (await run_capture(target, f"echo w > {quote(first.remote_dir)}/src/deep/er/out.bin")).check("an output")
    replace_a_folder_by_a_file(ws)
    with pytest.raises(TypeConflict, match=r"src/deep/er .*out\.bin"):
        await push(target, ws)
    assert "src/deep/er/out.bin" in await remote_tree(target, first.remote_dir)


def _flat_workspace(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    ws = tmp_path / name
    for rel, text in files.items():
        write(ws, rel, text)
    return ws


async def test_two_pushes_to_one_folder_run_one_after_the_other_and_the_manifest_follows(target, tmp_path):
    # issue 13.4: both reported success, the target held the union of the two trees, and one side's
    # files dropped out of the manifest. Here B starts while A's stream is on the wire.
    a = _flat_workspace(tmp_path, "a", {f"a{i}.txt": f"a{i}\n" for i in range(30)} | {"same.txt": "from a\n"})
    # same.txt differs in size too: written within 1 ms of a's (an unloaded machine writes 30 files in
    # less), an equal size would read as unchanged (plan.MTIME_TOLERANCE_NS), whatever the lock does
    b = _flat_workspace(
        tmp_path, "b", {f"b{i}.txt": f"b{i}\n" for i in range(30)} | {"same.txt": "from b!\n"}
    )
    shared = posixpath.join(await workdir(target), "workspaces", "shared")  # absolute: one meaning
    results = {}
    started_b = False

    async def push_b() -> None:
        results["b"] = await push(target, b, remote_dir=shared)

    async with anyio.create_task_group() as tg:

        async def start_b_mid_stream(done: int, total: int) -> None:
            nonlocal started_b
            if not started_b:
                started_b = True
                tg.start_soon(push_b)
                await anyio.sleep(1.5)  # B lists and plans (or waits for the lock) meanwhile

        results["a"] = await push(target, a, remote_dir=shared, progress=start_b_mid_stream)
    dest = results["a"].remote_dir
    assert await remote_tree(target, dest) == local_tree(b, set())  # B came second: B's tree, not a union
    assert results["b"].files_deleted == 30
    await push(target, a, remote_dir=shared)  # the manifest names B's files: they go
    assert await remote_tree(target, dest) == local_tree(a, set())


async def _hold_push_lock(target, dest: str, seconds: float):
    """Hold remote/push.sh's lock on `dest` the way another push would."""
    state = posixpath.join(await workdir(target), ".push", "locks")
    script = (
        f"mkdir -p {quote(state)} && mkdir -p {quote(dest)} && r=$(realpath -m {quote(dest)}) && "
        f'exec 9>>"{state}/$(printf %s "$r" | sha256sum | cut -c1-32)" && flock 9 && echo held && sleep {seconds}'
    )
    proc = await target.start(script)
    assert await proc.read_stdout() == b"held\n"
    return proc


async def test_a_push_waits_for_the_lock_or_fails_clearly_after_the_wait(target, tmp_path):
    ws = make_workspace(tmp_path)
    dest = posixpath.join(await workdir(target), "workspaces", "locked")
    holder = await _hold_push_lock(target, dest, 2)
    with pytest.raises(PushBusy, match="another push to this remote folder is still running"):
        await push(target, ws, remote_dir=dest, limits=Limits(push_lock_wait_s=0))
    result = await push(target, ws, remote_dir=dest, limits=Limits(push_lock_wait_s=20))
    assert result.files_sent == 8
    assert await holder.wait() == 0
    await assert_same_tree(target, ws, dest)


async def test_reading_a_file_that_vanished_says_what_is_true(tmp_path):
    # issue 13.12: "did one change during the push? Push again." for a file that could not be read
    from mcp_bifrost.ops.push.filelist import LocalEntry
    from mcp_bifrost.ops.push.plan import Plan
    from mcp_bifrost.ops.push.stream import write_tar
    from mcp_bifrost.ops.tarstream import ByteQueue

    plan = Plan(send=[LocalEntry("gone.txt", "f", 3, 0)])
    with pytest.raises(TransferError) as caught:
        write_tar(tmp_path, plan, ByteQueue(maxsize=1000), [0])
    assert "'gone.txt' was deleted while the push read it; nothing was changed on the target" in str(
        caught.value
    )


def _push_as_user(ws: str, wd: str) -> dict:
    """Runs in a child process as the unprivileged user (tests.support.unprivileged)."""
    import asyncio

    from mcp_bifrost.targets.local import LocalTarget

    async def main() -> dict:
        target = LocalTarget("local", wd)
        try:
            return (await push(target, ws, delete=True)).model_dump()
        finally:
            await target.close()

    return asyncio.run(main())


@pytest.mark.parametrize("git", [True, False], ids=["git", "walk"])
def test_unreadable_local_files_and_folders_are_reported_and_their_remote_copies_kept(git):
    # issue 13.8: an unreadable folder was skipped without a word and its remote files deleted;
    # an unreadable file stopped the push with "did one change during the push? Push again."
    from tests.support import unprivileged

    scratch = unprivileged.unprivileged_dir()
    ws, wd = scratch / "ws", str(scratch / "wd")
    write(ws, "a.txt", "a\n")
    write(ws, "secret/key.txt", "k\n")
    write(ws, "locked.txt", "l\n")
    if git:
        subprocess.run(["git", "init", "-q", str(ws)], check=True)
    unprivileged.give_away(scratch)

    def push_as_user() -> dict:
        return unprivileged.call_as_user(_push_as_user, str(ws), wd)

    first = push_as_user()
    remote = Path(first["remote_dir"])
    os.chmod(ws / "secret", 0)
    os.chmod(ws / "locked.txt", 0)
    try:
        second = push_as_user()
    finally:
        os.chmod(ws / "secret", 0o755)
        os.chmod(ws / "locked.txt", 0o644)
    assert (remote / "secret/key.txt").read_text() == "k\n" and (remote / "locked.txt").read_text() == "l\n"
    assert second["files_deleted"] == 0
    reasons = {r.split(":")[0]: r for r in second["refused"]}
    assert "cannot be read here" in reasons["secret/"] and "kept" in reasons["secret/"]
    assert "cannot be read here" in reasons["locked.txt"]
    # they stayed in the manifest: once really gone locally, the next push removes them
    shutil.rmtree(ws / "secret")
    (ws / "locked.txt").unlink()
    third = push_as_user()
    assert not (remote / "secret").exists() and not (remote / "locked.txt").exists()
    assert third["files_deleted"] == 3
    shutil.rmtree(scratch)


async def test_a_file_that_became_a_folder_during_the_push_is_not_removed(target, tmp_path):
    # The plan names only files for deletion, and the target removes them with rm -f, never rm -r:
    # a folder that appears there between listing and applying (a job's output) stays.
    ws = make_workspace(tmp_path)
    first = await push(target, ws)
    delete_a_file(ws)  # README.md: in the manifest, gone locally
    edit_one_file(ws)  # something to send, so that the stream (and progress) runs after the listing
    readme = quote(posixpath.join(first.remote_dir, "README.md"))

    async def a_job_writes_there(done: int, total: int) -> None:
        (
            await run_capture(
                target,
                f"[ -d {readme} ] || {{ rm {readme} && mkdir {readme} && echo out > {readme}/result.txt; }}",
            )
        ).check("replacing the file by a folder")

    # It is refused (the delete list no longer matches what is there) or skipped: never removed.
    try:
        await push(target, ws, progress=a_job_writes_there)
    except TransferError as exc:
        assert "gone locally" in str(exc) or "changed" in str(exc), exc
    assert "README.md/result.txt" in await remote_tree(target, first.remote_dir)


async def _modes(target, *paths: str) -> list[str]:
    done = await run_capture(target, "stat -c %a -- " + " ".join(quote(p) for p in paths))
    done.check("reading modes on the target")
    return done.stdout.decode().split()


async def test_file_modes_travel_and_what_push_creates_is_private(target, tmp_path):
    """Another user of the GPU host reads nothing: folders we make are 0700, a 0600 file stays 0600."""
    ws = _flat_workspace(
        tmp_path, "ws", {"secret.env": "TOKEN=1\n", "run.sh": "#!/bin/sh\n", "notes.txt": "n\n"}
    )
    (ws / "secret.env").chmod(0o600)
    (ws / "run.sh").chmod(0o750)
    (ws / "notes.txt").chmod(0o644)
    write(ws, "sub/deeper/k.py", "k\n")
    result = await push(target, ws)
    dest, wd = result.remote_dir, await workdir(target)
    files = [posixpath.join(dest, n) for n in ("secret.env", "run.sh", "notes.txt")]
    assert await _modes(target, *files) == ["600", "750", "644"]
    assert await _modes(target, dest, wd + "/workspaces", wd + "/jobs") == ["700", "700", "700"]
    (ws / "notes.txt").chmod(0o600)  # a chmod alone is a change
    again = await push(target, ws)
    assert again.files_sent == 1 and await _modes(target, files[2]) == ["600"]


async def test_a_workdir_left_open_by_an_older_version_is_made_private(target, tmp_path):
    made = await run_capture(
        target,
        f"mkdir -p {target.workdir}/jobs {target.workdir}/workspaces && "
        f"chmod 755 {target.workdir}/jobs {target.workdir}/workspaces",
    )
    made.check("making an open workdir")
    wd = await workdir(target)
    assert await _modes(target, wd + "/workspaces", wd + "/jobs") == ["700", "700"]


@pytest.mark.parametrize("kind", ["local", "ssh"])
async def test_a_checksum_push_of_50000_files_never_deadlocks(kind, local_target, ssh_target, tmp_path):
    """The target lists 50,000 entries while we send 50,000 names to hash: both pipes are read while
    they are written (the listing once blocked on a full pipe, and the push's lock stayed held)."""
    target = local_target if kind == "local" else ssh_target
    ws = tmp_path / "many"
    for d in range(50):
        folder = ws / f"d{d:02}"
        folder.mkdir(parents=True)
        for i in range(1000):
            (folder / f"f{i:04}.txt").write_bytes(b"%d\n" % i)
    with anyio.fail_after(240):
        first = await push(target, ws)
    assert first.files_sent == 50_000
    with anyio.fail_after(60):
        again = await push(target, ws, checksum=True)
    assert again.files_unchanged == 50_000 and again.files_sent == 0
    with anyio.move_on_after(0.5):  # a call that ends mid-listing lets go of the destination's lock
        await push(target, ws, checksum=True)
    with anyio.fail_after(60):
        await push(target, ws, limits=Limits(push_lock_wait_s=10))


@pytest.mark.parametrize("arrives", [False, True], ids=["delete", "delete-and-write"])
async def test_a_folder_swapped_for_a_link_during_the_push_is_not_deleted_through(target, tmp_path, arrives):
    """issue 19.7: the delete list was computed before the stream; a folder replaced by a link to
    another place meanwhile made push delete a file there."""
    ws = _flat_workspace(tmp_path, "ws", {"d/x.txt": "x\n", "keep.txt": "k\n", "big.bin": "0" * 100})
    first = await push(target, ws)
    dest = first.remote_dir
    outside = posixpath.join(await workdir(target), "outside")
    (ws / "d" / "x.txt").unlink()
    if arrives:
        write(ws, "d/new.txt", "new\n")
    (ws / "big.bin").write_bytes(os.urandom(1 << 20))  # something to stream while the folder is swapped
    swapped = False

    async def swap(done: int, total: int) -> None:
        nonlocal swapped
        if not swapped:
            swapped = True
            made = await run_capture(
                target,
                f"mkdir -p {quote(outside)} && echo precious > {quote(outside)}/x.txt && "
                f"mv {quote(dest)}/d {quote(dest)}/d.was && ln -s {quote(outside)} {quote(dest)}/d",
            )
            made.check("swapping a folder for a link")

    try:
        await push(target, ws, progress=swap)
    except UnsafePath:
        pass  # refusing the whole push is as good
    assert swapped
    still = await run_capture(target, f"cat {quote(outside)}/x.txt")
    assert still.stdout == b"precious\n", "push deleted a file through a link that appeared during the push"
    written = await run_capture(target, f"ls {quote(outside)}")
    assert written.stdout.split() == [b"x.txt"], "push wrote through a link that appeared during the push"


BIG = 16 << 20  # over delta.DELTA_MIN_BYTES: sent as its changed blocks once the target holds a copy


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.parametrize("edit", ["append", "in-place"])
async def test_a_big_file_appended_to_or_edited_in_place_sends_only_its_changed_blocks(
    target, tmp_path, edit
):
    """issue 21.1: 1 MiB appended to a 512 MiB file resent the whole file."""
    ws = _flat_workspace(tmp_path, "ws", {"notes.txt": "n\n"})
    write(ws, "ckpt/model.bin", os.urandom(BIG)).chmod(0o640)
    first = await push(target, ws)
    assert first.bytes_sent > BIG  # the first push has nothing to compare with: whole
    # in place: not on a block boundary, so two blocks change
    _overwrite(ws / "ckpt/model.bin", BIG if edit == "append" else BIG // 2 + 12345, os.urandom(100_000))
    again = await push(target, ws)
    assert again.files_sent == 1 and "1 big file(s) sent as their changed blocks" in (again.note or "")
    assert again.bytes_sent < 1 << 20, f"{again.bytes_sent} bytes on the wire for a 100 kB edit"
    await assert_same_tree(target, ws, first.remote_dir, set())
    assert await _modes(target, posixpath.join(first.remote_dir, "ckpt/model.bin")) == ["640"]
    assert (await push(target, ws)).note == "already up to date"  # size, mtime and mode arrived


async def test_a_big_file_whose_target_copy_changed_during_the_push_is_refused_and_kept(target, tmp_path):
    """The target's copy was hashed, then written by something else before the blocks arrived: the
    rebuilt file's sha256 differs from ours, so nothing is placed (not even the small files)."""
    ws = _flat_workspace(tmp_path, "ws", {"notes.txt": "n\n"})
    write(ws, "model.bin", os.urandom(BIG))
    first = await push(target, ws)
    remote_file = posixpath.join(first.remote_dir, "model.bin")
    _overwrite(
        ws / "model.bin", BIG // 2, os.urandom(3 << 20)
    )  # several stream chunks: the change below lands before the end
    write(ws, "notes.txt", "changed too\n")
    changed = False

    async def write_on_target(done: int, total: int) -> None:
        nonlocal changed
        if not changed:
            changed = True  # a block the target copies from its own copy (the first) changes
            (
                await run_capture(
                    target, f"printf JOB | dd of={quote(remote_file)} bs=1 seek=10 conv=notrunc status=none"
                )
            ).check("a job writing the file")

    with pytest.raises(
        TransferIncomplete, match=r"did not rebuild into the local file .* nothing was changed"
    ):
        await push(target, ws, progress=write_on_target)
    assert changed
    tree = await remote_tree(target, first.remote_dir)
    assert (
        tree["notes.txt"]
        == local_tree(_flat_workspace(tmp_path, "before", {"notes.txt": "n\n"}), set())["notes.txt"]
    )
    on_target = await run_capture(target, f"dd if={quote(remote_file)} bs=1 skip=10 count=3 status=none")
    assert on_target.stdout == b"JOB", "the job's write was replaced"
    assert (await run_capture(target, f"ls -A {quote(await workdir(target))}/.push/staging")).stdout == b""
    await push(target, ws)  # hashed afresh, the target's copy now gives a consistent delta
    await assert_same_tree(target, ws, first.remote_dir, set())


async def _block_memos(target) -> list[str]:
    """The block hashes the target remembers (remote/push_helper.py), one file per big file."""
    folder = posixpath.join(await workdir(target), ".push", "blocks")
    listed = await run_capture(target, f"ls {quote(folder)} 2>/dev/null || true")
    return listed.stdout.decode().split()


async def test_the_target_remembers_block_hashes_and_drops_them_when_they_lie(target, tmp_path):
    """After a delta the target knows its new copy's block hashes, so the next delta does not read
    the old copy to hash it. A copy written in place with its mtime put back is described wrongly:
    that push fails whole (nothing placed), and the next one hashes afresh and succeeds."""
    ws = _flat_workspace(tmp_path, "ws", {"notes.txt": "n\n"})
    write(ws, "model.bin", os.urandom(BIG))
    first = await push(target, ws)
    _overwrite(ws / "model.bin", BIG, os.urandom(1000))  # appended
    await push(target, ws)
    assert len(await _block_memos(target)) == 1
    remote_file = posixpath.join(first.remote_dir, "model.bin")
    # behind our back: same size, same mtime, other bytes in the first block
    (
        await run_capture(
            target,
            f'f={quote(remote_file)} && touch -r "$f" /tmp/bifrost-stamp-$$ && '
            f'printf JOB | dd of="$f" bs=1 seek=10 conv=notrunc status=none && '
            f'touch -r /tmp/bifrost-stamp-$$ "$f" && rm /tmp/bifrost-stamp-$$',
        )
    ).check("a job writing the file and putting its mtime back")
    _overwrite(ws / "model.bin", BIG // 2, os.urandom(1000))
    with pytest.raises(TransferIncomplete, match="did not rebuild into the local file"):
        await push(target, ws)
    await push(target, ws)
    await assert_same_tree(target, ws, first.remote_dir, set())
    for name in await _block_memos(target):  # a memo file that is garbage is ignored, not believed
        folder = posixpath.join(await workdir(target), ".push", "blocks")
        (await run_capture(target, f"echo '{{not json' > {quote(folder)}/{name}")).check("breaking a memo")
    folder = posixpath.join(await workdir(target), ".push", "blocks")
    stale = f"{folder}/{'0' * 32}"  # a file's hashes no delta has used for 40 days
    (await run_capture(target, f"echo {{}} > {stale} && touch -d '40 days ago' {stale}")).check("an old memo")
    _overwrite(ws / "model.bin", 10, os.urandom(1000))
    again = await push(target, ws)
    assert "0" * 32 not in await _block_memos(target)
    assert "sent as their changed blocks" in (again.note or "")
    await assert_same_tree(target, ws, first.remote_dir, set())
    # written behind our back the usual way (its mtime moves): the remembered hashes are not used
    (
        await run_capture(
            target, f"printf JOB | dd of={quote(remote_file)} bs=1 seek=10 conv=notrunc status=none"
        )
    ).check("a job writing the file")
    _overwrite(ws / "model.bin", BIG // 4, os.urandom(1000))
    later = os.stat(ws / "model.bin").st_mtime_ns + 5 * 10**9  # not within a ms of the job's write
    os.utime(ws / "model.bin", ns=(later, later))
    await push(target, ws)
    await assert_same_tree(target, ws, first.remote_dir, set())


async def test_a_stream_inflated_by_python_on_the_target_makes_the_trees_equal(target, tmp_path, monkeypatch):
    """Big streams are inflated by remote/push_helper.py, not gzip: every gzip member (text packed,
    binaries stored, text again) must come through."""
    from mcp_bifrost.ops.push import stream

    monkeypatch.setattr(stream, "INFLATE_MIN_BYTES", 0)
    monkeypatch.setattr(stream, "USE_ZSTD", False)  # a target without zstd
    ws = make_workspace(tmp_path)
    write(ws, "data/weights.bin", os.urandom(300_000))  # stored: a member of its own between packed ones
    write(ws, "zz/after.py", "x = 1\n" * 1000)
    first = await push(target, ws)
    await assert_same_tree(target, ws, first.remote_dir)
    edit_one_file(ws)
    await push(target, ws)
    await assert_same_tree(target, ws, first.remote_dir)


async def test_a_stream_of_mostly_incompressible_data_goes_as_a_plain_tar(target, tmp_path, monkeypatch):
    """Weights and archives: no gzip on either side ("go raw"); the text beside them travels too."""
    from mcp_bifrost.ops.push import compression, stream

    monkeypatch.setattr(stream, "INFLATE_MIN_BYTES", 0)
    monkeypatch.setattr(compression, "RAW_SAMPLE_MIN_FILE", 100_000)
    ws = make_workspace(tmp_path)
    write(ws, "data/weights.bin", os.urandom(3 << 20))
    first = await push(target, ws)
    assert first.bytes_sent > 3 << 20  # stored, not packed
    await assert_same_tree(target, ws, first.remote_dir)
    write(ws, "data/weights.bin", os.urandom(3 << 20))
    edit_one_file(ws)
    again = await push(target, ws)
    assert again.files_sent == 2
    await assert_same_tree(target, ws, first.remote_dir)


def record_packing(monkeypatch) -> list[str]:
    """How each push packed its stream (write_tar's `packing`), the real writer still doing the work."""
    from mcp_bifrost.ops.push import stream

    seen: list[str] = []
    real = stream.write_tar

    def spy(*args, packing: str = stream.GZIP, **kwargs):
        seen.append(packing)
        return real(*args, packing=packing, **kwargs)

    monkeypatch.setattr(stream, "write_tar", spy)
    return seen


async def test_a_target_with_zstd_gets_a_zstd_stream_that_makes_the_trees_equal(
    target, tmp_path, monkeypatch
):
    """zstd packs source text ~8x faster than gzip here; every kind of entry must come through it."""
    seen = record_packing(monkeypatch)
    ws = make_workspace(tmp_path)
    write(ws, "data/weights.bin", os.urandom(300_000))  # incompressible: raw blocks inside the frame
    first = await push(target, ws)
    await assert_same_tree(target, ws, first.remote_dir)
    edit_one_file(ws)
    (ws / "src" / "add.py").unlink()
    await push(target, ws)
    await assert_same_tree(target, ws, first.remote_dir)
    assert seen == ["zstd", "zstd"]


def path_without(tmp_path: Path, missing: str) -> str:
    """A PATH with every program of /usr/bin and /bin but `missing`: a target where it is not installed."""
    bin_dir = tmp_path / f"bin-without-{missing}"
    bin_dir.mkdir()
    for folder in ("/usr/bin", "/bin"):
        for name in os.listdir(folder):
            if name != missing and not (bin_dir / name).exists():
                os.symlink(os.path.join(folder, name), bin_dir / name)
    return str(bin_dir)


async def test_a_target_without_zstd_gets_gzip(local_target, tmp_path, monkeypatch):
    """No `zstd` on the target: push.sh does not offer it, and the client packs with gzip as before."""
    seen = record_packing(monkeypatch)
    monkeypatch.setenv("PATH", path_without(tmp_path, "zstd"))  # the local target's commands inherit it
    ws = make_workspace(tmp_path)
    first = await push(local_target, ws)
    await assert_same_tree(local_target, ws, first.remote_dir)
    edit_one_file(ws)
    await push(local_target, ws)
    await assert_same_tree(local_target, ws, first.remote_dir)
    assert seen == ["", ""]
