"""`mcp-bifrost demo`: what an agent sees, as a real MCP session over stdio with `mcp-bifrost serve`."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from rich.console import Console
from rich.panel import Panel

STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("What targets are configured, and are they healthy?", "targets", {}),
    ("Send the working tree (uncommitted edits too) to the target", "push", {}),
    ("Nothing changed: the next push costs one round trip", "push", {}),
    (
        "Run a command in the workspace twin",
        "exec",
        {"command": "echo hello from $(hostname); python3 --version; pwd; ls | head -5"},
    ),
    ("A missing command is a result (exit 127), not a crash", "exec", {"command": "no-such-tool --version"}),
    ("A timeout kills the whole process group", "exec", {"command": "sleep 30 & sleep 30", "timeout_s": 1}),
    (
        "Long runs go to the background as jobs",
        "exec",
        {"command": "for i in 1 2 3; do echo step $i; sleep 0.3; done", "background": True},
    ),
]


# The kernel loop: check an honest and a cheating candidate on the `local` target, then the history.
PROBLEM = "kernels/vectoradd"
LOOP_STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("Which kernel problems does the workspace hold?", "problems", {}),
    (
        "Smoke test an honest Triton candidate (pushes first; on a CPU-only machine Triton runs interpreted)",
        "run_smoke_test",
        {"problem": PROBLEM, "candidate": "kernels/vectoradd/examples/submission_triton.py"},
    ),
    (
        "Edit nothing, test another candidate: the worker is warm now",
        "run_smoke_test",
        {"problem": PROBLEM, "candidate": "kernels/vectoradd/examples/submission_torch.py"},
    ),
    (
        "A cheating candidate (right answer, but it clobbers an input) is flagged",
        "run_smoke_test",
        {
            "problem": PROBLEM,
            "candidate": "tests/harness/candidates/cheats/input_mutation.py",
            "mode": "test",
        },
    ),
    ("Every result is remembered: the history and the best so far", "history", {"problem": PROBLEM}),
]
# Shown from a smoke report: the line an agent reads first, and what backs it.
SMOKE_KEYS = (
    "summary",
    "status",
    "runner",
    "cases_passed",
    "cases_total",
    "speedup",
    "candidate_us",
    "reference_us",
    "flags",
    "device",
    "duration_s",
)


def _show(console: Console, title: str, tool: str, args: dict[str, Any], result) -> dict[str, Any] | None:
    body = (
        result.structured_content
        if result.structured_content is not None
        else [c.text for c in result.content]
    )
    if tool == "run_smoke_test" and isinstance(body, dict):
        body = {k: body.get(k) for k in SMOKE_KEYS}
    elif tool == "history" and isinstance(body, dict):
        body = body["table"] + "\n\nbest so far: " + (body["best"]["summary"] if body.get("best") else "none")
    elif tool == "problems" and isinstance(body, dict):
        body = {p["path"]: {"format": p["format"], "benchmarks": p["benchmarks"]} for p in body["problems"]}
    style = "red" if result.is_error else "green"
    text = json.dumps(body, indent=2, ensure_ascii=False) if not isinstance(body, str) else body
    # wrapped, never cropped: the CLI's console keeps sentences whole (soft_wrap), which would cut a
    # panel's long lines (a smoke summary) at the panel's edge
    console.print(
        Panel(text[:3000], title=f"{title}\n[bold]{tool}[/bold]({json.dumps(args)})", border_style=style),
        soft_wrap=False,
    )
    return result.structured_content


def _demo_config(folder: Path) -> Path:
    """Without a config: the `local` target runs the harness with this Python (make setup gives it CPU
    torch), and the history of this demo is kept apart from yours."""
    path = folder / "config.toml"
    path.write_text(
        f'history_db = "{folder / "history.sqlite3"}"\n\n[targets.local]\nkind = "local"\n'
        f'python = "{sys.executable}"\nworkdir = "{folder / "workdir"}"\n'
    )
    return path


async def run_demo(console: Console, workspace: Path, config: Path | None) -> int:
    scratch = tempfile.TemporaryDirectory(prefix="bifrost-demo-")
    with scratch:
        return await _run_demo(console, workspace, config or _demo_config(Path(scratch.name)))


async def _run_demo(console: Console, workspace: Path, config: Path | None) -> int:
    argv = ["-m", "mcp_bifrost", "serve", "--workspace", str(workspace)]
    if config:
        argv += ["--config", str(config)]
    env = {
        k: v
        for k, v in os.environ.items()
        if k in ("HOME", "PATH", "USER", "LOGNAME", "SHELL", "TERM", "BIFROST_CONFIG", "BIFROST_STATE_DIR")
    }
    params = StdioServerParameters(command=sys.executable, args=argv, env=env)
    console.rule("mcp-bifrost demo: an MCP client talking to `mcp-bifrost serve` over stdio")
    async with Client(params) as client:
        tools = await client.list_tools()
        console.print("tools: " + ", ".join(t.name for t in tools.tools))
        job_id = None
        for title, tool, args in STEPS:
            started = time.monotonic()
            result = await client.call_tool(tool, args)
            data = _show(console, f"{title} ({time.monotonic() - started:.2f} s)", tool, args, result)
            if tool == "exec" and args.get("background") and data:
                job_id = data["job_id"]
        if job_id:
            while (status := await client.call_tool("job_status", {"job_id": job_id})).structured_content[
                "state"
            ] == "running":
                await anyio.sleep(0.3)
            _show(
                console,
                "The job finished; its state survives a server restart",
                "job_status",
                {"job_id": job_id},
                status,
            )
            logs = await client.call_tool("job_logs", {"job_id": job_id, "tail_lines": 10})
            _show(console, "Its output", "job_logs", {"job_id": job_id, "tail_lines": 10}, logs)
        console.rule("the kernel loop: problems -> smoke test -> history")
        for title, tool, args in LOOP_STEPS:
            started = time.monotonic()
            result = await client.call_tool(tool, args)
            _show(console, f"{title} ({time.monotonic() - started:.2f} s)", tool, args, result)
    console.rule("done: every call above is in the audit log")
    return 0
