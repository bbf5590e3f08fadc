"""What `make test` checks besides behaviour: the Python versions we promise, and the remote shell."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REMOTE = ROOT / "mcp_bifrost" / "remote"
MINIMUM = "3.10"  # pyproject's requires-python, and gpu_harness's promise (README)


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail(
            f"{name} is not installed: run `make setup` (or pip install -e '.[test]' / apt-get install {name})"
        )
    return found


@pytest.mark.parametrize("package", ["mcp_bifrost", "gpu_harness"])
def test_package_runs_on_the_minimum_python(package):
    done = subprocess.run(
        [
            _tool("vermin"),
            "--no-tips",
            "--violations",
            f"-t={MINIMUM}-",
            "--backport",
            "dataclasses",
            "--eval-annotations",
            str(ROOT / package),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (
        f"{package} uses something newer than Python {MINIMUM}:\n{done.stdout}{done.stderr}"
    )


def test_remote_shell_scripts_pass_shellcheck():
    scripts = sorted(REMOTE.glob("*.sh"))
    assert scripts, "mcp_bifrost/remote/ holds no .sh files"
    done = subprocess.run(
        [_tool("shellcheck"), "--shell=bash", "--severity=style", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_requirements_check_names_what_a_target_lacks(tmp_path):
    from mcp_bifrost.errors import RemoteExit

    have = tmp_path / "bin"
    have.mkdir()
    for tool in (
        "uname",
        "awk",
        "base64",
        "cat",
        "date",
        "find",
        "gzip",
        "mkdir",
        "mv",
        "ps",
        "realpath",
        "sha256sum",
        "sort",
        "tail",
        "tee",
        "xargs",
        "grep",
        "flock",
    ):  # no tar, no setsid
        (have / tool).symlink_to(shutil.which(tool))
    done = subprocess.run(
        ["/bin/bash", str(REMOTE / "requirements.sh")],
        capture_output=True,
        text=True,
        env={"PATH": str(have)},
        timeout=30,
    )
    assert done.returncode == RemoteExit.MISSING_TOOLS
    assert done.stdout.split("\n")[:-1] == ["setsid", "tar"]
    full = subprocess.run(
        ["/bin/bash", str(REMOTE / "requirements.sh")], capture_output=True, text=True, timeout=30
    )
    assert (full.returncode, full.stdout) == (0, "")
