"""Tool arguments are strict: unknown names refused with the valid ones, hostile values refused with a
sentence before anything runs, pydantic's own text (URLs) never reaches the client."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from mcp_bifrost.config import load_config
from mcp_bifrost.server import build_server
from tests.support.configs import write_config

pytestmark = pytest.mark.anyio


@pytest.fixture
def local_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "config.toml", None, str(tmp_path / "wd"))


def _text(result) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def test_a_misspelt_argument_is_refused_over_stdio_not_run_with_the_default(local_config, tmp_path):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_bifrost", "serve", "-w", str(tmp_path), "--config", str(local_config)],
    )
    started = time.monotonic()
    async with Client(params) as client:
        result = await client.call_tool("exec", {"command": "sleep 3; touch ran", "timeout": 1})
    assert result.is_error
    text = _text(result)
    assert "'timeout'" in text and "timeout_s" in text and "command" in text
    assert time.monotonic() - started < 20
    assert not list((tmp_path / "wd-local").rglob("ran"))


NUL_CALLS = [
    ("exec", {"command": "echo a\x00b"}),
    ("exec", {"command": "true", "cwd": "a\x00"}),
    ("exec", {"command": "true", "env": {"X": "a\x00b"}}),
    ("exec", {"command": "true", "env": {"X\x00": "1"}}),
    ("exec", {"command": "true", "target": "lo\x00cal"}),
    ("job_status", {"job_id": "local:x\x00"}),
    ("job_logs", {"job_id": "x\x00"}),
    ("job_cancel", {"job_id": "x\x00"}),
    ("push", {"remote_dir": "a\x00"}),
    ("push", {"local_dir": "a\x00"}),
    ("copy_files", {"remote_paths": ["a\tb"], "local_dir": "out"}),
    ("copy_files", {"remote_paths": ["a\nb"], "local_dir": "out"}),
    ("copy_files", {"remote_paths": ["a"], "local_dir": "o\x00ut"}),
    ("run_smoke_test", {"problem": "kernels/x\x00", "candidate": "c.py"}),
    ("run_smoke_test", {"problem": "kernels/x", "candidates": ["c\x00.py"]}),
    ("profile_ncu", {"problem": "p", "candidate": "c\x00.py"}),
    ("profile_ncu", {"problem": "p", "candidate": "c.py", "kernel_regex": "a\x00"}),
    ("history", {"problem": "p\x00"}),
]


async def test_nul_and_control_characters_are_refused_in_every_string_argument(local_config, tmp_path):
    async with Client(build_server(load_config(local_config), tmp_path)) as client:
        for tool, args in NUL_CALLS:
            result = await client.call_tool(tool, args)
            assert result.is_error, (tool, args)
            text = _text(result)
            assert "control characters cannot be passed" in text, (tool, args, text)
        ok = await client.call_tool("exec", {"command": "printf 'a\\tb\\n'\necho two"})
    assert ok.structured_content["exit_code"] == 0


async def test_sizes_and_timeouts_are_bounded_with_the_bound_in_the_message(local_config, tmp_path):
    async with Client(build_server(load_config(local_config), tmp_path)) as client:
        big = await client.call_tool("exec", {"command": "true #" + "x" * (129 * 1024)})
        huge_timeouts = [
            await client.call_tool("exec", {"command": "echo alive", "timeout_s": t}) for t in (3e9, 1e10)
        ]
        smoke = await client.call_tool(
            "run_smoke_test", {"problem": "p", "candidate": "c.py", "timeout_s": 0}
        )
        fine = await client.call_tool("exec", {"command": "echo alive", "timeout_s": 30})
    assert big.is_error and "102,400 bytes" in _text(big)
    for r in huge_timeouts:
        assert r.is_error and "604800" in _text(r), _text(r)
    assert smoke.is_error and "timeout_s" in _text(smoke)
    assert fine.structured_content["stdout"] == "alive\n"


async def test_validation_errors_are_sentences_without_pydantic_urls(local_config, tmp_path):
    async with Client(build_server(load_config(local_config), tmp_path)) as client:
        wrong_type = await client.call_tool("exec", {"command": "true", "timeout_s": "soon"})
        missing = await client.call_tool("exec", {})
        bad_tail = await client.call_tool("job_logs", {"job_id": "x", "tail_lines": 0})
    for r in (wrong_type, missing, bad_tail):
        text = _text(r)
        assert r.is_error and "pydantic" not in text and "http" not in text, text
        assert "invalid arguments" in text
    assert "`command` is required" in _text(missing)
    assert "`timeout_s`" in _text(wrong_type) and "`tail_lines`" in _text(bad_tail)


async def test_push_describes_remote_dir_as_relative_to_the_twin(local_config, tmp_path):
    async with Client(build_server(load_config(local_config), tmp_path)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    remote_dir = tools["push"].input_schema["properties"]["remote_dir"]["description"]
    assert "relative to this workspace's twin" in remote_dir
    exec_props = tools["exec"].input_schema["properties"]
    assert (
        "600" in exec_props["timeout_s"]["description"]
        and "seconds" in exec_props["timeout_s"]["description"]
    )


def _nul_variants(schema: dict) -> list:
    """For one property's JSON schema, values that carry a NUL where it takes text (none if it takes none)."""
    options = schema.get("anyOf", [schema])
    found = []
    for option in options:
        kind = option.get("type")
        if kind == "string":
            found.append("a\x00b")
        elif kind == "array" and option.get("items", {}).get("type") == "string":
            found.append(["ok", "a\x00b"])
        elif kind == "object":
            found += [{"X": "a\x00b"}, {"X\x00": "1"}]
    return found


async def test_every_text_argument_of_every_tool_refuses_a_nul_with_a_sentence(local_config, tmp_path):
    # issue 20.1: derived from the tools' own schemas, so a new tool or argument is covered when it appears
    required_defaults = {
        "command": "true",
        "problem": "p",
        "candidate": "c.py",
        "job_id": "20261125-093012-a1b2c3",
        "remote_paths": ["a"],
        "local_dir": "out",
    }
    checked = 0
    async with Client(build_server(load_config(local_config), tmp_path)) as client:
        for tool in (await client.list_tools()).tools:
            props = tool.input_schema.get("properties", {})
            base = {k: required_defaults[k] for k in tool.input_schema.get("required", [])}
            for name, schema in props.items():
                for value in _nul_variants(schema):
                    result = await client.call_tool(tool.name, {**base, name: value})
                    assert result.is_error, (tool.name, name, value)
                    assert "control characters cannot be passed" in _text(result), (
                        tool.name,
                        name,
                        _text(result),
                    )
                    checked += 1
    assert checked >= 20
