"""Fan-out of smoke tests: several candidates at once over a local target's (fake) GPUs, through the
real MCP client over stdio, the real harness workers and the real per-GPU flock. On CPU,
CUDA_VISIBLE_DEVICES is only an environment variable: each candidate logs it, with the time of every
call, so the test sees which GPU slot ran it and that no two candidates shared a slot at once."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

from mcp_bifrost.app import Bifrost
from mcp_bifrost.config import load_config
from mcp_bifrost.requests import FanoutRequest, ProfileRequest, PushRequest, SmokeRequest
from mcp_bifrost.server import build_server
from tests.loop.conftest import HONEST, WRONG, budgeted
from tests.loop.test_kernel_loop import stdio
from tests.support.cli import bifrost
from tests.support.mcp_jobs import job_done
from tests.support.servers import kill_servers_of

pytestmark = pytest.mark.anyio

LOGGING = """import os
import time

import torch

LOG = {log!r}


def custom_kernel(data):
    A, B, C = data
    with open(LOG, "a") as f:
        f.write("{name} %s %.6f\\n" % (os.environ.get("CUDA_VISIBLE_DEVICES"), time.time()))
    {body}
    return C
"""
FAST = "torch.add(A, B, out=C)"
SLOW = "time.sleep(0.002)\n    torch.add(A, B, out=C)"


SHM = Path("/dev/shm")


def calls_log(tmp_path: Path) -> Path:
    """Where the candidates log their calls: a confined candidate may write only its scratch folder,
    the compile caches and /dev (POSIX shared memory lives in /dev/shm), never tmp_path."""
    return (
        SHM / f"bifrost-calls-{os.getpid()}-{tmp_path.name}.log" if SHM.is_dir() else tmp_path / "calls.log"
    )


@pytest.fixture(autouse=True)
def _remove_calls_log(tmp_path):
    yield
    calls_log(tmp_path).unlink(missing_ok=True)


def write_candidates(ws: Path, log: Path, names: list[str], slow: set[str] = frozenset()) -> list[str]:
    paths = []
    for name in names:
        path = f"vectoradd/{name}.py"
        (ws / path).write_text(LOGGING.format(log=str(log), name=name, body=SLOW if name in slow else FAST))
        paths.append(path)
    return paths


def spans(log: Path) -> dict[str, tuple[str, float, float]]:
    """Per candidate: (CUDA_VISIBLE_DEVICES, first call, last call)."""
    seen: dict[str, tuple[str, float, float]] = {}
    for line in log.read_text().splitlines():
        name, gpu, at = line.split()
        prev = seen.get(name)
        assert prev is None or prev[0] == gpu, f"{name} moved from GPU {prev[0]} to {gpu}"
        seen[name] = (
            gpu,
            min(prev[1], float(at)) if prev else float(at),
            max(prev[2], float(at)) if prev else float(at),
        )
    return seen


def shared_slots(found: dict[str, tuple[str, float, float]]) -> list:
    return [
        (a, b)
        for (a, x), (b, y) in itertools.combinations(found.items(), 2)
        if x[0] == y[0] and x[1] < y[2] and y[1] < x[2]
    ]


def with_gpus(config: Path, gpus: str) -> Path:
    text = config.read_text().replace(
        '[targets.local]\nkind = "local"\n', f'[targets.local]\nkind = "local"\ngpus = {gpus}\n'
    )
    config.write_text(text)
    return config


async def test_six_candidates_fan_out_over_two_gpus_with_a_ranking(loop_config, workspace, tmp_path):
    config, log = with_gpus(loop_config, "[0, 1]"), calls_log(tmp_path)
    names = ["cand_a", "cand_b", "cand_c", "cand_d", "cand_e"]
    paths = write_candidates(workspace, log, names, slow={"cand_a", "cand_c"}) + [WRONG]
    seen: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message or "")

    async with Client(stdio(config, workspace)) as client:
        result = await client.call_tool(
            "run_smoke_test",
            {"problem": "vectoradd", "candidates": paths, "target": "local"},
            progress_callback=on_progress,
        )
        assert not result.is_error, result.content[0].text
        history = await client.call_tool("history", {"problem": "vectoradd", "limit": 50})
    report = result.structured_content
    assert report["kind"] == "smoke_fanout" and report["slots"] == 2
    assert [r["candidate"] for r in report["reports"]] == paths
    assert report["summary"].startswith(
        "6 candidates on the CPU (2 at a time) in "
    )  # fake GPUs: no GPU ran and report["summary"].endswith("5 pass, 1 fail")
    assert sorted(report["ranking"]) == sorted(paths[:5]) and WRONG not in report["ranking"]
    assert report["failed"] and report["failed"][0].startswith(f"{WRONG}: FAIL")
    speedups = {r["candidate"]: r["speedup"] for r in report["reports"] if r["passed"]}
    assert [speedups[c] for c in report["ranking"]] == sorted(speedups.values(), reverse=True)
    best = report["ranking"][0].rsplit("/", 1)[1]
    assert f"best {best} " in report["summary"]
    # each report says its GPU; the candidate saw that GPU as CUDA_VISIBLE_DEVICES; both GPUs served
    assert report["gpus"] == [r["device"]["gpu_index"] for r in report["reports"]]
    found = spans(log)
    for name, r in zip(names, report["reports"]):
        assert found[name][0] == str(r["device"]["gpu_index"])
    assert {g for g, _, _ in found.values()} == {"0", "1"}
    assert not shared_slots(found), "two candidates ran on one GPU at once"
    done = [m for m in seen if m.endswith(" done")]
    assert done == [f"{k}/6 done" for k in range(1, 7)], seen
    recorded = [e["candidate"] for e in history.structured_content["entries"]]
    assert all(p in recorded for p in paths), recorded


async def test_two_concurrent_fan_outs_on_one_target_never_share_a_gpu(loop_config, workspace, tmp_path):
    config, log = with_gpus(loop_config, "[0, 1]"), calls_log(tmp_path)
    first = write_candidates(workspace, log, ["one_a", "one_b", "one_c"])
    second = write_candidates(workspace, log, ["two_a", "two_b", "two_c"])
    agents = [
        Bifrost(load_config(config), workspace) for _ in range(2)
    ]  # two servers: only the flock parts them
    try:
        await agents[0].push(PushRequest(target="local"))
        reports = await asyncio.gather(
            *(
                app.run_smoke_tests(
                    FanoutRequest(
                        problem="vectoradd", candidates=cands, target="local", mode="test", push=False
                    )
                )
                for app, cands in zip(agents, (first, second))
            )
        )
    finally:
        for app in agents:
            await app.close()
    assert all(r.summary.endswith("3 pass, 0 fail") for r in reports), [r.summary for r in reports]
    found = spans(log)
    assert len(found) == 6 and not shared_slots(found), found


async def test_candidate_and_candidates_are_exclusive(loop_config, workspace):
    async with Client(build_server(load_config(loop_config), workspace)) as client:
        both = await client.call_tool(
            "run_smoke_test", {"problem": "vectoradd", "candidate": WRONG, "candidates": [WRONG]}
        )
        neither = await client.call_tool("run_smoke_test", {"problem": "vectoradd"})
    for result in (both, neither):
        assert result.is_error and "exactly one of `candidate`" in result.content[0].text


def test_cli_smoke_with_several_candidates_fans_out(loop_config, workspace, tmp_path):
    import json

    config, log = with_gpus(loop_config, "[0, 1]"), calls_log(tmp_path)
    paths = write_candidates(workspace, log, ["cli_a", "cli_b"]) + [WRONG]
    where = ["--workspace", str(workspace), "--config", str(config)]
    done = bifrost(
        "smoke", "vectoradd", *paths, "--target", "local", "--mode", "test", "--json", *where, timeout=300
    )
    assert done.returncode == 1, done.stderr  # one candidate failed
    report = json.loads(done.stdout)
    assert report["kind"] == "smoke_fanout" and report["ranking"] == paths[:2]
    assert report["summary"].endswith("2 pass, 1 fail") and "3/3 done" in done.stderr
    assert {g for g, _, _ in spans(log).values()} <= {"0", "1"}


async def test_three_candidates_fan_out_as_slurm_jobs(
    slurm_cluster, workspace, tmp_path, tmp_path_factory, bare_python
):
    from tests.conftest import make_workdir
    from tests.targets.test_slurm import cluster_config

    log = calls_log(tmp_path)
    paths = write_candidates(workspace, log, ["slurm_a", "slurm_b"]) + [WRONG]
    assert slurm_cluster.login is not None
    config = cluster_config(
        slurm_cluster, make_workdir(tmp_path_factory, slurm_cluster.login.user), python=bare_python
    )
    app = Bifrost(config, workspace)
    seen: list[str] = []

    async def progress(done: int, total: int, message: str) -> None:
        seen.append(message)

    try:
        report = await app.run_smoke_tests(
            FanoutRequest(
                problem="vectoradd", candidates=paths, mode="test", timeout_s=120, progress=progress
            )
        )
        found = spans(log)  # before the single run below adds its own calls
        one = await app.run_smoke_test(
            SmokeRequest(problem="vectoradd", candidate=paths[0], mode="test", push=False, timeout_s=120)
        )
    finally:
        await app.close()
    assert [r.candidate for r in report.reports] == paths, report.summary
    assert report.summary.endswith("2 pass, 1 fail") and report.ranking == paths[:2], report
    assert all(r.runner == "one-shot in srun (Slurm compute node)" for r in report.reports)
    assert [m for m in seen if m.endswith(" done")] == ["1/3 done", "2/3 done", "3/3 done"]
    assert one.passed and one.runner.startswith("one-shot in srun"), one.summary
    assert {gpu for gpu, _, _ in found.values()} <= {"0", "1"}, found  # Slurm's fake GPUs, one per job
    assert not shared_slots(found), found


async def test_one_gpu_runs_the_candidates_one_after_another_on_it(loop_config, workspace, tmp_path):
    config, log = with_gpus(loop_config, "[0]"), calls_log(tmp_path)
    paths = write_candidates(workspace, log, ["solo_a", "solo_b", "solo_c"])
    app = Bifrost(load_config(config), workspace)
    try:
        report = await app.run_smoke_tests(
            FanoutRequest(problem="vectoradd", candidates=paths, target="local", mode="test")
        )
    finally:
        await app.close()
    assert (
        report.slots == 1
        and report.gpus == [0, 0, 0]
        and report.summary.startswith("3 candidates on the CPU (1 at a time) in ")
    )
    assert all(
        r.runner in ("worker started", "warm worker") for r in report.reports
    )  # the target's one worker
    found = spans(log)
    assert {g for g, _, _ in found.values()} == {"0"} and not shared_slots(found), found


FAKE_NCU = """#!/bin/sh
echo "job=${SLURM_JOB_ID:-none} gpu=${CUDA_VISIBLE_DEVICES:-none}" >> "$(dirname "$0")/calls.log"
echo "==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU Performance Counters" >&2
exit 1
"""


async def test_profile_ncu_on_slurm_runs_inside_srun_on_a_compute_node(
    slurm_cluster, workspace, tmp_path_factory, bare_python
):
    """The harness's profile runs in an srun step (a Slurm job id, a Slurm-given GPU), not on the login
    node. The stand-in ncu, named to the job by srun_options (GPU_HARNESS_NCU), answers as a GPU without
    counter access."""
    from tests.conftest import make_workdir
    from tests.targets.test_slurm import cluster_config

    assert slurm_cluster.login is not None
    workdir = make_workdir(tmp_path_factory, slurm_cluster.login.user)
    fakebin = Path(workdir).parent / "fakebin"
    fakebin.mkdir()
    fakebin.chmod(0o777)
    (fakebin / "ncu").write_text(FAKE_NCU)
    (fakebin / "ncu").chmod(0o755)
    config = cluster_config(
        slurm_cluster,
        workdir,
        python=bare_python,
        srun_options=[f"--export=ALL,GPU_HARNESS_NCU={fakebin / 'ncu'}"],
    )
    app = Bifrost(config, workspace)
    try:
        with pytest.raises(Exception) as failed:
            await app.profile_ncu(
                ProfileRequest(
                    problem="vectoradd", candidate="vectoradd/examples/submission_torch.py", timeout_s=120
                )
            )
    finally:
        await app.close()
    assert "ERR_NVGPUCTRPERM" in str(failed.value) and "as root" in str(failed.value), failed.value
    calls = (fakebin / "calls.log").read_text().split()
    assert calls[0].startswith("job=") and calls[0] != "job=none", calls  # inside a Slurm job
    assert calls[1] in ("gpu=0", "gpu=1"), calls  # on a GPU Slurm gave it


async def test_an_over_budget_smoke_test_on_slurm_becomes_a_job_whose_status_carries_the_report(
    slurm_cluster, workspace, tmp_path_factory, bare_python
):
    """The srun step past the call budget is claimed as a job, as on an ssh target; it runs on and its
    report arrives in job_status."""
    from tests.conftest import make_workdir
    from tests.targets.test_slurm import cluster_config

    assert slurm_cluster.login is not None
    config = cluster_config(
        slurm_cluster, make_workdir(tmp_path_factory, slurm_cluster.login.user), python=bare_python
    )
    config.limits.call_budget_s, config.limits.progress_interval_s = 0.5, 0.25
    app = Bifrost(config, workspace)
    try:
        started = await app.run_smoke_test(
            SmokeRequest(problem="vectoradd", candidate=HONEST, mode="test", timeout_s=120)
        )
        assert started.status == "running" and started.job_id and started.job_id.startswith("cluster:"), (
            started.summary
        )
        with anyio.fail_after(120):
            while (status := await app.job_status(started.job_id)).state == "running":
                await anyio.sleep(0.3)
    finally:
        await app.close()
    assert status.state == "finished" and status.exit_code == 0, status
    assert status.report is not None and status.report.passed, status.report
    assert status.report.runner.startswith("one-shot in srun"), status.report.summary


SLEEPY = "time.sleep(0.15)\n    torch.add(A, B, out=C)"


async def fan_out(client: Client, paths: list[str], target: str = "local") -> CallToolResult:
    """The run_smoke_test tool on vectoradd with `candidates` (test mode)."""
    arguments = {"problem": "vectoradd", "candidates": paths, "mode": "test", "target": target}
    return await client.call_tool("run_smoke_test", arguments)


async def test_a_fan_out_past_the_call_budget_becomes_one_job_whose_status_carries_the_whole_report(
    loop_config, workspace, tmp_path
):
    config, log = with_gpus(loop_config, "[0, 1]"), calls_log(tmp_path)
    paths = write_candidates(workspace, log, ["late_a", "late_b", "late_c"]) + [WRONG]
    async with Client(build_server(budgeted(config, 0.5), workspace)) as client:
        result = await fan_out(client, paths)
        assert not result.is_error, result.content[0].text
        started = result.structured_content
        assert started["status"] == "running" and started["job_id"].startswith("local:"), started["summary"]
        assert started["summary"].startswith(f"RUNNING as job {started['job_id']}: 4 candidates")
        status = await job_done(client, started["job_id"], 120)
    assert status["state"] == "finished" and status["exit_code"] == 1, status  # one candidate fails
    report = status["report"]
    assert report["kind"] == "smoke_fanout" and report["status"] == "done"
    assert [r["candidate"] for r in report["reports"]] == paths and report["summary"].endswith(
        "3 pass, 1 fail"
    )
    assert sorted(report["ranking"]) == sorted(paths[:3]) and set(report["gpus"]) == {0, 1}


async def test_cancelling_a_fan_out_job_stops_every_candidate(loop_config, workspace, tmp_path):
    config, log = with_gpus(loop_config, "[0, 1]"), calls_log(tmp_path)
    paths = write_candidates(workspace, log, ["stop_a", "stop_b", "stop_c", "stop_d"], slow=set())
    for path in paths:  # every call sleeps: the fan-out takes far longer than the test waits
        text = (workspace / path).read_text().replace(FAST, SLEEPY)
        (workspace / path).write_text(text)
    async with Client(build_server(budgeted(config, 0.5), workspace)) as client:
        result = await fan_out(client, paths)
        started = result.structured_content
        assert started["status"] == "running", started["summary"]
        with anyio.fail_after(60):
            while not log.exists():
                await anyio.sleep(0.1)
        cancelled = (await client.call_tool("job_cancel", {"job_id": started["job_id"]})).structured_content
        await anyio.sleep(1.0)
        size = log.stat().st_size
        await anyio.sleep(2.0)
        status = (await client.call_tool("job_status", {"job_id": started["job_id"]})).structured_content
    assert cancelled["state"] == "killed", cancelled
    assert status["state"] == "killed" and status["report"] is None, status
    assert log.stat().st_size == size, "candidates kept running after job_cancel"


@pytest.mark.parametrize(
    "target", ["local", "gpu"], ids=["local-target", "ssh-target"]
)  # an id "gpu" would read as the gpu mark
async def test_a_fan_out_job_whose_server_is_killed_ends_as_lost_with_no_process_left(
    loop_config, workspace, tmp_path, target
):
    """The holder that stands for the job reads the server's pipe: with the server gone it ends, and
    job_status says lost instead of running forever."""
    config, log = with_gpus(loop_config, "[0, 1]"), calls_log(tmp_path)
    config.write_text(config.read_text() + "[limits]\ncall_budget_s = 0.5\nprogress_interval_s = 0.25\n")
    paths = write_candidates(workspace, log, ["gone_a", "gone_b", "gone_c", "gone_d"])
    for path in paths:
        (workspace / path).write_text((workspace / path).read_text().replace(FAST, SLEEPY))
    async with Client(stdio(config, workspace)) as client:
        result = await fan_out(client, paths, target)
        started = result.structured_content
        assert started["status"] == "running", started["summary"]
        kill_servers_of(config)
    app = Bifrost(load_config(config), workspace)
    try:
        with anyio.fail_after(20):
            while (status := await app.job_status(started["job_id"])).state == "running":
                await anyio.sleep(0.2)
    finally:
        await app.close()
    assert status.state == "lost", status
    table = subprocess.run(["ps", "-e", "-o", "pgid=,stat="], capture_output=True, text=True).stdout.split(
        "\n"
    )
    live = [
        line
        for line in table
        if line.split()[:1] == [str(status.pgid)] and not line.split()[1].startswith("Z")
    ]
    assert not live, live  # (a zombie may stay: a container's init need not reap it)
