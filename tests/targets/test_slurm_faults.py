"""Faults of a Slurm cluster: slurmd gone. In a module of its own: stopping slurmd fails the jobs on its node."""

from __future__ import annotations

import anyio
import pytest

from mcp_bifrost.errors import SlurmCannotRun, SlurmLaunchFailed
from mcp_bifrost.requests import ExecRequest
from tests.targets.test_slurm import app  # noqa: F401  (fixture)

pytestmark = pytest.mark.anyio


async def test_stopped_slurmd_gives_a_clear_error_not_a_hang(app, slurm_cluster):  # noqa: F811  (the fixture imported above)
    slurm_cluster.cancel_all()  # jobs on a node whose slurmd dies end as NODE_FAIL: start from none
    slurm_cluster.stop_slurmd()
    try:
        with anyio.fail_after(40):
            # before Slurm notices, srun's launch fails; after, the queue has no node to offer
            with pytest.raises((SlurmLaunchFailed, SlurmCannotRun), match="slurmd|cannot start"):
                await app.exec(ExecRequest(command="echo never", timeout_s=120))
            with pytest.raises(SlurmCannotRun, match="is up and responding|Nodes required for job are DOWN"):
                await app.exec(ExecRequest(command="echo never", timeout_s=120))
    finally:
        slurm_cluster.start_slurmd()
        slurm_cluster.wait_node("idle", "mixed", timeout=60)  # up and responding again
    assert (await app.exec(ExecRequest(command="echo back"))).stdout == "back\n"
