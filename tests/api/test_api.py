"""The Python API (mcp_bifrost.GPU, GPUSync) against the real sshd and the local target: the tools'
models back, output lines streamed while the command runs, a cancelled call's process group killed
on the target, the audit log written, and the blocking facade from a script and from a running loop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import anyio
import pytest

import mcp_bifrost
from mcp_bifrost import GPU, GPUSync
from mcp_bifrost.errors import CommandError
from tests.loop.conftest import HONEST, WRONG
from tests.support.procs import alive

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]
TARGETS = ["local", "gpu"]  # the local target, and the real sshd


def audit_calls(config: Path) -> dict[str, dict[str, dict]]:
    """call id -> {"start": entry, "end": entry}, from the audit log the config names."""
    found: dict[str, dict[str, dict]] = {}
    path = config.parent / "audit.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        entry = json.loads(line)
        found.setdefault(entry["call"], {})[entry["event"]] = entry
    return found


def shared_dir() -> Path:
    """A folder both this test and the target's user can write (the sshd runs on this machine)."""
    path = Path(tempfile.mkdtemp(prefix="bifrost-api-"))
    os.chmod(path, 0o777)
    return path


async def wait_for_file(path: Path, within_s: float = 20.0) -> str:
    with anyio.fail_after(within_s):
        while not (path.exists() and path.read_text().strip()):
            await anyio.sleep(0.05)
    return path.read_text().strip()


async def gone(pids: list[int], within_s: float = 15.0) -> None:
    with anyio.fail_after(within_s):
        while any(alive(p) for p in pids):
            await anyio.sleep(0.05)


@pytest.mark.parametrize("name", TARGETS)
async def test_exec_returns_the_tools_model_and_writes_the_audit_entries(loop_config, workspace, name):
    async with GPU(loop_config, workspace) as gpu:
        result = await gpu.exec("echo out; echo err >&2; exit 3", target=name, env={"TOKEN": "hunter2"})
        with pytest.raises(CommandError, match="NUL"):
            await gpu.exec("echo \x00", target=name)
    assert isinstance(result, mcp_bifrost.ExecResult)
    assert (result.exit_code, result.stdout, result.stderr, result.target) == (3, "out\n", "err\n", name)
    pairs = list(audit_calls(loop_config).values())
    assert [set(p) for p in pairs] == [{"start", "end"}] * 2
    ran, refused = pairs
    assert {e["surface"] for p in pairs for e in p.values()} == {"api"}
    assert ran["start"]["tool"] == "exec" and ran["start"]["target"] == name
    assert ran["start"]["arguments"]["env"] == ["TOKEN"]  # names only, as the server logs them
    assert ran["end"]["result"]["exit_code"] == 3
    assert "NUL" in refused["end"]["error"]
    assert "hunter2" not in (loop_config.parent / "audit.jsonl").read_text()


@pytest.mark.parametrize("name", TARGETS)
async def test_exec_stream_yields_lines_in_order_while_the_command_still_runs(loop_config, workspace, name):
    gate = shared_dir() / "go"
    # the command cannot print `second` until the test has read `first` and opened the gate
    command = (
        f"echo first; while [ ! -e {gate} ]; do sleep 0.05; done; echo second; echo third >&2; "
        "printf 'no newline'"
    )
    async with GPU(loop_config, workspace) as gpu:
        lines = []
        with anyio.fail_after(30):
            async with gpu.exec_stream(command, target=name) as stream:
                async for line in stream:
                    lines.append(line)
                    if line.text == "first":
                        gate.touch()
    assert lines[0] == mcp_bifrost.OutputLine("stdout", "first")
    stdout = [line.text for line in lines if line.stream == "stdout"]
    assert stdout == ["first", "second", "no newline"]
    assert [line.text for line in lines if line.stream == "stderr"] == ["third"]
    assert stream.result is not None and stream.result.exit_code == 0
    assert [p["end"]["tool"] for p in audit_calls(loop_config).values()] == ["exec_stream"]


