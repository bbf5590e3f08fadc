"""problems reads untrusted task.yml files at bounded cost, and one bad problem never hides the others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from mcp_bifrost.config import Config
from mcp_bifrost.loop.problems import MAX_TASK_BYTES, find_problems
from mcp_bifrost.server import build_server

pytestmark = pytest.mark.anyio

# 563 bytes: nine levels of nine aliases each, 9**9 (387 million) values once expanded.
BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
    + "tests: [*i]\n"
)
GOOD = "description: adds\ntests:\n  - {size: 8, seed: 1}\nbenchmarks:\n  - {size: 1024, seed: 2}\n"


def problem(ws: Path, name: str, task: str | bytes) -> None:
    (ws / name).mkdir(parents=True)
    (ws / name / "task.yml").write_bytes(task.encode() if isinstance(task, str) else task)
    (ws / name / "reference.py").write_text("def ref_kernel(data):\n    return data\n")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    problem(ws, "good", GOOD)
    problem(ws, "bomb", BOMB)
    problem(ws, "a_list", "- tests\n- benchmarks\n")
    problem(ws, "bad_case", "tests:\n  - 5\n")
    problem(ws, "huge", "description: " + "x" * (MAX_TASK_BYTES + 10) + "\n")
    problem(ws, "recursive", "tests: &t [*t]\n")
    return ws


def test_an_alias_bomb_is_refused_within_a_memory_limit(workspace):
    """In a child limited to 1 GiB of address space: the bomb once allocated gigabytes."""
    code = (
        f"import resource, sys; resource.setrlimit(resource.RLIMIT_AS, ({1 << 30}, {1 << 30}))\n"
        "from pathlib import Path\nfrom mcp_bifrost.loop.problems import find_problems\n"
        f"print(find_problems(Path({str(workspace)!r})).model_dump_json())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    listed = {p["path"]: p for p in json.loads(done.stdout)["problems"]}
    assert "alias" in listed["bomb"]["error"] and listed["bomb"]["tests"] == []


def test_each_malformed_problem_is_an_error_entry_and_the_rest_are_listed(workspace):
    listed = {p.path: p for p in find_problems(workspace).problems}
    assert set(listed) == {"good", "bomb", "a_list", "bad_case", "huge", "recursive"}
    assert listed["good"].error is None and listed["good"].tests == [{"size": 8, "seed": 1}]
    assert "not a mapping" in listed["a_list"].error
    assert "list of mappings" in listed["bad_case"].error
    assert "larger than 256 KiB" in listed["huge"].error
    assert "recursive" in listed["recursive"].error


async def test_the_problems_tool_and_resource_list_a_malformed_problem_as_an_error(tmp_path, workspace):
    config = Config.model_validate(
        {
            "audit_log": str(tmp_path / "audit.jsonl"),
            "targets": {"local": {"kind": "local", "workdir": str(tmp_path / "wd")}},
        }
    )
    async with Client(build_server(config, workspace)) as client:
        tool = await client.call_tool("problems", {})
        resource = await client.read_resource("bifrost://problems")
    assert not tool.is_error, tool.content
    for listed in (tool.structured_content, json.loads(resource.contents[0].text)):
        errors = {p["path"]: p["error"] for p in listed["problems"]}
        assert errors["good"] is None and errors["bomb"] and errors["a_list"]
