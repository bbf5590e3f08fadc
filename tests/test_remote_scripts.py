"""The shell programs sent to targets: shellcheck-clean, and every exit code they use is named in
errors.RemoteExit with the same number (one table, mapped to errors by REMOTE_EXIT_CODES)."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib import resources

import pytest

from mcp_bifrost.errors import REMOTE_EXIT_CODES, RemoteExit

SCRIPTS = sorted(p for p in resources.files("mcp_bifrost.remote").iterdir() if p.name.endswith(".sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_remote_script_passes_shellcheck(script):
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed: run `make setup-system` or apt-get install shellcheck")
    done = subprocess.run(["shellcheck", "--shell=bash", "--severity=style", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_every_exit_code_a_script_uses_is_named_in_the_table(script):
    text = script.read_text()
    declared = {name: int(code) for name, code in re.findall(r"\bEXIT_([A-Z_]+)=(\d+)", text)}
    used = set(re.findall(r'exit "\$EXIT_([A-Z_]+)"', text))
    literal = sorted({int(c) for c in re.findall(r"\bexit (\d+)", text)} - {0} - set(range(128, 256)))
    assert literal == [], f"{script.name}: exit with a named code (EXIT_<NAME>), not {literal}"
    assert used <= set(declared), f"{script.name} uses undeclared codes {sorted(used - set(declared))}"
    for name, code in declared.items():
        assert name in RemoteExit.__members__ and RemoteExit[name] == code, f"{script.name}: EXIT_{name}={code}"
        assert code in REMOTE_EXIT_CODES, f"RemoteExit.{name} has no entry in REMOTE_EXIT_CODES"
