"""One workspace model: a relative path means the same folder in exec, push and copy_files."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_bifrost.app import Bifrost
from mcp_bifrost.config import load_config
from mcp_bifrost.errors import ConfigError, PathNotFound, PathOutsideWorkdir, UnsafePath
from mcp_bifrost.ops.workspace import RemoteWorkspace, workspace_name
from mcp_bifrost.requests import CopyRequest, ExecRequest, PushRequest
from tests.conftest import make_workdir
from tests.support.configs import write_config

pytestmark = pytest.mark.anyio
WS = RemoteWorkspace("gpu", "/w", "/w/workspaces/proj", Path("/home/me/proj"))


@pytest.fixture
def app_config(tmp_path, sshd, tmp_path_factory):
    return load_config(
        write_config(tmp_path / "config.toml", sshd, make_workdir(tmp_path_factory, sshd.user))
    )


@pytest.mark.parametrize("target_name", ["local", "gpu"])
async def test_one_relative_path_means_one_folder_in_push_exec_and_copy_files(
    target_name, app_config, tmp_path
):
    workspace = tmp_path / "proj"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "sub" / "a.txt").write_text("alpha\n")
    app = Bifrost(app_config, workspace)
    try:
        pushed = await app.push(PushRequest(target=target_name, local_dir="sub"))
        seen = await app.exec(ExecRequest(command="cat a.txt; pwd", target=target_name, cwd="sub"))
        assert seen.stdout.splitlines() == ["alpha", pushed.remote_dir]
        await app.exec(ExecRequest(command="echo made-there > b.txt", target=target_name, cwd="sub"))
        got = await app.copy_files(
            CopyRequest(remote_paths=["sub/b.txt"], local_dir="back", target=target_name)
        )
        assert (workspace / "back" / "b.txt").read_text() == "made-there\n"
        assert got.remote_paths == [pushed.remote_dir + "/b.txt"]
        # a push of the whole workspace lands in the twin that exec runs in by default
        whole = await app.push(PushRequest(target=target_name))
        assert (
            await app.exec(ExecRequest(command="pwd; cat sub/a.txt", target=target_name))
        ).stdout.splitlines() == [
            whole.remote_dir,
            "alpha",
        ]
        assert pushed.remote_dir == whole.remote_dir + "/sub"
    finally:
        await app.close()


async def test_exec_in_a_folder_that_does_not_exist_says_so(app_config, tmp_path):
    app = Bifrost(app_config, tmp_path)
    try:
        with pytest.raises(PathNotFound, match="does not exist"):
            await app.exec(ExecRequest(command="true", target="local", cwd="no/such/folder"))
    finally:
        await app.close()


def test_a_workspace_that_does_not_exist_is_refused_not_created(app_config, tmp_path):
    with pytest.raises(ConfigError, match="not an existing folder"):
        Bifrost(app_config, tmp_path / "nosuchws")
    assert not (tmp_path / "nosuchws").exists()


@pytest.mark.parametrize(
    "path, expected",
    [
        (None, "/w/workspaces/proj"),
        (".", "/w/workspaces/proj"),
        ("sub/x", "/w/workspaces/proj/sub/x"),
        ("/opt/data", "/opt/data"),
        ("~/data", "~/data"),
    ],
)
def test_exec_cwd_rule(path, expected):
    assert WS.cwd(path) == expected


def test_exec_cwd_may_not_climb_out_of_the_twin_by_accident():
    with pytest.raises(PathOutsideWorkdir, match="climbs out"):
        WS.cwd("../other")


@pytest.mark.parametrize("path", ["../other/x", "/etc/passwd", "~/x", "", "/w2/x"])
def test_transfers_stay_inside_the_workdir(path):
    with pytest.raises(UnsafePath):
        WS.transfer_path(path)


@pytest.mark.parametrize(
    "remote_dir", ["/w", "/w/workspaces", "/w/jobs", "/w/jobs/x", "/w/.push", "..", "../.."]
)
def test_push_never_targets_the_workdir_the_workspaces_root_jobs_or_our_state(remote_dir):
    with pytest.raises(UnsafePath):
        WS.push_destination(remote_dir, Path("/home/me/proj"))


def test_push_destinations_follow_the_local_layout():
    assert WS.push_destination(None, Path("/home/me/proj")) == "/w/workspaces/proj"
    assert WS.push_destination(None, Path("/home/me/proj/src")) == "/w/workspaces/proj/src"
    assert (
        WS.push_destination(None, Path("/elsewhere/lib"))
        == f"/w/workspaces/{workspace_name('/elsewhere/lib')}"
    )
    assert WS.push_destination("out", Path("/home/me/proj")) == "/w/workspaces/proj/out"
    assert WS.push_destination("/w/workspaces/other", Path("/home/me/proj")) == "/w/workspaces/other"


def test_twin_names_carry_the_projects_path_and_keep_unicode():
    a, b = workspace_name("/home/a/proj"), workspace_name("/home/b/proj")
    assert a.startswith("proj-") and b.startswith("proj-") and a != b
    assert workspace_name("/home/a/proj/") == a  # one folder, one name
    assert workspace_name("/x/ядро ünï").startswith("ядро_ünï-")
    assert workspace_name("/x/a b") != workspace_name("/x/a_b")  # mapped alike, told apart by the hash
    assert workspace_name("/home/a/proj", project="kernels") == "kernels"


async def test_two_projects_with_one_folder_name_get_twins_of_their_own(app_config, tmp_path):
    apps = []
    for side in ("a", "b"):
        ws = tmp_path / side / "proj"
        ws.mkdir(parents=True)
        (ws / f"only_in_{side}.py").write_text(side)
        apps.append(Bifrost(app_config, ws))
    try:
        for app in apps:
            await app.push(PushRequest(target="gpu"))
        listed = [(await app.exec(ExecRequest(command="ls", target="gpu"))).stdout.split() for app in apps]
        report = await apps[0].targets()
    finally:
        for app in apps:
            await app.close()
    assert listed == [["only_in_a.py"], ["only_in_b.py"]]
    assert report.twin == workspace_name(str(tmp_path / "a" / "proj")) and report.workspace == str(
        tmp_path / "a" / "proj"
    )
