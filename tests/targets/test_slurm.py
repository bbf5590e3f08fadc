"""A Slurm target against a real single-node Slurm with two fake GPUs, through a real sshd login node."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import anyio
import pytest

from mcp_bifrost.app import Bifrost
from mcp_bifrost.config import Config
from mcp_bifrost.errors import SlurmError, SlurmLaunchFailed
from mcp_bifrost.models import JobInfo
from mcp_bifrost.requests import ExecRequest
from tests.conftest import make_workdir
from tests.support.slurm import SlurmCluster, slurm_target

pytestmark = pytest.mark.anyio


def cluster_config(cluster: SlurmCluster, workdir: str, **slurm) -> Config:
    target = slurm_target(cluster, workdir, **slurm)
    return Config.model_validate(
        {
            "default_target": "cluster",
            "targets": {"cluster": target},
            "limits": {"kill_grace_s": 1, "call_budget_s": 30},
        }
    )


def cluster_app(cluster: SlurmCluster, tmp_path_factory, **slurm) -> Bifrost:
    assert cluster.login is not None
    workdir = make_workdir(tmp_path_factory, cluster.login.user)
    return Bifrost(cluster_config(cluster, workdir, **slurm), Path(workdir).parent)


@pytest.fixture
async def app(slurm_cluster: SlurmCluster, tmp_path_factory):
    bifrost = cluster_app(slurm_cluster, tmp_path_factory)
    yield bifrost
    for job in await bifrost.list_jobs():  # leave the GPUs free for the next test
        if job.state in ("pending", "running"):
            await bifrost.job_cancel(job.job_id)
    await bifrost.close()


@pytest.fixture(scope="module", autouse=True)
async def over_time_job(slurm_cluster: SlurmCluster, tmp_path_factory):
    """A CPU-only job over a 1-minute limit, started before this module's first test: Slurm counts
    limits in minutes and checks them every 30 s, so TIMEOUT takes 60-100 s; the other tests run meanwhile."""
    bifrost = cluster_app(slurm_cluster, tmp_path_factory, gres="")
    started = await bifrost.exec(ExecRequest(command="sleep 300", background=True, timeout_s=1))
    yield bifrost, started.job_id
    await bifrost.job_cancel(started.job_id)  # when the test that waits for it was not selected
    await bifrost.close()


async def wait_state(app: Bifrost, job_id: str, *states: str, timeout: float = 20) -> JobInfo:
    with anyio.fail_after(timeout):
        while True:
            info = await app.job_status(job_id)
            if info.state in states:
                return info
            await asyncio.sleep(0.1)


def srun_jobs(cluster: SlurmCluster) -> list[str]:
    """Slurm jobs that exec's srun started (named bifrost-<12 hex>), as name|state."""
    out = cluster.run("squeue", "-h", "-o", "%j|%T").stdout
    return [line for line in out.splitlines() if re.match(r"bifrost-[0-9a-f]{12}\|", line)]


async def test_exec_runs_through_srun_and_sees_cuda_visible_devices(app):
    result = await app.exec(
        ExecRequest(command='echo "gpu=$CUDA_VISIBLE_DEVICES job=$SLURM_JOB_ID"; echo err >&2; exit 3')
    )
    assert result.exit_code == 3, result
    gpu, job = result.stdout.split()
    assert gpu in ("gpu=0", "gpu=1") and job != "job=", result.stdout
    assert "err" in result.stderr.splitlines()  # srun adds its own line about the exit code
    assert result.command.startswith('echo "gpu=')


async def test_exec_timeout_cancels_the_slurm_job(app, slurm_cluster):
    result = await app.exec(ExecRequest(command="echo started; sleep 60", timeout_s=3))
    assert result.timed_out and result.stdout == "started\n"
    with anyio.fail_after(10):
        while srun_jobs(slurm_cluster):
            await asyncio.sleep(0.1)


async def test_exec_cancelled_while_waiting_for_a_gpu_leaves_no_job(app, slurm_cluster):
    jobs = [await app.exec(ExecRequest(command="sleep 60", background=True)) for _ in range(2)]
    await asyncio.gather(*(wait_state(app, j.job_id, "running") for j in jobs))
    with anyio.move_on_after(3):
        await app.exec(ExecRequest(command="echo never"))  # waits for a GPU; the cancel scope interrupts it
    with anyio.fail_after(10):
        while any("PENDING" in line for line in srun_jobs(slurm_cluster)):
            await asyncio.sleep(0.1)


