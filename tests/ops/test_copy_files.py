"""copy_files against the local target and a real sshd: confined to the workdir, all or nothing."""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import subprocess
import tempfile
from pathlib import Path

import anyio
import pytest

from mcp_bifrost.config import Limits
from mcp_bifrost.errors import TransferError, TransferIncomplete, TransferTooLarge, UnsafePath
from mcp_bifrost.ops.copy_files import copy_files
from mcp_bifrost.ops.remote_command import quote, run_capture
from mcp_bifrost.ops.workspace import workdir
from tests.support.unprivileged import call_as_user, give_away, unprivileged_dir

pytestmark = pytest.mark.anyio


async def remote_workspace(target) -> str:
    """A workspace on the target holding a report, a folder of logs and links of both kinds."""
    ws = posixpath.join(await workdir(target), "workspaces", "proj")
    (
        await run_capture(
            target,
            f"""
        set -e; mkdir -p {quote(ws)}/logs/deep && cd {quote(ws)}
        printf 'report\\n' > 'run 1.ncu-rep'
        printf 'a\\n' > logs/a.log; printf 'b\\n' > logs/deep/b.log; printf '#!/bin/sh\\n' > logs/run.sh
        chmod +x logs/run.sh
        ln -s a.log logs/inside_link
        ln -s /etc/passwd logs/leak_link
        ln -s /etc/passwd leak
        ln -s logs/a.log ok_link
    """,
        )
    ).check("making the remote workspace")
    return ws


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The local folder to copy into (tmp_path itself also holds the local target's workdir)."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def tree(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "l " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()[:12] + (
                " x" if os.access(path, os.X_OK) else ""
            )
        else:
            out[rel] = "d"
    return out


async def test_copy_files_fetches_files_and_folders_under_their_names(target, out):
    ws = await remote_workspace(target)
    result = await copy_files(target, ["run 1.ncu-rep", "logs"], out, workspace_remote_dir=ws)
    got = tree(out)
    assert got["run 1.ncu-rep"] == hashlib.sha256(b"report\n").hexdigest()[:12]
    assert got["logs/deep/b.log"] == hashlib.sha256(b"b\n").hexdigest()[:12]
    assert got["logs/run.sh"].endswith(" x")
    assert got["logs/inside_link"] == "l a.log"
    assert "logs/leak_link" not in got  # a link leaving the folder is not written...
    assert any(s.startswith("logs/leak_link") for s in result.skipped)  # ...and is named
    assert result.files_copied == 4 and result.content_bytes == 7 + 2 + 2 + 10
    assert sorted(Path(p).name for p in result.local_paths) == ["logs", "run 1.ncu-rep"]


async def test_copy_files_takes_an_absolute_path_inside_the_workdir(target, out):
    ws = await remote_workspace(target)
    result = await copy_files(target, [ws + "/logs/a.log"], out, workspace_remote_dir=ws)
    assert (out / "a.log").read_text() == "a\n" and result.files_copied == 1


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "logs/../../../x", "~/.ssh/id_rsa", ""])
async def test_copy_files_refuses_paths_outside_the_workspace_or_workdir(target, out, path):
    ws = await remote_workspace(target)
    with pytest.raises(UnsafePath):
        await copy_files(target, [path], out, workspace_remote_dir=ws)
    assert list(out.iterdir()) == []


async def test_copy_files_refuses_a_symlink_that_leads_out_of_the_workdir(target, out):
    ws = await remote_workspace(target)
    with pytest.raises(UnsafePath, match="leak -> /etc/passwd"):
        await copy_files(target, ["run 1.ncu-rep", "leak"], out, workspace_remote_dir=ws)
    assert [p.name for p in out.iterdir()] == []  # checked before anything was sent


async def test_copy_files_follows_a_symlink_that_stays_inside(target, out):
    ws = await remote_workspace(target)
    await copy_files(target, ["ok_link"], out, workspace_remote_dir=ws)
    assert (out / "a.log").read_text() == "a\n"


async def test_copy_files_reports_a_missing_path(target, out):
    ws = await remote_workspace(target)
    with pytest.raises(TransferError, match="no-such-file does not exist"):
        await copy_files(target, ["no-such-file"], out, workspace_remote_dir=ws)


