"""Run a function as an unprivileged user: root reads every file, so permission tests need one.

A forked child drops to the user and calls the function; the interpreter and the imported modules
come with the fork, so the user needs no access to this checkout or its virtualenv.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

USER = "bifrost-test"  # CI (Makefile setup-system) creates it when the tests run as root


def unprivileged_dir() -> Path:
    """A scratch folder owned by the unprivileged user (or by us, when we are not root)."""
    path = Path(tempfile.mkdtemp(prefix="bifrost-unpriv-"))
    os.chmod(path, 0o755)
    give_away(path)
    return path


def give_away(path: Path) -> None:
    """Hand a tree to the unprivileged user."""
    if os.getuid() == 0:
        subprocess.run(["chown", "-R", f"{_user().pw_uid}:{_user().pw_gid}", str(path)], check=True)


def call_as_user(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) in a forked child running as the unprivileged user; its JSON-able result, or its error."""
    user = _user() if os.getuid() == 0 else None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            if user is not None:
                os.setgroups([])
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)
                os.environ.update(
                    HOME=user.pw_dir if os.path.isdir(user.pw_dir) else "/tmp", USER=user.pw_name
                )
            message = {"result": fn(*args)}
        except BaseException:
            message = {"error": traceback.format_exc()}
        with os.fdopen(write_end, "w") as out:
            json.dump(message, out)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as got:
        text = got.read()
    os.waitpid(pid, 0)
    message = json.loads(text)
    if "error" in message:
        pytest.fail(f"as {USER}: {message['error']}")
    return message["result"]


def _user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pytest.fail(
            f"running as root needs the user {USER!r} for permission tests (make setup-system makes it)"
        )
    raise AssertionError  # unreachable: pytest.fail raises
