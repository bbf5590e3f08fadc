"""The local target runs kernels out of the box: its python is the interpreter running mcp-bifrost
(whose venv has the project's torch), and a python without torch is named, with the fix, in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NO_TORCH_PYTHON = "/usr/bin/python3"


def bifrost(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcp_bifrost", *args], capture_output=True, text=True, timeout=timeout
    )


def local_config(tmp_path: Path, python: str | None = None) -> Path:
    path = tmp_path / "config.toml"
    text = f'[targets.local]\nkind = "local"\nworkdir = "{tmp_path / "wd"}"\n'
    path.write_text(text + (f'python = "{python}"\n' if python else ""))
    return path


def _no_torch() -> None:
    if (
        not Path(NO_TORCH_PYTHON).exists()
        or subprocess.run([NO_TORCH_PYTHON, "-c", "import torch"], capture_output=True).returncode == 0
    ):
        pytest.skip(f"{NO_TORCH_PYTHON} is missing or has torch")


def _smoke_vectoradd(tmp_path: Path, config: Path) -> subprocess.CompletedProcess:
    """`mcp-bifrost smoke` of vectoradd's torch example (test mode) in a workspace of its own."""
    workspace = tmp_path / "ws"
    shutil.copytree(REPO / "kernels" / "vectoradd", workspace / "kernels" / "vectoradd")
    shutil.copy(REPO / "kernels" / "utils.py", workspace / "kernels" / "utils.py")
    example = "kernels/vectoradd/examples/submission_torch.py"
    return bifrost(
        "smoke", "kernels/vectoradd", example, "--mode", "test", "-w", str(workspace), "--config", str(config)
    )


def test_smoke_on_the_default_local_target_passes_without_setting_python(tmp_path):
    done = _smoke_vectoradd(tmp_path, local_config(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout


def test_targets_names_torch_missing_with_the_fix(tmp_path):
    _no_torch()
    done = bifrost("targets", "--json", "--config", str(local_config(tmp_path, NO_TORCH_PYTHON)), timeout=60)
    local = json.loads(done.stdout)["targets"][0]
    assert local["missing"] == ["torch"]
    assert "torch missing" in local["error"] and f"{NO_TORCH_PYTHON} -m pip install torch" in local["error"]
    table = bifrost("targets", "--config", str(local_config(tmp_path, NO_TORCH_PYTHON)), timeout=60)
    assert "missing" in table.stdout and table.returncode == 0, table.stdout + table.stderr


def test_a_harness_that_cannot_start_says_why_in_one_clean_line(tmp_path):
    _no_torch()
    done = _smoke_vectoradd(tmp_path, local_config(tmp_path, NO_TORCH_PYTHON))
    assert done.returncode == 1
    text = done.stdout + done.stderr
    assert "torch missing" in text and f"{NO_TORCH_PYTHON} -m pip install torch" in text, text
    assert "Traceback" not in text and "line " not in text and "runpy" not in text, text


def test_a_cpu_torch_on_a_machine_with_an_nvidia_gpu_is_named_with_the_fix(tmp_path):
    """A GPU box whose python has CPU torch would time kernels on the CPU: `targets` says so."""
    import os

    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    (fakebin / "nvidia-smi").write_text("#!/bin/sh\necho 'NVIDIA-SMI 550.54  CUDA Version: 12.4'\n")
    (fakebin / "nvidia-smi").chmod(0o755)
    env = {**os.environ, "PATH": f"{fakebin}:{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "-m", "mcp_bifrost", "targets", "--json", "--config", str(local_config(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    local = json.loads(done.stdout)["targets"][0]
    assert local["torch"] and not local["cuda"], local
    assert "CPU-only build" in local["error"] and "download.pytorch.org/whl/cu" in local["error"], local


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU (run on the device machine)")
def test_on_a_gpu_machine_the_default_local_target_times_on_the_gpu(tmp_path):
    workspace = tmp_path / "ws"
    shutil.copytree(REPO / "kernels" / "vectoradd", workspace / "kernels" / "vectoradd")
    shutil.copy(REPO / "kernels" / "utils.py", workspace / "kernels" / "utils.py")
    done = bifrost(
        "smoke",
        "kernels/vectoradd",
        "kernels/vectoradd/examples/submission_torch.py",
        "--json",
        "-w",
        str(workspace),
        "--config",
        str(local_config(tmp_path)),
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["passed"], report["summary"]
    assert report["device"]["type"] == "cuda" and "CPU" not in report["summary"], report["summary"]
    assert report["timing"][0]["clock"] == "cuda_events" and report["roofline_fraction"], report["summary"]
