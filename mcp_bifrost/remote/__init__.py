"""The shell programs the client sends to a target, kept as real `.sh` files beside this module.

Scripts take positional arguments (never interpolated text) and exit with the named codes below;
`mcp_bifrost.errors.error_for_exit` maps each code to an error class through one table.
"""

from __future__ import annotations

import shlex
from functools import cache
from importlib import resources


@cache
def resource(filename: str) -> str:
    """The text of `remote/<filename>`, read once from the installed package."""
    return resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")


def script(name: str) -> str:
    """The text of `remote/<name>.sh`."""
    return resource(f"{name}.sh")


def command(name: str, *args: object) -> str:
    """A shell command line that runs `remote/<name>.sh` with these positional arguments, quoted whole.

    The script's first line picks the shell. bash scripts run as `exec env -u BASH_ENV bash --norc
    --noprofile -c`: exec keeps the started shell's pid and process group; no rc files, because over
    ssh bash sources ~/.bashrc even for `bash -c` (pyenv's or conda's set-up: 150-370 ms measured)
    and BASH_ENV in any case, and their output would corrupt ours. POSIX scripts run under /bin/sh.
    """
    text = script(name)
    quoted = [shlex.quote(text), name, *(shlex.quote(str(a)) for a in args)]
    if text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash"):
        return "exec env -u BASH_ENV bash --norc --noprofile -c " + " ".join(quoted)
    return "/bin/sh -c " + " ".join(quoted)
