"""`doctor` for a Slurm target: the login node, the partitions and their GPU gres, then one job on a
compute node that reads a file written in the workdir on the login node (the shared-filesystem check)
and runs the usual probe there (python, torch, CUDA, GPU names, ncu): a login node often has no GPU,
so only a compute node's answers mean anything.
"""

from __future__ import annotations

import asyncio
import posixpath
import secrets
import time
from collections.abc import Awaitable, Callable

from mcp_bifrost import remote
from mcp_bifrost.errors import BifrostError
from mcp_bifrost.models import ExecResult, SlurmHealth, SlurmPartition, TargetHealth
from mcp_bifrost.ops import health as health_op
from mcp_bifrost.ops.execute import ExecLimits
from mcp_bifrost.ops.remote_command import quote, run_capture
from mcp_bifrost.ops.workspace import workdir
from mcp_bifrost.targets.slurm import SlurmTarget

CHECK_JOB_TIMEOUT_S = 120.0


def parse_sinfo(text: str) -> list[SlurmPartition]:
    """`sinfo -h -o '%P|%a|%D|%T|%G'` (one line per partition and node state) -> one entry per partition."""
    found: dict[str, SlurmPartition] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 5:
            continue
        name, available, nodes, state, gres = parts
        default = name.endswith("*")
        name = name.rstrip("*")
        entry = found.setdefault(
            name,
            SlurmPartition(name=name, default=default, available=available, nodes=0, node_states=[], gres=[]),
        )
        entry.nodes += int(nodes) if nodes.isdigit() else 0
        entry.node_states.append(state)
        for item in gres.split(","):
            if item and item != "(null)" and item not in entry.gres:
                entry.gres.append(item)
    return list(found.values())


def read_back(path: str) -> str:
    """The compute node's half of the shared-filesystem check: print the file the login node wrote."""
    return f"cat {quote(path)}"


Run = Callable[[SlurmTarget, str, str, ExecLimits], Awaitable[ExecResult]]  # the kind's run (through srun)


async def probe(
    target: SlurmTarget, run: Run, *, is_default: bool, timeout_s: float = CHECK_JOB_TIMEOUT_S
) -> TargetHealth:
    health = TargetHealth(name=target.name, kind=target.kind, default=is_default, reachable=False)
    slurm = health.slurm = SlurmHealth(partition=target.slurm.partition)
    started = time.monotonic()
    try:
        await run_capture(target, "true")
        health.latency_ms = round((time.monotonic() - started) * 1000, 1)
        health.reachable = True
        health.workdir = await workdir(target)
        await _partitions(target, slurm)
        await _check_job(target, run, health, timeout_s)
    except BifrostError as exc:
        slurm.problems.append(str(exc))
    if slurm.problems:
        health.error = "; ".join(slurm.problems)
    return health


async def _partitions(target: SlurmTarget, slurm: SlurmHealth) -> None:
    done = await run_capture(target, remote.command("slurm_doctor", "partitions"))
    if done.exit_status != 0:
        slurm.problems.append(
            f"sinfo failed on the login node: {done.stderr.decode(errors='replace').strip()[-300:]} "
            "(are the Slurm client commands on PATH for non-interactive ssh sessions?)"
        )
        return
    slurm.partitions = parse_sinfo(done.stdout.decode(errors="replace"))
    names = [p.name for p in slurm.partitions]
    wanted = slurm.partition or next((p.name for p in slurm.partitions if p.default), None)
    slurm.partition = wanted
    chosen = next((p for p in slurm.partitions if p.name == wanted), None)
    if chosen is None:
        slurm.problems.append(
            f"partition {wanted!r} is not in sinfo (have: {', '.join(names) or 'none'}); "
            "set the target's partition"
        )
        return
    if chosen.available != "up":
        slurm.problems.append(f"partition {chosen.name} is {chosen.available}, not up")
    slurm.gpu_gres = [g for g in chosen.gres if g.startswith("gpu")]
    if target.slurm.gres and target.slurm.gres.startswith("gpu") and not slurm.gpu_gres:
        slurm.problems.append(
            f"the nodes of partition {chosen.name} offer no GPU gres (have: "
            f"{', '.join(chosen.gres) or 'none'}); pick a GPU partition"
        )


async def _check_job(target: SlurmTarget, run: Run, health: TargetHealth, timeout_s: float) -> None:
    """One srun job: read a token written on the login node, name the node, run the probe."""
    assert health.slurm is not None and health.workdir is not None
    slurm = health.slurm
    token = secrets.token_hex(8)
    token_file = posixpath.join(health.workdir, f".doctor-{token}")
    (await run_capture(target, remote.command("slurm_doctor", "mark", token_file, token))).check(
        "writing the doctor's check file"
    )
    command = f"{read_back(token_file)} 2>/dev/null; echo; hostname; {health_op.probe_command(target)}"
    try:
        limits = ExecLimits(timeout_s=timeout_s, budget_s=None, cap_bytes=64_000, grace_s=2.0)
        result = await run(target, command, health.workdir, limits)
    finally:
        await asyncio.shield(run_capture(target, remote.command("slurm_doctor", "unmark", token_file)))
    if result.timed_out:
        slurm.problems.append(
            f"the check job did not finish within {timeout_s:g} s (queued behind other jobs? "
            "`squeue -p PARTITION` shows the queue)"
        )
        return
    lines = result.stdout.splitlines()
    slurm.shared_filesystem = bool(lines) and lines[0].strip() == token
    slurm.compute_node = lines[1].strip() if len(lines) > 1 else None
    if not slurm.shared_filesystem:
        slurm.problems.append(
            f"a job on {slurm.compute_node or 'a compute node'} could not read {token_file}, "
            "written on the login node: the workdir must be on a filesystem the compute nodes "
            "share (your home or a project directory)"
        )
    health_op.read_probe(health, result.exit_code or 0, result.stdout, result.stderr, target.python)
    if health.error:
        slurm.problems.append(f"on the compute node: {health.error}")
        health.error = None
    if health.python and not health.ncu:  # the probe ran: every problem it found is named, not only the first
        slurm.problems.append(
            f"ncu is not on PATH on {slurm.compute_node}: profile_ncu needs Nsight Compute there "
            "(load its module in ~/.bashrc, or add its bin directory to PATH)"
        )
