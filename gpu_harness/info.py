"""`python -m gpu_harness info`: what this machine offers (versions, GPU, caches, clocks, ncu)."""

from __future__ import annotations

import glob
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from typing import Any

from gpu_harness import SCHEMA_VERSION, __version__

NCU_GLOB = "/opt/nvidia/nsight-compute/*/ncu"
NCU_ENV = "GPU_HARNESS_NCU"  # an ncu that is neither on PATH nor in NCU_GLOB (a cluster's module tree)
SUBPROCESS_TIMEOUT_S = 20


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def ncu_path() -> str | None:
    """$GPU_HARNESS_NCU when it names an executable, else ncu on PATH, else the newest under /opt/nvidia."""
    named = os.environ.get(NCU_ENV)
    if named and os.path.isfile(named) and os.access(named, os.X_OK):
        return named
    found = shutil.which("ncu")
    if found:
        return found
    candidates = sorted(glob.glob(NCU_GLOB))
    return candidates[-1] if candidates else None


def _run(args: list[str]) -> str | None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
        return done.stdout.strip() if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def collect() -> dict[str, Any]:
    import torch

    cupy = next(
        (v for v in (_version("cupy"), _version("cupy-cuda13x"), _version("cupy-cuda12x")) if v), None
    )
    doc: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "harness_version": __version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "torch": torch.__version__,
        "triton": _version("triton"),
        "cupy": cupy,
        "numpy": _version("numpy"),
        "cuda_available": torch.cuda.is_available(),
        "cuda_runtime": torch.version.cuda,
        "gpu": None,
        "ncu": None,
    }
    if doc["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        gpu = {
            "name": props.name,
            "count": torch.cuda.device_count(),
            "sm_count": props.multi_processor_count,
            "l2_bytes": int(getattr(props, "L2_cache_size", 0)),
            "memory_bytes": props.total_memory,
            "capability": f"{props.major}.{props.minor}",
        }
        clocks = _run(
            [
                "nvidia-smi",
                "--query-gpu=clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,driver_version",
                "--format=csv,noheader,nounits",
                "-i",
                "0",
            ]
        )
        if clocks:
            parts = [p.strip() for p in clocks.splitlines()[0].split(",")]
            keys = ("sm_clock_mhz", "max_sm_clock_mhz", "mem_clock_mhz", "max_mem_clock_mhz", "driver")
            gpu.update(dict(zip(keys, parts)))
        doc["gpu"] = gpu
    path = ncu_path()
    if path:
        version = _run([path, "--version"])
        doc["ncu"] = {"path": path, "version": version.splitlines()[-1] if version else None}
    doc["triton_interpret"] = os.environ.get("TRITON_INTERPRET") == "1"
    return doc


def device_facts(device: Any) -> dict[str, Any]:
    """The report's `device`: what the evaluation ran on (torch is the caller's, already imported)."""
    import torch

    info: dict[str, Any] = {"type": device.type, "torch": torch.__version__}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            name=props.name,
            sm_count=props.multi_processor_count,
            l2_bytes=int(getattr(props, "L2_cache_size", 0)),
            memory_bytes=props.total_memory,
        )
    else:
        info.update(name="cpu", triton_interpret=os.environ.get("TRITON_INTERPRET") == "1")
    return info