@pytest.mark.parametrize("name", TARGETS)
async def test_a_cancelled_exec_kills_the_remote_process_group(loop_config, workspace, name):
    folder = shared_dir()
    async with GPU(loop_config, workspace) as gpu:
        task = asyncio.ensure_future(
            gpu.exec(f"echo $$ > {folder}/shell; sleep 300 & echo $! > {folder}/child; wait", target=name)
        )
        pids = [int(await wait_for_file(folder / "shell")), int(await wait_for_file(folder / "child"))]
        assert all(alive(p) for p in pids)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await gone(pids)
    (pair,) = audit_calls(loop_config).values()
    assert pair["end"]["error"].startswith("CancelledError")


@pytest.mark.parametrize("name", TARGETS)
async def test_leaving_an_exec_stream_early_kills_the_remote_process_group(loop_config, workspace, name):
    async with GPU(loop_config, workspace) as gpu:
        async with gpu.exec_stream("echo $$; sleep 300 & echo $!; wait", target=name) as stream:
            pids = [int((await stream.__anext__()).text), int((await stream.__anext__()).text)]
            assert all(alive(p) for p in pids)
        await gone(pids)


async def test_background_jobs_are_listed_read_and_cancelled(loop_config, workspace):
    async with GPU(loop_config, workspace) as gpu:
        started = await gpu.exec("echo started; sleep 300", target="gpu", background=True)
        assert started.job_id and started.job_id.startswith("gpu:") and started.exit_code is None
        assert started.job_id in [j.job_id for j in await gpu.list_jobs(target="gpu")]
        with anyio.fail_after(20):
            while "started" not in (logs := await gpu.job_logs(started.job_id)).stdout:
                await anyio.sleep(0.1)
        assert logs.state == "running"
        cancelled = await gpu.job_cancel(started.job_id)
        assert cancelled.was_running and cancelled.survivors == 0
        assert (await gpu.job_status(started.job_id)).state == "killed"
    tools = [p["start"]["tool"] for p in audit_calls(loop_config).values()]
    assert tools[:1] + tools[-2:] == ["exec", "job_cancel", "job_status"]
    assert all(p["start"]["target"] == "gpu" for p in audit_calls(loop_config).values())


@pytest.mark.parametrize("name", TARGETS)
async def test_push_and_copy_files_round_trip(loop_config, workspace, name):
    (workspace / "notes.txt").write_text("from the workspace\n")
    async with GPU(loop_config, workspace) as gpu:
        pushed = await gpu.push(target=name)
        assert pushed.files_sent > 0
        assert (await gpu.exec("cat notes.txt > back.txt", target=name)).exit_code == 0
        copied = await gpu.copy_files(["back.txt"], "fetched", target=name)
    assert copied.files_copied == 1
    assert (workspace / "fetched" / "back.txt").read_text() == "from the workspace\n"


async def test_smoke_tests_history_and_problems_on_the_local_target(loop_config, workspace):
    async with GPU(loop_config, workspace) as gpu:
        one = await gpu.run_smoke_test("vectoradd", HONEST, target="local", mode="test")
        many = await gpu.run_smoke_tests(
            "vectoradd", [HONEST, WRONG], target="local", mode="test", push=False
        )
        history = await gpu.history("vectoradd")
        found = await gpu.problems()
        assert gpu.last_report is not None
    assert isinstance(one, mcp_bifrost.SmokeReport) and one.passed, one.summary
    assert isinstance(many, mcp_bifrost.FanoutSmokeReport)
    assert many.ranking == [HONEST] and len(many.failed) == 1
    assert len(history.entries) == 3
    assert "vectoradd" in [p.path for p in found.problems]
    tools = [p["end"]["tool"] for p in audit_calls(loop_config).values()]
    assert tools == ["run_smoke_test", "run_smoke_test", "history", "problems"]