async def test_two_jobs_get_different_gpus_and_a_third_waits_with_a_reason(app):
    started = [
        await app.exec(ExecRequest(command='echo "$CUDA_VISIBLE_DEVICES"; sleep 60', background=True))
        for _ in range(3)
    ]
    ids = [s.job_id for s in started]
    first, second = await asyncio.gather(
        wait_state(app, ids[0], "running"), wait_state(app, ids[1], "running")
    )
    with anyio.fail_after(10):  # a just-queued job has no reason until the scheduler has looked at it
        while (third := await app.job_status(ids[2])).reason is None:
            await asyncio.sleep(0.1)
    assert third.state == "pending" and third.slurm_state == "PENDING", third
    assert third.reason in ("Resources", "Priority"), third  # no free GPU / another job is first in line
    gpus = set()
    for job_id in ids[:2]:
        with anyio.fail_after(10):
            while not (logs := await app.job_logs(job_id)).stdout:
                await asyncio.sleep(0.1)
        gpus.add(logs.stdout.strip())
    assert gpus == {"0", "1"}
    assert first.node and second.slurm_job_id != first.slurm_job_id

    pending = await app.job_cancel(ids[2])
    assert pending.state == "killed" and not pending.was_running
    assert (await app.job_status(ids[2])).slurm_state == "CANCELLED"
    running = await app.job_cancel(ids[0])
    assert running.state == "killed" and running.was_running
    killed = await app.job_status(ids[0])
    assert killed.slurm_state == "CANCELLED", killed


async def test_background_job_writes_its_own_exit_code_and_logs(app):
    started = await app.exec(
        ExecRequest(command="echo out; echo err >&2; exit 7", background=True, env={"GREETING": "hi"})
    )
    info = await wait_state(app, started.job_id, "finished", "lost")
    assert info.state == "finished" and info.exit_code == 7 and info.slurm_state == "FAILED", info
    logs = await app.job_logs(started.job_id)
    assert (logs.stdout, logs.stderr, logs.exit_code) == ("out\n", "err\n", 7)
    assert [j.job_id for j in await app.list_jobs()] == [started.job_id]


async def test_a_batch_jobs_env_values_stay_out_of_every_command_line_and_its_files_are_private(app):
    # issue 19.3: the batch script got `export NAME='value'; ...` as an argument (sbatch's and its own argv)
    import secrets as _secrets
    import stat

    from tests.ops.test_process_safety import _cmdlines

    secret = "s3cret-" + _secrets.token_hex(8)
    value = f"{secret} it's\nsecond"
    started = await app.exec(
        ExecRequest(
            command='sleep 3; printf %s "$TOKEN"', background=True, env={"TOKEN": value, "PATH": "/nowhere"}
        )
    )
    seen = ""
    with anyio.fail_after(60):
        while (info := await app.job_status(started.job_id)).state in ("pending", "running"):
            seen += _cmdlines()
            await asyncio.sleep(0.1)
    assert secret not in seen
    assert info.state == "finished" and info.exit_code == 0, info
    assert (await app.job_logs(started.job_id)).stdout == value
    jdir = Path(info.log_dir)
    assert stat.S_IMODE(jdir.stat().st_mode) == 0o700
    for f in jdir.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0, f
        assert f.name == "stdout" or secret not in f.read_text(errors="replace"), f  # the job printed it


async def test_bad_partition_is_a_clear_error_for_srun_and_sbatch(slurm_cluster, tmp_path_factory):
    bad = cluster_app(slurm_cluster, tmp_path_factory, partition="nope")
    try:
        with pytest.raises(SlurmLaunchFailed, match="partition"):
            await bad.exec(ExecRequest(command="true"))
        with pytest.raises(SlurmError, match="sbatch refused.*partition"):
            await bad.exec(ExecRequest(command="true", background=True))
    finally:
        await bad.close()


async def test_doctor_checks_partitions_gpus_shared_filesystem_and_ncu_on_a_compute_node(app, slurm_cluster):
    health = next(t for t in (await app.targets()).targets if t.name == "cluster")
    assert health.reachable and health.slurm is not None, health
    slurm = health.slurm
    assert [p.name for p in slurm.partitions] == [slurm_cluster.partition] and slurm.partitions[0].default
    assert slurm.partition == slurm_cluster.partition and slurm.gpu_gres == ["gpu:fake:2"]
    assert slurm.shared_filesystem is True and slurm.compute_node
    assert health.python  # the probe ran on the compute node
    ncu = (
        f"ncu is not on PATH on {slurm.compute_node}: profile_ncu needs Nsight Compute "
        "there (load its module in ~/.bashrc, or add its bin directory to PATH)"
    )
    # the compute node is this machine: its python3 has torch or not, and doctor must say which
    has_torch = subprocess.run(["python3", "-c", "import torch"], capture_output=True).returncode == 0
    torch_missing = [
        p for p in slurm.problems if p.startswith("on the compute node: torch missing: python3 ")
    ]
    assert len(torch_missing) == (0 if has_torch else 1), slurm.problems
    assert sorted(slurm.problems) == sorted([ncu, *torch_missing]), slurm.problems


