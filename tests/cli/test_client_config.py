"""The printed client configuration starts the server as a client would: a bare environment (env -i with
only what the config gives), the real MCP client over stdio, the tools listed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.server.test_server_stdio import TOOLS
from tests.support.configs import write_config

pytestmark = pytest.mark.anyio


def bifrost(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcp_bifrost", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def test_the_printed_mcp_json_starts_the_server_from_a_bare_environment(tmp_path):
    config = write_config(tmp_path / "config.toml", None, str(tmp_path / "wd"))
    printed = bifrost("client-config", "--client", "mcp-json", "-w", str(tmp_path), "--config", str(config))
    assert printed.returncode == 0 and printed.stderr == "", printed.stderr
    entry = json.loads(printed.stdout)["mcpServers"]["bifrost"]
    assert Path(entry["command"]).is_absolute() and "BIFROST_CONFIG" not in entry.get("env", {})
    env = [f"{k}={v}" for k, v in entry.get("env", {}).items()]
    bare = StdioServerParameters(command="/usr/bin/env", args=["-i", *env, entry["command"], *entry["args"]])
    async with Client(bare) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        ran = await client.call_tool("exec", {"command": "echo from-a-bare-env"})
    assert tools == TOOLS
    assert ran.structured_content["stdout"] == "from-a-bare-env\n"


def test_claude_code_and_desktop_get_the_same_absolute_command(tmp_path):
    code = bifrost("client-config", "--client", "code", "-w", str(tmp_path))
    desktop = json.loads(bifrost("client-config", "--client", "desktop", "-w", str(tmp_path)).stdout)
    entry = desktop["mcpServers"]["bifrost"]
    assert code.stdout.startswith("claude mcp add bifrost ") and f" -- {entry['command']} " in code.stdout
    assert entry["args"][-2:] == ["--workspace", str(tmp_path.resolve())]


def test_a_missing_workspace_or_config_is_one_line(tmp_path):
    for args in (
        ["serve", "-w", str(tmp_path / "missing")],
        ["serve", "-w", str(tmp_path), "--config", str(tmp_path / "missing.toml")],
    ):
        done = bifrost(*args)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr and "missing" in done.stderr
