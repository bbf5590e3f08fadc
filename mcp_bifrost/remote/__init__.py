"""The shell programs the client sends to a target, kept as real `.sh` files beside this module.

Scripts take positional arguments (never interpolated text) and exit with the named codes below;
`mcp_bifrost.errors.error_for_exit` maps each code to an error class through one table.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def script(name: str) -> str:
    """The text of `remote/<name>.sh`, read once from the installed package."""
    return resources.files(__package__).joinpath(f"{name}.sh").read_text(encoding="utf-8")
