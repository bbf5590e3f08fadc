"""A Slurm target through the real MCP client over stdio: config from TOML, exec via srun, a queued job."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import make_workdir
from tests.support.mcp_jobs import job_done

pytestmark = pytest.mark.anyio


def write_slurm_config(path: Path, cluster, workdir: str) -> Path:
    login = cluster.login
    path.write_text(
        f'default_target = "cluster"\naudit_log = "{path.parent / "audit.jsonl"}"\n'
        f'[targets.cluster]\nkind = "slurm"\nhost = "{login.user}@127.0.0.1:{login.port}"\n'
        f'identity_file = "{login.client_key}"\nknown_hosts = "{login.known_hosts}"\nworkdir = "{workdir}"\n'
        f'partition = "{cluster.partition}"\ngres = "gpu:fake:1"\n'
    )
    return path


async def test_exec_and_a_background_job_on_a_slurm_target_over_stdio(
    slurm_cluster, tmp_path, tmp_path_factory
):
    config = write_slurm_config(
        tmp_path / "config.toml", slurm_cluster, make_workdir(tmp_path_factory, slurm_cluster.login.user)
    )
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_bifrost", "serve", "--workspace", str(tmp_path), "--config", str(config)],
    )
    async with Client(params) as client:
        ran = (
            await client.call_tool("exec", {"command": "echo gpu=$CUDA_VISIBLE_DEVICES"})
        ).structured_content
        assert ran["exit_code"] == 0 and ran["stdout"] in ("gpu=0\n", "gpu=1\n"), ran
        job = (
            await client.call_tool("exec", {"command": "echo done", "background": True})
        ).structured_content
        assert job["job_id"].startswith("cluster:")
        status = await job_done(client, job["job_id"], 20, waiting=("pending", "running"), poll_s=0.2)
        assert (
            status["state"] == "finished"
            and status["exit_code"] == 0
            and status["slurm_state"] == "COMPLETED"
        )
        logs = (await client.call_tool("job_logs", {"job_id": job["job_id"]})).structured_content
        assert logs["stdout"] == "done\n"