SCRIPT = """
import sys
from mcp_bifrost import GPUSync

with GPUSync(sys.argv[1], sys.argv[2]) as gpu:
    print(gpu.exec("echo hello from $((6 * 7))", target=sys.argv[3]).stdout.strip())
    print([line.text for line in gpu.exec_stream("echo a; echo b", target=sys.argv[3])])
    print(gpu.targets().default_target)
"""


@pytest.mark.parametrize("name", TARGETS)
def test_the_sync_facade_works_from_a_plain_script(loop_config, workspace, name, tmp_path):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    ran = subprocess.run(
        [sys.executable, str(script), str(loop_config), str(workspace), name],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["hello from 42", "['a', 'b']", "gpu"]
    assert [p["end"]["tool"] for p in audit_calls(loop_config).values()] == ["exec", "exec_stream", "targets"]


INTERRUPTED = """
import sys
from mcp_bifrost import GPUSync

with GPUSync(sys.argv[1], sys.argv[2]) as gpu:
    gpu.exec(f"echo $$ > {sys.argv[4]}/shell; sleep 300 & echo $! > {sys.argv[4]}/child; wait", target=sys.argv[3])
"""


@pytest.mark.parametrize("name", TARGETS)
async def test_ctrl_c_in_a_sync_script_kills_the_remote_process_group(loop_config, workspace, name, tmp_path):
    folder = shared_dir()
    script = tmp_path / "script.py"
    script.write_text(INTERRUPTED)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(loop_config),
        str(workspace),
        name,
        str(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        pids = [int(await wait_for_file(folder / "shell")), int(await wait_for_file(folder / "child"))]
        proc.send_signal(signal.SIGINT)
        with anyio.fail_after(60):
            _, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
    assert b"KeyboardInterrupt" in stderr
    await gone(pids, within_s=1.0)  # gone before the script exited, not merely soon after
    (pair,) = audit_calls(loop_config).values()
    assert pair["end"]["error"].startswith("CancelledError")


async def test_the_sync_facade_works_inside_a_running_event_loop(loop_config, workspace):
    asyncio.get_running_loop()  # as in a Jupyter cell: this thread's loop is running
    with GPUSync(loop_config, workspace) as gpu:
        assert gpu.exec("echo in a notebook", target="gpu").stdout == "in a notebook\n"
        assert [line.text for line in gpu.exec_stream("echo x", target="local")] == ["x"]
        assert sorted(gpu._gpu._app.pool._live) == ["gpu", "local"]
    assert gpu._gpu._app.pool._live == {} and not gpu._thread.is_alive()  # closing it closed the client
    with pytest.raises(RuntimeError, match="closed"):
        gpu.exec("true")


def test_the_sync_facade_refuses_to_be_called_from_its_own_loop(loop_config, workspace):
    with GPUSync(loop_config, workspace) as gpu:

        def inside() -> str:
            try:
                gpu.exec("true", target="local")
            except RuntimeError as exc:
                return str(exc)
            return "ran"

        said = asyncio.run_coroutine_threadsafe(asyncio.to_thread(inside), gpu._loop).result(30)
        assert said == "ran"  # another thread: fine
        future = asyncio.run_coroutine_threadsafe(_call_inline(inside), gpu._loop)
        assert "await the GPU client" in future.result(30)


async def _call_inline(fn):
    return fn()


def test_the_public_surface_is_exported_and_versioned():
    assert {"GPU", "GPUSync", "ExecResult", "SmokeReport", "OutputLine"} <= set(mcp_bifrost.__all__)
    assert all(hasattr(mcp_bifrost, name) for name in mcp_bifrost.__all__)
    major, minor, _ = (int(x) for x in mcp_bifrost.__version__.split("."))
    assert (major, minor) >= (0, 2)
    sync_methods = {n for n in dir(GPUSync) if not n.startswith("_")}
    async_methods = {n for n in dir(GPU) if not n.startswith("_")}
    assert async_methods - sync_methods == set(), "every GPU method has a blocking twin"
