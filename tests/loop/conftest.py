"""Fixtures for the kernel loop: a bare GPU-less 'host' (a Python with torch and Triton but no PyYAML
and no gpu_harness), a workspace holding the vectoradd problem, and configs pointing at the real sshd."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from mcp_bifrost.config import Config, load_config
from tests.conftest import make_workdir
from tests.support.configs import write_config

REPO = Path(__file__).resolve().parents[2]
KERNELS = REPO / "kernels"
# What a bare host lacks: PyYAML (C and Python halves) and any installed copy of this project.
HIDDEN = ("yaml", "_yaml", "pyyaml", "PyYAML", "mcp_bifrost", "_editable_impl_mcp_bifrost", "__editable__")

HONEST = "vectoradd/examples/submission_torch.py"
TRITON = "vectoradd/examples/submission_triton.py"
WRONG = "vectoradd/wrong.py"
CHEAT = "vectoradd/cheat.py"


def budgeted(config_path: Path, budget_s: float) -> Config:
    """The config with a short call budget (and progress every 0.25 s): calls past it become jobs."""
    config = load_config(config_path)
    config.limits.call_budget_s, config.limits.progress_interval_s = budget_s, 0.25
    return config


@pytest.fixture(scope="session")
def bare_python() -> str:
    """A venv whose site-packages mirrors this one's (torch, triton, numpy) minus PyYAML and mcp-bifrost."""
    root = Path(tempfile.mkdtemp(prefix="bifrost-bare-python-"))
    os.chmod(root, 0o755)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    site = Path(sysconfig.get_paths()["purelib"])
    bare_site = next((root / "venv" / "lib").glob("python3*/site-packages"))
    for entry in site.iterdir():
        if not entry.name.startswith(HIDDEN):
            (bare_site / entry.name).symlink_to(entry)
    python = str(root / "venv" / "bin" / "python")
    probe = subprocess.run(
        [
            python,
            "-c",
            "import torch, triton\ntry:\n import yaml\nexcept ImportError:\n print('no yaml')"
            "\ntry:\n import gpu_harness\nexcept ImportError:\n print('no harness')",
        ],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PATH": os.environ["PATH"]},
    )
    assert probe.stdout.split("\n")[:2] == ["no yaml", "no harness"], probe.stderr
    yield python
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A local workspace with kernels/vectoradd (its utils.py sits one level up), a wrong and a cheating candidate."""
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copytree(KERNELS / "vectoradd", ws / "vectoradd", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(KERNELS / "utils.py", ws / "utils.py")
    (ws / WRONG).write_text(
        "def custom_kernel(data):\n    A, B, C = data\n    C.copy_(A - B)\n    return C\n"
    )
    (ws / CHEAT).write_text(
        "import torch\n\n\ndef custom_kernel(data):\n    A, B, C = data\n"
        "    torch.add(A, B, out=C)\n    B.zero_()  # clobbers an input\n    return C\n"
    )
    os.chmod(tmp_path, 0o755)
    return ws


@pytest.fixture
def loop_config(tmp_path: Path, sshd, tmp_path_factory, bare_python) -> Path:
    """Target `gpu`: the real sshd, a fresh workdir (no harness there), the bare python."""
    extra = f'history_db = "{tmp_path / "history.sqlite3"}"\n'
    path = write_config(tmp_path / "config.toml", sshd, make_workdir(tmp_path_factory, sshd.user))
    text = path.read_text().replace("[targets.local]", extra + "[targets.local]")
    text = text.replace('kind = "ssh"\n', f'kind = "ssh"\npython = "{bare_python}"\n')
    text = text.replace('kind = "local"\n', f'kind = "local"\npython = "{bare_python}"\n')
    path.write_text(text)
    return path
