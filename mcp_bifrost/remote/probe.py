"""Runs on a target with its configured python (never here: the client does not import torch).
Prints one JSON object: python, torch, CUDA, GPU names, ncu. Never fails on a missing package."""

import importlib
import json
import platform
import shutil
import subprocess

info: dict = {"python": platform.python_version()}
try:
    torch = importlib.import_module("torch")
    info["torch"] = torch.__version__
    info["cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
except Exception as exc:
    info["torch_error"] = repr(exc)[:200]
info["nvidia_smi"] = bool(shutil.which("nvidia-smi"))  # a GPU machine, whatever torch says
ncu = shutil.which("ncu")
if ncu:
    try:
        out = subprocess.run([ncu, "--version"], capture_output=True, text=True, timeout=10).stdout
        info["ncu"] = ncu + " " + (out.strip().splitlines() or [""])[-1]
    except Exception:
        info["ncu"] = ncu
print(json.dumps(info))