async def test_copy_files_refuses_more_than_the_cap_and_names_the_largest(target, out):
    ws = await remote_workspace(target)
    (await run_capture(target, f"head -c 300000 /dev/zero > {quote(ws)}/logs/big.bin")).check("big file")
    with pytest.raises(TransferTooLarge, match=r"max_copy_bytes.*logs/big\.bin \(300000 B\)"):
        await copy_files(
            target, ["logs"], out, workspace_remote_dir=ws, limits=Limits(max_copy_bytes=100_000)
        )
    assert list(out.iterdir()) == []


async def test_copy_files_overwrites_files_but_not_a_folder_in_the_way(target, out):
    ws = await remote_workspace(target)
    (out / "a.log").write_text("old\n")
    await copy_files(target, ["logs/a.log"], out, workspace_remote_dir=ws)
    assert (out / "a.log").read_text() == "a\n"
    (out / "run 1.ncu-rep").mkdir()
    with pytest.raises(TransferError, match="in the way"):
        await copy_files(target, ["run 1.ncu-rep"], out, workspace_remote_dir=ws)


async def test_a_failure_mid_transfer_leaves_no_partial_local_file(target, out):
    ws = await remote_workspace(target)
    (await run_capture(target, f"head -c 8000000 /dev/urandom > {quote(ws)}/logs/big.bin")).check("big file")

    async def fail(done: int, total: int) -> None:
        raise RuntimeError("the client went away")

    with pytest.raises(RuntimeError, match="went away"):
        await copy_files(target, ["logs"], out, workspace_remote_dir=ws, progress=fail)
    assert list(out.iterdir()) == []


async def test_a_connection_dropped_mid_transfer_leaves_no_partial_local_file(ssh_target, out):
    ws = await remote_workspace(ssh_target)
    (await run_capture(ssh_target, f"head -c 20000000 /dev/urandom > {quote(ws)}/logs/big.bin")).check("big")
    (out / "keep.txt").write_text("mine\n")

    async def drop_connection(done: int, total: int) -> None:
        await ssh_target.close()  # the pooled connection dies mid-transfer

    with pytest.raises(TransferIncomplete, match="broke off"):
        await copy_files(ssh_target, ["logs"], out, workspace_remote_dir=ws, progress=drop_connection)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    # The next call reconnects and succeeds.
    result = await copy_files(ssh_target, ["logs"], out, workspace_remote_dir=ws)
    assert (out / "logs/big.bin").stat().st_size == 20_000_000 and result.files_copied == 4


async def test_a_fetched_git_config_never_runs_on_the_client(target, tmp_path):
    """A hostile target serves a folder with a .git whose config names a program: copy_files leaves the
    .git behind, and the next push of the workspace runs nothing."""
    from mcp_bifrost.ops.push import push

    ws = await remote_workspace(target)
    marker = tmp_path / "ran"
    (
        await run_capture(
            target,
            f"""
        set -e; cd {quote(ws)} && mkdir -p results/.git/hooks && cd results
        printf 'out\\n' > out.txt
        printf '[core]\\n\\trepositoryformatversion = 0\\n\\tbare = false\\n' > .git/config
        printf '\\tfsmonitor = touch {marker}; true\\n' >> .git/config
        printf 'ref: refs/heads/main\\n' > .git/HEAD; mkdir -p .git/objects .git/refs
    """,
        )
    ).check("planting a hostile repository")
    local = tmp_path / "local-ws"
    local.mkdir()
    subprocess.run(["git", "init", "-q", str(local)], check=True)
    result = await copy_files(target, ["results"], local, workspace_remote_dir=ws)
    assert (local / "results/out.txt").read_text() == "out\n"
    assert not (local / "results/.git").exists()
    assert any(".git" in s for s in result.skipped)
    (local / "results/.git").mkdir()  # even one that arrived another way is never read by git
    (local / "results/.git/config").write_text(f"[core]\n\tfsmonitor = touch {marker}; true\n")
    (local / "results/.git/HEAD").write_text("ref: refs/heads/main\n")
    (local / "results/.git/objects").mkdir()
    (local / "results/.git/refs").mkdir()
    await push(target, local, posixpath.join(ws, "pushed"))
    assert not marker.exists(), "a program named in a fetched .git/config ran on the client"


