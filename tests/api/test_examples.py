"""README's "Python API" examples and examples/agent_loop.py run as written, on the `local` target a
newcomer gets with no config file (a fresh HOME: nothing of this machine's own config or state)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOT_RUN = "<!-- not run: needs an API key -->"


def python_api_blocks() -> list[str]:
    """The ```python blocks of README's "Python API" section, except one marked as not run."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"(<!-- [^>]*-->\n)?```python\n(.*?)```", section, flags=re.DOTALL)
    return [code for marker, code in blocks if marker.strip() != NOT_RUN]


def newcomer_env(home: Path) -> dict[str, str]:
    """A fresh HOME and no BIFROST_* or XDG_* settings: the default config (target `local`) and state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIFROST_", "XDG_"))}
    return {**env, "HOME": str(home), "PYTHONPATH": str(REPO)}


@pytest.fixture
def newcomer(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder holding this repository's kernels/ (what README's example expects), and its env."""
    folder = tmp_path / "project"
    shutil.copytree(REPO / "kernels", folder / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    return folder, newcomer_env(home)


def _python(
    script: Path, folder: Path, env: dict[str, str], *, timeout: float
) -> subprocess.CompletedProcess:
    """Run a script as a newcomer would: in their folder, with their environment."""
    return subprocess.run(
        [sys.executable, str(script)], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_readme_python_api_examples_run_as_written(newcomer, tmp_path):
    folder, env = newcomer
    blocks = python_api_blocks()
    assert len(blocks) == 2, "the async example and the GPUSync example"
    for i, code in enumerate(blocks):
        script = tmp_path / f"readme_{i}.py"
        script.write_text(code)
        ran = _python(script, folder, env, timeout=300)
        assert ran.returncode == 0, ran.stderr
        if i == 0:
            assert "stdout step 1\nstdout step 2\nstdout step 3\n" in ran.stdout
            assert "PASS " in ran.stdout and "no flags" in ran.stdout, ran.stdout
        else:
            assert ran.stdout.endswith("one\ntwo\n"), ran.stdout
    audit = Path(env["HOME"], ".local", "state", "mcp-bifrost", "audit.jsonl").read_text()
    assert '"surface": "api"' in audit and '"tool": "run_smoke_test"' in audit


def test_the_agent_loop_example_keeps_the_best_and_profiles_when_stuck(newcomer):
    folder, env = newcomer
    ran = _python(REPO / "examples" / "agent_loop.py", folder, env, timeout=600)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("vectoradd/cand_01.py: FAIL"), ran.stdout
    assert any(line.startswith("vectoradd/cand_02.py: PASS") for line in lines), ran.stdout
    assert any(line.startswith("  stuck; no profile:") and "ncu" in line for line in lines), ran.stdout
    assert re.search(r"^best: vectoradd/cand_0[234]\.py \d+\.\d\dx$", ran.stdout, flags=re.MULTILINE), (
        ran.stdout
    )
    assert lines[-1] == "history holds 4 results for vectoradd"
