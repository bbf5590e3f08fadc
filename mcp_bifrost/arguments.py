"""Arguments checked where they enter (an MCP call, a command line), before anything starts.

A NUL or another control character in a path or a name never means what the caller hoped (and a
NUL breaks the framing of everything downstream), a command of megabytes is a mistake, and a
timeout of 3e9 s overflows the clocks it reaches. Each is refused here with one sentence that names
the argument, the rule and the bound; the operations below may then trust what they are given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mcp_bifrost.errors import CommandError

MAX_COMMAND_BYTES = 100 * 1024  # a shell command (exec), in UTF-8 bytes
MAX_TEXT_BYTES = 4096  # any other string: paths, names, regexes (PATH_MAX)
MAX_ENV_BYTES = 64 * 1024  # all env names and values together
MAX_ITEMS = 1000  # entries of a list or env
MAX_TIMEOUT_S = 7 * 24 * 3600.0  # a week: longer is a typo, and 3e9 s would overflow the remote clocks

# Shell text (a command, an env value) may hold tabs and newlines; nothing else may hold any control character.
_CONTROL_IN_SHELL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_ANYWHERE = re.compile(r"[\x00-\x1f\x7f]")
_SHELL_TEXT = {"command", "env"}


def _char_name(ch: str) -> str:
    return {"\x00": "a NUL byte", "\t": "a tab", "\n": "a newline", "\r": "a carriage return"}.get(
        ch, f"the control character {ch!r}"
    )


def check_text(name: str, value: str, *, shell: bool = False, limit: int | None = None) -> None:
    """Refuse control characters (tabs and newlines pass in shell text), surrogates and oversize text."""
    bad = (_CONTROL_IN_SHELL if shell else _CONTROL_ANYWHERE).search(value)
    if bad:
        allowed = " (tabs and newlines are allowed)" if shell else ""
        raise CommandError(
            f"{name} contains {_char_name(bad.group())} at character {bad.start()}; control "
            f"characters cannot be passed{allowed}: remove it"
        )
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        shown = value.encode("utf-8", "surrogateescape" if _escaped(value) else "backslashreplace")[:80]
        what = (
            "" if name.startswith("env[") else f" ({shown!r})"
        )  # an env value may be a secret: never echoed
        raise CommandError(
            f"{name} is not valid UTF-8 text{what}; rename the file or folder, or give another path"
        ) from None
    limit = limit or (MAX_COMMAND_BYTES if name == "command" else MAX_TEXT_BYTES)
    if size > limit:
        hint = " (put a long script in a file, push it, and run the file)" if name == "command" else ""
        raise CommandError(f"{name} is {size:,} bytes; at most {limit:,} bytes are accepted{hint}")


def _escaped(value: str) -> bool:
    try:
        value.encode("utf-8", "surrogateescape")
        return True
    except UnicodeEncodeError:
        return False


def check_timeout(name: str, value: float | None) -> None:
    """A timeout is a positive, finite number of seconds up to MAX_TIMEOUT_S (None: the default)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value <= 0:
        raise CommandError(
            f"{name} must be a positive number of seconds (got {value!r}); leave it out for the default"
        )
    if value > MAX_TIMEOUT_S:
        raise CommandError(
            f"{name} is {value:g} s; at most {MAX_TIMEOUT_S:g} s (7 days) is accepted: for longer "
            "work, start a detached job and let it checkpoint"
        )


def check_value(name: str, value: Any) -> None:
    """Walk one argument (strings, lists, mappings) and apply the rules of its name."""
    shell = name.split(".")[0].split("[")[0] in _SHELL_TEXT
    if isinstance(value, str):
        check_text(name, value, shell=shell and not name.endswith(" name"))
    elif isinstance(value, (list, tuple)):
        _check_count(name, value)
        for i, item in enumerate(value):
            check_value(f"{name}[{i}]", item)
    elif isinstance(value, dict):
        _check_count(name, value)
        total = 0
        for key, item in value.items():
            check_value(f"{name} name", str(key))
            check_value(f"{name}[{key!r}]", item)
            total += len(str(key).encode("utf-8", "replace")) + len(str(item).encode("utf-8", "replace"))
        if total > MAX_ENV_BYTES:
            raise CommandError(f"{name} holds {total:,} bytes; at most {MAX_ENV_BYTES:,} bytes are accepted")
    elif name.endswith("timeout_s") or name == "timeout":
        check_timeout(name, value)


def _check_count(name: str, items: Iterable[Any]) -> None:
    count = len(list(items))
    if count > MAX_ITEMS:
        raise CommandError(f"{name} has {count:,} entries; at most {MAX_ITEMS:,} are accepted")


def check_arguments(arguments: dict[str, Any]) -> None:
    """Every argument of one call, by the rules of its name."""
    for name, value in arguments.items():
        check_value(name, value)


def unknown_arguments(tool: str, given: Iterable[str], valid: Iterable[str]) -> str | None:
    """The sentence refusing arguments a tool does not have (a misspelling must not fall back to a default)."""
    unknown = sorted(set(given) - set(valid))
    if not unknown:
        return None
    names = ", ".join(repr(u) for u in unknown)
    return (
        f"{tool} has no argument{'s' if len(unknown) > 1 else ''} {names}; its arguments are: "
        f"{', '.join(sorted(valid)) or '(none)'}. Nothing was run"
    )


def describe_validation_error(tool: str, errors: Sequence[Mapping[str, Any]]) -> str:
    """pydantic's errors as sentences in the tool's words (no URLs, no input dumps)."""
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ())) or "(arguments)"
        msg = str(err.get("msg", "is invalid"))
        if err.get("type") == "missing":
            parts.append(f"`{where}` is required")
            continue
        given = err.get("input")
        shown = "" if isinstance(given, (dict, list)) or given is None else f" (got {str(given)[:60]!r})"
        parts.append(f"`{where}`: {msg[0].lower() + msg[1:]}{shown}")
    return f"{tool}: invalid arguments: " + "; ".join(parts) + ". Fix them and call again"
