"""`targets`/`doctor`: is each target reachable, and what does it have (python, torch, CUDA, GPUs, ncu)?"""

from __future__ import annotations

import json
import time

import anyio

from mcp_bifrost.errors import BifrostError
from mcp_bifrost.models import TargetHealth
from mcp_bifrost.ops.shell import quote, run_capture
from mcp_bifrost.ops.workspace import workdir
from mcp_bifrost.targets.base import Target

# Runs on the target with its python (never here: the client does not import torch); prints one
# JSON object. Never fails on a missing package.
_PROBE = r"""
import importlib, json, platform, shutil, subprocess
info = {"python": platform.python_version()}
try:
    torch = importlib.import_module("torch")
    info["torch"] = torch.__version__
    info["cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
except Exception as exc:
    info["torch_error"] = repr(exc)[:200]
ncu = shutil.which("ncu")
if ncu:
    try:
        out = subprocess.run([ncu, "--version"], capture_output=True, text=True, timeout=10).stdout
        info["ncu"] = ncu + " " + (out.strip().splitlines() or [""])[-1]
    except Exception:
        info["ncu"] = ncu
print(json.dumps(info))
"""


async def probe(target: Target, *, is_default: bool, timeout_s: float = 30.0) -> TargetHealth:
    health = TargetHealth(name=target.name, kind=target.kind, default=is_default, reachable=False)
    started = time.monotonic()
    try:
        with anyio.fail_after(timeout_s):
            await run_capture(target, "true")
            health.latency_ms = round((time.monotonic() - started) * 1000, 1)
            health.reachable = True
            health.workdir = await workdir(target)
            done = await run_capture(target, f"{target.python} -c {quote(_PROBE)}")
    except TimeoutError:
        health.error = f"no answer within {timeout_s:g} s"
        return health
    except BifrostError as exc:
        health.error = str(exc)
        return health
    if done.exit_status != 0:
        health.error = f"{target.python} failed on the target: {done.stderr.decode(errors='replace')[-300:]}"
        return health
    info = json.loads(done.stdout.decode().strip().splitlines()[-1])
    health.python, health.torch, health.cuda = info.get("python"), info.get("torch"), info.get("cuda")
    health.gpus, health.ncu = info.get("gpus", []), info.get("ncu")
    return health
