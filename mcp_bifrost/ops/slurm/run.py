"""Short calls on a Slurm target: wrap a command in `srun` (remote/slurm_run.sh) and read its outcome
(SlurmKind.run in ops/slurm/kind.py sends it down wrapped and checks what comes back).

The wrapped command still runs under ops/execute.py's wrapper on the login node, so caps, progress,
timeout, cancel and the call budget behave as on an ssh target; the wrapper script turns the TERM that
a timeout or cancel sends into `scancel`, so the Slurm job ends too, waiting or running.
"""

from __future__ import annotations

import posixpath
import secrets
import shlex

from mcp_bifrost import remote
from mcp_bifrost.errors import BifrostError, RemoteExit, error_for_exit
from mcp_bifrost.models import ExecResult
from mcp_bifrost.ops.workspace import workdir
from mcp_bifrost.targets.slurm import SlurmTarget

LAUNCH_LINE = "bifrost-slurm:"  # the scripts' own failure lines start with this


def job_name() -> str:
    """A Slurm job name unique to one call: scancel --name finds the job even while it waits."""
    return "bifrost-" + secrets.token_hex(6)


async def compute_command(
    target: SlurmTarget, command: str, *, timeout_s: float | None, name: str | None = None
) -> str:
    """`command` as it must be sent to reach a GPU: through srun, on a compute node."""
    name = name or job_name()
    marker = posixpath.join(await workdir(target), f".{name}.started")
    return remote.command("slurm_run", name, marker, *target.slurm.srun(timeout_s), "--", command)


def user_command(line: str) -> str:
    """The user's command inside a compute_command() line: a claimed srun's job folder records the
    whole line (the script included), and job_status should show what the user ran."""
    if " slurm_run bifrost-" not in line:
        return line
    try:
        parts = shlex.split(line)
    except ValueError:
        return line
    return parts[-1] if "--" in parts[:-1] else line


def launch_error(exit_code: int | None, stderr: str) -> BifrostError | None:
    """The error a wrapped call stands for when srun, not the command, failed; None otherwise."""
    if (
        exit_code not in (RemoteExit.SLURM_LAUNCH_FAILED, RemoteExit.SLURM_CANNOT_RUN)
        or LAUNCH_LINE not in stderr
    ):
        return None
    return error_for_exit(exit_code, stderr.strip()[-800:])


def check(result: ExecResult) -> ExecResult:
    """Raise the Slurm error behind a result whose command never ran; otherwise return it."""
    error = launch_error(result.exit_code, result.stderr)
    if error is not None:
        raise error
    return result