@pytest.mark.parametrize("into", [".git/hooks", ".git", "sub/.git/info", ".vscode"])
async def test_copy_files_refuses_git_and_other_executable_config_folders_as_destination(
    target, tmp_path, into
):
    ws = await remote_workspace(target)
    local = tmp_path / "local-ws"
    with pytest.raises(UnsafePath, match="will not write into"):
        await copy_files(target, ["run 1.ncu-rep"], local / into, workspace_remote_dir=ws)
    assert not (local / into).exists()


@pytest.mark.parametrize(
    "path", ["WD", "WD/jobs", "WD/workspaces", "WD/workspaces/", "WD/.push", "link_to_wd"]
)
async def test_copy_files_refuses_the_workdir_and_the_folders_of_every_workspace_and_job(target, out, path):
    ws = await remote_workspace(target)
    wd = await workdir(target)
    (await run_capture(target, f"ln -s {quote(wd)} {quote(ws)}/link_to_wd")).check("a link to the workdir")
    with pytest.raises(UnsafePath, match="copy_files will not fetch"):
        await copy_files(target, [path.replace("WD", wd)], out, workspace_remote_dir=ws)
    assert list(out.iterdir()) == []


async def test_copy_files_refuses_a_hard_link_to_a_file_outside_the_workdir(target, out, tmp_path):
    ws = await remote_workspace(target)
    outside = Path(tempfile.mkdtemp(prefix="bifrost-outside-"))
    secret = outside / "secret"
    secret.write_text("not yours\n")
    outside.chmod(0o755)
    give_away(outside)  # the ssh user may link it (protected_hardlinks), as anyone may link a file they own
    try:
        (
            await run_capture(
                target, f"mkdir -p {quote(ws)}/res && ln {quote(str(secret))} {quote(ws)}/res/innocent.txt"
            )
        ).check("planting a hard link")
        with pytest.raises(UnsafePath, match="other hard links"):
            await copy_files(target, ["res"], out, workspace_remote_dir=ws)
    finally:
        shutil.rmtree(outside, ignore_errors=True)
    assert list(out.iterdir()) == []


def _place_into_a_partly_read_only_folder(root: str) -> dict:
    from mcp_bifrost.ops.copy_files import move_into_place

    try:
        move_into_place(Path(root, "staging"), Path(root, "local"))
    except TransferError as exc:
        return {"error": str(exc)}
    return {"error": None}


def test_a_copy_that_fails_midway_changes_nothing_and_says_so():
    """issue 20.6: one file replaced, another not, a third never created, and a bare error. As an
    unprivileged user (root writes anywhere): a.txt is replaced and c.txt made before ro/b.txt fails."""
    root = unprivileged_dir()
    for rel, text in {
        "local/a.txt": "old a",
        "local/ro/b.txt": "old b",
        "staging/a.txt": "new a",
        "staging/c.txt": "new c",
        "staging/ro/b.txt": "new b",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    give_away(root)
    (root / "local/ro").chmod(0o555)
    try:
        result = call_as_user(_place_into_a_partly_read_only_folder, str(root))
        assert result["error"] and "nothing was changed locally" in result["error"]
        assert "ro/b.txt" in result["error"]
        assert tree(root / "local") == {"a.txt": _digest("old a"), "ro": "d", "ro/b.txt": _digest("old b")}
    finally:
        (root / "local/ro").chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


async def test_the_next_copy_sweeps_the_staging_a_killed_server_left_and_keeps_a_live_ones(target, out):
    ws = await remote_workspace(target)
    stale, live = out / ".bifrost-copy-killed", out / ".bifrost-copy-live"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "partial").write_text("half")
    holder = subprocess.Popen(["flock", str(live), "sleep", "30"])  # a copy still running elsewhere
    try:
        with anyio.fail_after(10):
            while not subprocess.run(["flock", "-n", str(live), "true"]).returncode:
                await anyio.sleep(0.05)
        await copy_files(target, ["run 1.ncu-rep"], out, workspace_remote_dir=ws)
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in out.iterdir()) == [".bifrost-copy-live", "run 1.ncu-rep"]
