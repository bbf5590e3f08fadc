"""The kernel loop end to end: a real MCP client over stdio, the real sshd, a target that starts with
no gpu_harness and no PyYAML, the harness on CPU torch (Triton through its interpreter)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from mcp_bifrost.app import Bifrost
from mcp_bifrost.config import load_config
from mcp_bifrost.loop.gpu_lock import gpu_lock
from mcp_bifrost.loop.harness import bundle
from mcp_bifrost.requests import ExecRequest, PushRequest, SmokeRequest
from mcp_bifrost.server import build_server
from tests.loop.conftest import CHEAT, HONEST, TRITON, WRONG, budgeted
from tests.support.cli import bifrost
from tests.support.mcp_jobs import job_done

pytestmark = pytest.mark.anyio


def stdio(config: Path, workspace: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_bifrost", "serve", "--workspace", str(workspace), "--config", str(config)],
        env={**{k: v for k, v in os.environ.items() if k in ("HOME", "PATH", "PYTHONPATH", "USER")}},
    )


async def smoke(client: Client, candidate: str, **extra) -> dict:
    result = await client.call_tool(
        "run_smoke_test", {"problem": "vectoradd", "candidate": candidate, **extra}
    )
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def test_torch_and_triton_candidates_pass_on_a_target_that_had_no_harness(loop_config, workspace):
    workdir = load_config(loop_config).targets["gpu"].workdir
    assert not Path(workdir, "harness").exists()
    async with Client(stdio(loop_config, workspace)) as client:
        first = await smoke(client, HONEST)
        second = await smoke(client, TRITON, push=False)
    for report in (first, second):
        assert report["status"] == "passed" and report["passed"], report["summary"]
        assert report["summary"].startswith(f"PASS {report['cases_total']}/{report['cases_total']} · ")
        assert report["summary"].endswith("no flags") and "CPU, host clock" in report["summary"]
        assert report["target"] == "gpu" and report["timing"] and report["speedup"] > 0
    assert first["runner"] == "worker started" and second["runner"] == "warm worker"
    assert first["pushed_files"] > 0 and second["pushed_files"] is None
    shipped = Path(workdir, "harness", bundle().digest)
    assert (shipped / ".complete").exists() and (shipped / "yaml" / "__init__.py").exists()
    assert not list(shipped.rglob("*.so")), "PyYAML's C extension must not travel"


async def test_failing_candidate_reports_the_first_mismatch(loop_config, workspace):
    async with Client(build_server(load_config(loop_config), workspace)) as client:
        report = await smoke(client, WRONG, mode="test")
    assert report["status"] == "failed" and not report["passed"]
    assert report["summary"].startswith("FAIL 0/") and "mismatch" in report["summary"]
    bad = [c for c in report["cases"] if not c["passed"]]
    assert bad and bad[0]["reason"] == "mismatch" and bad[0]["first_mismatches"]


async def test_cheating_candidate_is_flagged(loop_config, workspace):
    async with Client(build_server(load_config(loop_config), workspace)) as client:
        report = await smoke(client, CHEAT, mode="test")
    assert not report["passed"] and "input_mutated" in {f["name"] for f in report["flags"]}
    assert report["summary"].startswith("FAIL · ") and report["summary"].endswith("flags: input_mutated")


async def test_a_killed_worker_is_restarted_and_the_report_says_so(loop_config, workspace):
    app = Bifrost(load_config(loop_config), workspace)
    try:
        first = await app.run_smoke_test(SmokeRequest(problem="vectoradd", candidate=HONEST, mode="test"))
        pid = app.harness(app.target("gpu"))._worker.pid
        killed = await app.exec(ExecRequest(command=f"kill -9 {pid}"))
        assert killed.exit_code == 0
        second = await app.run_smoke_test(
            SmokeRequest(problem="vectoradd", candidate=HONEST, mode="test", push=False)
        )
    finally:
        await app.close()
    assert first.passed and second.passed
    assert second.runner.startswith("worker restarted (the previous one had exited"), second.runner


async def test_two_smoke_tests_on_one_target_serialise_on_the_gpu_lock(loop_config, workspace):
    """Two servers (two agents) share the host's GPU: the second waits, and says for whom."""
    config = load_config(loop_config)
    config.limits.progress_interval_s = 0.2
    apps = [Bifrost(config, workspace), Bifrost(config, workspace)]
    messages: list[list[str]] = [[], []]

    def progress(i: int):
        async def report(elapsed: float, line: str) -> None:
            messages[i].append(line)

        return report

    try:
        await apps[0].push(PushRequest())
        reports = await asyncio.gather(
            *(
                app.run_smoke_test(
                    # no call budget: under CI's load the waiting run passed 45 s and became a job
                    SmokeRequest(
                        problem="vectoradd",
                        candidate=TRITON,
                        push=False,
                        progress=progress(i),
                        use_budget=False,
                    )
                )
                for i, app in enumerate(apps)
            )
        )
    finally:
        for app in apps:
            await app.close()
    assert all(r.passed for r in reports), [(r.status, r.summary, r.error, r.runner) for r in reports]
    waited = [i for i in (0, 1) if reports[i].gpu_wait_s > 0.5]
    assert len(waited) == 1, [r.gpu_wait_s for r in reports]
    other = reports[1 - waited[0]]
    assert reports[waited[0]].gpu_wait_s >= 0.5 * (other.harness_wall_s or 0)
    assert any(
        m.startswith("waiting for GPU 0, held by ") and "smoke vectoradd" in m for m in messages[waited[0]]
    )


