"""Safety rules seen through the real MCP client (in memory): where copy_files may write on this
machine, and results that carry any file name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mcp import Client

from mcp_bifrost.ops.workspace import workspace_name
from mcp_bifrost.server import build_server
from tests.support.configs import local_only

pytestmark = pytest.mark.anyio


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


async def _make_remote_file(client: Client) -> None:
    made = await client.call_tool("exec", {"command": "echo result > out.txt"})
    assert made.structured_content["exit_code"] == 0


@pytest.mark.parametrize("where", ["ABS", "../outside", "results/../../outside", "link_out"])
async def test_copy_files_refuses_to_write_outside_the_workspace(tmp_path, workspace, where):
    # issue 13.6: copy_files wrote and overwrote anywhere on the client machine
    outside = tmp_path / "outside"
    os.symlink(outside, workspace / "link_out")
    local_dir = str(outside) if where == "ABS" else where
    async with Client(build_server(local_only(tmp_path), workspace)) as client:
        await _make_remote_file(client)
        refused = await client.call_tool("copy_files", {"remote_paths": ["out.txt"], "local_dir": local_dir})
    assert refused.is_error and "inside the workspace" in refused.content[0].text
    assert "copy_roots" in refused.content[0].text
    assert not outside.exists()


async def test_copy_files_writes_inside_the_workspace_and_configured_copy_roots(tmp_path, workspace):
    extra = tmp_path / "fetched"
    async with Client(build_server(local_only(tmp_path, copy_roots=[str(extra)]), workspace)) as client:
        await _make_remote_file(client)
        inside = await client.call_tool("copy_files", {"remote_paths": ["out.txt"], "local_dir": "results"})
        allowed = await client.call_tool(
            "copy_files", {"remote_paths": ["out.txt"], "local_dir": str(extra / "a")}
        )
    assert not inside.is_error and not allowed.is_error, (inside.content, allowed.content)
    assert (workspace / "results/out.txt").read_text() == "result\n"
    assert (extra / "a/out.txt").read_text() == "result\n"


async def test_a_push_of_a_non_utf8_file_name_is_reported_as_what_it_did(tmp_path, workspace):
    # issue 13.9: "Error executing tool push" although the push was applied
    name = os.fsdecode(b"caf\xe9.txt")
    (workspace / name).write_text("x\n")
    os.symlink("/etc/passwd", workspace / os.fsdecode(b"link\xff"))
    async with Client(build_server(local_only(tmp_path), workspace)) as client:
        dry = await client.call_tool("push", {"dry_run": True})
        done = await client.call_tool("push", {})
    assert not dry.is_error and not done.is_error, (dry.content, done.content)
    assert dry.structured_content["sent"] == ["caf\\xe9.txt"]
    assert done.structured_content["files_sent"] == 1
    assert done.structured_content["refused"][0].startswith("link\\xff: symlink to /etc/passwd")
    remote = tmp_path / "remote-wd" / "workspaces" / workspace_name(str(workspace))
    assert os.listdir(os.fsencode(remote)) == [b"caf\xe9.txt"]


@pytest.mark.parametrize("where", ["/etc", "../outside", "link_out"])
async def test_push_reads_only_the_workspace_and_configured_push_roots(tmp_path, workspace, where):
    # issue 19.3: push(local_dir="/etc") sent /etc/shadow to the GPU host
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s\n")
    os.symlink(outside, workspace / "link_out")
    async with Client(build_server(local_only(tmp_path), workspace)) as client:
        refused = await client.call_tool("push", {"local_dir": where})
        assert refused.is_error and "push may not read" in refused.content[0].text
        assert "push_roots" in refused.content[0].text
    async with Client(build_server(local_only(tmp_path, push_roots=[str(outside)]), workspace)) as client:
        allowed = await client.call_tool("push", {"local_dir": str(outside)})
    assert not allowed.is_error and allowed.structured_content["files_sent"] == 1
