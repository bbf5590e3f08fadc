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
    """A shell command line that runs `remote/<name>.sh` with bash and these positional arguments.

    `exec`: bash replaces the shell the target started, so it keeps that shell's pid and process
    group. No rc files: over ssh, bash sources ~/.bashrc even for `bash -c` (pyenv's or conda's
    set-up: 150-370 ms measured) and BASH_ENV in any case; their output would also corrupt ours.
    """
    words = [shlex.quote(script(name)), f"{name}.sh", *(shlex.quote(str(a)) for a in args)]
    return "exec env -u BASH_ENV bash --norc --noprofile -c " + " ".join(words)