async def test_doctor_says_when_the_workdir_is_not_shared_with_the_compute_nodes(app, monkeypatch):
    # As if the compute node saw another filesystem: its job looks for the check file elsewhere.
    from mcp_bifrost.ops.slurm import doctor as slurm_doctor

    monkeypatch.setattr(slurm_doctor, "read_back", lambda path: f"cat {path}.on-another-filesystem")
    health = next(t for t in (await app.targets()).targets if t.name == "cluster")
    assert health.slurm is not None and health.slurm.shared_filesystem is False
    assert "must be on a filesystem the compute nodes share" in (health.error or "")


async def test_exec_over_the_call_budget_continues_as_a_job_and_its_cancel_ends_the_slurm_job(
    slurm_cluster, tmp_path_factory
):
    app = cluster_app(slurm_cluster, tmp_path_factory)
    app.config.limits.call_budget_s = 2
    try:
        result = await app.exec(ExecRequest(command="echo started; sleep 60"))
        assert result.job_id and result.exit_code is None, result
        info = await app.job_status(result.job_id)
        assert info.state == "running" and info.slurm_job_id is None  # srun, held by the login node
        assert info.command == "echo started; sleep 60"
        assert any("RUNNING" in line for line in srun_jobs(slurm_cluster))
        cancelled = await app.job_cancel(result.job_id)
        assert cancelled.was_running and cancelled.state == "killed"
        with anyio.fail_after(10):
            while srun_jobs(slurm_cluster):  # the wrapper's TERM trap ran scancel
                await asyncio.sleep(0.1)
    finally:
        await app.close()


def wrapper_pids() -> list[str]:
    """Processes running remote/slurm_run.sh itself (not its watcher subshell, not the job wrapper around it)."""
    found = {}
    for pid in Path("/proc").iterdir():
        try:
            argv = (pid / "cmdline").read_bytes().split(b"\0")
            ppid = (pid / "stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if len(argv) > 6 and argv[0] == b"bash" and argv[5] == b"slurm_run":
            found[pid.name] = ppid
    return [pid for pid, ppid in found.items() if ppid not in found]


async def test_term_to_the_srun_wrapper_alone_scancels_the_job(app, slurm_cluster):
    # Not the whole process group (exec's own kill sends TERM to srun too): only the wrapper shell.
    import subprocess

    flag = Path(tempfile.gettempdir()) / f"bifrost-term-{os.getpid()}-{time.monotonic_ns()}"
    # a wrapper of an earlier test (or of another run on this machine) may still be ending: not ours
    earlier = set(wrapper_pids())
    call = asyncio.ensure_future(
        app.exec(ExecRequest(command=f"echo started; touch {flag}; sleep 60", timeout_s=60))
    )
    with anyio.fail_after(20):  # the task has printed (RUNNING in squeue comes before the task runs)
        while not flag.exists():
            await asyncio.sleep(0.1)
    flag.unlink()
    await asyncio.sleep(0.5)  # srun relays the task's output through slurmstepd
    pids = [p for p in wrapper_pids() if p not in earlier]
    assert len(pids) == 1, (pids, earlier)
    subprocess.run(["kill", "-TERM", pids[0]], check=True)
    with anyio.fail_after(15):
        result = await call
        while srun_jobs(slurm_cluster):
            await asyncio.sleep(0.1)
    assert result.exit_code == 143 and result.stdout == "started\n", result


@pytest.mark.slow
async def test_job_over_its_time_limit_reports_timeout(over_time_job):
    bifrost, job_id = over_time_job  # started with the module (see the fixture)
    assert (await bifrost.job_status(job_id)).slurm_state in ("RUNNING", "TIMEOUT")
    info = await wait_state(bifrost, job_id, "killed", "finished", "lost", timeout=150)
    assert info.state == "killed" and info.slurm_state == "TIMEOUT", info
    assert info.reason == "TimeLimit"


async def test_a_slurm_targets_harness_never_runs_on_the_login_node(app):
    """No warm worker (it would live on the login node); every run goes through srun."""
    h = app.harness(app.target())
    assert not h.use_worker and h.wrap is not None
    assert " slurm_run bifrost-" in await h.oneshot_command("/wd/harness/x", "info --json", 60)
