"""`targets`/`doctor`: is each target reachable, and what does it have (python, torch, CUDA, GPUs, ncu)?"""

from __future__ import annotations

import json
import time

import anyio

from mcp_bifrost import remote
from mcp_bifrost.errors import BifrostError, RemoteExit
from mcp_bifrost.models import TargetHealth
from mcp_bifrost.ops.remote_command import quote, run_capture
from mcp_bifrost.ops.workspace import workdir
from mcp_bifrost.targets.base import Target


def probe_command(target: Target) -> str:
    """The command that prints the probe's JSON line (remote/probe.py) with the target's python."""
    return f"{target.python} -c {quote(remote.resource('probe.py'))}"


def read_probe(health: TargetHealth, exit_status: int, stdout: str, stderr: str, python: str) -> TargetHealth:
    """Fill python/torch/CUDA/GPUs/ncu from the probe's output (its last line), or say why not."""
    if exit_status != 0:
        failed = f"{python} failed on the target: {stderr[-300:]}"
        health.error = f"{health.error}; {failed}" if health.error else failed
        return health
    info = json.loads(stdout.strip().splitlines()[-1])
    health.python, health.torch, health.cuda = info.get("python"), info.get("torch"), info.get("cuda")
    health.gpus, health.ncu = info.get("gpus", []), info.get("ncu")
    if not health.torch:  # the kernel loop cannot run: say so, with the fix
        health.missing.append("torch")
        why = (
            f"torch missing: {python} cannot import torch ({info.get('torch_error', 'not installed')}). "
            f"Install it there (`{python} -m pip install torch`) or set `python` in the target's config "
            "to an interpreter that has torch"
        )
        health.error = f"{health.error}; {why}" if health.error else why
    elif not health.cuda and info.get("nvidia_smi"):  # the GPU would sit idle: CPU torch on a GPU machine
        why = (
            f"torch {health.torch} is a CPU-only build, but the target has an NVIDIA GPU (nvidia-smi): install "
            f"a CUDA build (`{python} -m pip install torch --index-url https://download.pytorch.org/whl/cu126`, "
            "or the CUDA version nvidia-smi names) or set `python` in the target's config to an interpreter "
            "that has one"
        )
        health.error = f"{health.error}; {why}" if health.error else why
    return health


async def probe(target: Target, *, is_default: bool, timeout_s: float = 30.0) -> TargetHealth:
    health = TargetHealth(name=target.name, kind=target.kind, default=is_default, reachable=False)
    started = time.monotonic()
    try:
        with anyio.fail_after(timeout_s):
            await run_capture(target, "true")
            health.latency_ms = round((time.monotonic() - started) * 1000, 1)
            health.reachable = True
            health.workdir = await workdir(target)
            needs = await run_capture(target, remote.command("requirements"))
            if needs.exit_status == RemoteExit.MISSING_TOOLS:
                health.missing = needs.stdout.decode(errors="replace").split("\n")[:-1]
                health.error = "missing on the target: " + ", ".join(health.missing)
            done = await run_capture(target, probe_command(target))
    except TimeoutError:
        health.error = f"no answer within {timeout_s:g} s"
        return health
    except BifrostError as exc:
        health.error = str(exc)
        return health
    return read_probe(
        health,
        done.exit_status,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
        target.python,
    )