async def test_a_target_without_a_gpu_never_waits_for_a_gpu_lock(loop_config, workspace):
    """CPU results are CPU results: once the worker has said its torch sees no GPU, a run there does not
    wait for 'GPU 0' held by another run (it waited 8 s for another user's CPU run)."""
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the lock is taken there")
    config = load_config(loop_config)
    config.limits.progress_interval_s = 0.2
    app = Bifrost(config, workspace)
    messages: list[str] = []

    async def report(elapsed: float, line: str) -> None:
        messages.append(line)

    try:
        await app.push(PushRequest())
        first = await app.run_smoke_test(
            SmokeRequest(problem="vectoradd", candidate=HONEST, mode="test", push=False)
        )
        async with gpu_lock(app.target(), 0, "another run", timeout_s=10):
            second = await asyncio.wait_for(
                app.run_smoke_test(
                    SmokeRequest(
                        problem="vectoradd", candidate=HONEST, mode="test", push=False, progress=report
                    )
                ),
                60,
            )
    finally:
        await app.close()
    assert first.passed and second.passed
    assert second.gpu_wait_s == 0 and not any("waiting for GPU" in m for m in messages), messages


async def test_profile_without_ncu_is_a_tool_error_that_says_how_to_fix_it(loop_config, workspace):
    async with Client(build_server(load_config(loop_config), workspace)) as client:
        result = await client.call_tool("profile_ncu", {"problem": "vectoradd", "candidate": HONEST})
    assert result.is_error
    text = result.content[0].text
    assert "Nsight Compute (ncu) is not on this host" in text and "put the ncu binary on PATH" in text


async def test_history_records_every_result_and_plots_progress(loop_config, workspace, tmp_path):
    async with Client(build_server(load_config(loop_config), workspace)) as client:
        await smoke(client, WRONG, mode="test")
        good = await smoke(client, HONEST, push=False)
        result = await client.call_tool("history", {"problem": "vectoradd", "plot": True})
    assert not result.is_error
    history = result.structured_content
    assert [e["candidate"] for e in history["entries"]] == [HONEST, WRONG] and history["total"] == 2
    assert history["best"]["candidate"] == HONEST and history["best"]["speedup"] == good["speedup"]
    assert history["entries"][0]["candidate_sha256"] == good["candidate_sha256"]
    assert not history["entries"][1]["passed"] and HONEST in history["table"]
    image = next(c for c in result.content if c.type == "image")
    assert image.mime_type == "image/png" and base64.b64decode(image.data).startswith(b"\x89PNG")
    png = tmp_path / "progress.png"
    where = ["--config", str(loop_config), "--workspace", str(workspace)]
    cli = bifrost("history", "vectoradd", "--plot", str(png), *where, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "best so far" in cli.stdout and HONEST in cli.stdout and png.read_bytes().startswith(b"\x89PNG")


async def test_an_over_budget_smoke_test_becomes_a_job_whose_status_carries_the_report(
    loop_config, workspace
):
    async with Client(build_server(budgeted(loop_config, 0.5), workspace)) as client:
        started = await smoke(client, TRITON)
        assert started["status"] == "running" and started["job_id"].startswith("gpu:"), started["summary"]
        assert started["summary"].startswith(f"RUNNING as job {started['job_id']}")
        status = await job_done(client, started["job_id"], 120)
        history = (await client.call_tool("history", {"problem": "vectoradd"})).structured_content
    assert status["state"] == "finished" and status["exit_code"] == 0
    report = status["report"]
    assert report["kind"] == "smoke" and report["passed"] and report["summary"].startswith("PASS")
    assert history["entries"][0]["summary"] == report["summary"]


async def test_problems_lists_the_workspace_problems_with_sizes(loop_config, workspace):
    async with Client(build_server(load_config(loop_config), workspace)) as client:
        listed = (await client.call_tool("problems", {})).structured_content
        guide = await client.read_resource("bifrost://guide/problem-format")
        prompt = await client.get_prompt("optimize_kernel", {"problem": "vectoradd"})
    (problem,) = listed["problems"]
    assert problem["path"] == "vectoradd" and problem["format"] == "gpumode"
    assert {"size": 8192, "seed": 6607} in problem["benchmarks"] and HONEST in problem["examples"]
    assert "custom_kernel(data)" in guide.contents[0].text
    assert "run_smoke_test" in prompt.messages[0].content.text


def test_a_report_of_another_schema_is_a_clear_error():
    from mcp_bifrost.errors import HarnessProtocolError
    from mcp_bifrost.loop.reports import parse_smoke

    with pytest.raises(HarnessProtocolError, match="schema 2, but this client reads schema 1"):
        parse_smoke({"schema": 2, "passed": True}, target="gpu", problem="p", candidate="c", runner="x")
    with pytest.raises(HarnessProtocolError, match="does not validate"):
        parse_smoke({"schema": 1, "passed": "maybe"}, target="gpu", problem="p", candidate="c", runner="x")


def test_reports_with_the_new_status_key_are_read_as_given():
    from mcp_bifrost.loop.reports import parse_smoke

    doc = json.loads(Path(__file__).with_name("not_run_report.json").read_text())
    report = parse_smoke(doc, target="gpu", problem="p", candidate="c", runner="x")
    assert report.status == "not_run" and report.summary.startswith("NOT RUN")


async def test_an_unprivileged_login_runs_the_loop_too(
    sshd_pool, tmp_path, tmp_path_factory, bare_python, workspace
):
    """The harness folder, the GPU lock in /tmp and the worker, as a user that is not root."""
    import pwd

    from tests.conftest import NON_ROOT_USER, make_workdir
    from tests.support.configs import write_config

    if os.getuid() != 0:
        pytest.skip("only root can create the unprivileged login's sshd here (CI runs as root)")
    try:
        pwd.getpwnam(NON_ROOT_USER)
    except KeyError:
        pytest.skip(f"no {NON_ROOT_USER} user (make setup-system creates it)")
    server = sshd_pool.get(NON_ROOT_USER)
    config = write_config(tmp_path / "config.toml", server, make_workdir(tmp_path_factory, NON_ROOT_USER))
    text = config.read_text().replace('kind = "ssh"\n', f'kind = "ssh"\npython = "{bare_python}"\n')
    config.write_text(f'history_db = "{tmp_path / "history.sqlite3"}"\n' + text)
    async with Client(build_server(load_config(config), workspace)) as client:
        report = await smoke(client, HONEST, mode="test")
    assert report["passed"] and report["runner"] == "worker started", report["summary"]
