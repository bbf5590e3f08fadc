"""The life of a command on a target, for exec and jobs alike (the target's half: remote/process.sh).

A command runs as one process group under a wrapper that tees its output into a job folder. In
the foreground the wrapper also listens to the client: a "kill" line kills the group without a new
channel, and end of input (the server died, the connection broke) or silence kills it too, so no
foreground command outlives its client by more than `SILENCE_S`. A foreground run can be claimed
as a job (it then gets the same timeout watchdog as a detached job); the claim and a job's cancel
use the target's reserved channel, never one that a call holds.
"""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
import time
from dataclasses import dataclass

from mcp_bifrost import remote
from mcp_bifrost.errors import BifrostError, CommandError, JobError, RemoteExit, error_for_exit
from mcp_bifrost.ops.remote_command import run_capture
from mcp_bifrost.targets.base import Process, Target

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SILENCE_S = 30  # remote/process.sh: a foreground run whose client is silent this long is killed
PING_EVERY_S = 10.0  # so the client pings well within it


def remote_command(op: str, *args: object) -> str:
    """The command line that runs `remote/process.sh OP ARGS...`."""
    return remote.command("process", op, *args)


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def env_pairs(env: dict[str, str] | None) -> list[str]:
    """NAME=VALUE pairs; names are checked here, values pass untouched."""
    for key in env or {}:
        if not _ENV_NAME.match(key):
            raise CommandError(f"environment variable name {key!r} is not valid (letters, digits, _)")
    return [f"{k}={v}" for k, v in (env or {}).items()]


def env_line(env: dict[str, str] | None) -> bytes:
    """The environment as the wrapper reads it on stdin: one line, base64 of NUL-ended NAME=VALUE pairs.

    Why not arguments: every user of the host reads every process's command line (/proc/PID/cmdline).
    """
    pairs = "".join(pair + "\0" for pair in env_pairs(env)).encode("utf-8", "surrogateescape")
    return base64.b64encode(pairs) + b"\n"


@dataclass
class Foreground:
    """A command the client is reading. `proc` streams its output; `pgid` is its process group."""

    target: Target
    proc: Process
    jdir: str
    _last_ping: float = 0.0

    @property
    def pgid(self) -> int:
        return self.proc.pgid

    async def _say(self, line: str) -> bool:
        try:
            await self.proc.write_stdin(line.encode() + b"\n")
            return True
        except (BifrostError, OSError):
            return False

    async def ping(self) -> None:
        """Tell the wrapper we are still here (it kills the group after SILENCE_S of silence)."""
        if time.monotonic() - self._last_ping >= PING_EVERY_S:
            self._last_ping = time.monotonic()
            await self._say("")

    async def kill(self, grace_s: float) -> bool:
        """Ask the wrapper to kill the group (TERM, grace, KILL); False if the channel is gone."""
        return await self._say(f"kill {grace_s:g}")

    async def claim(self, remaining_s: float, grace_s: float) -> bool:
        """Turn the run into a job with a watchdog for `remaining_s`; False if it already finished."""
        done = await run_capture(
            self.target, remote_command("claim", self.jdir, max(1, int(remaining_s)), grace_s), reserved=True
        )
        if done.exit_status == RemoteExit.ALREADY_DONE:
            return False
        done.check("claiming the run as a job")
        return True


async def start_foreground(
    target: Target, jdir: str, command: str, cwd: str, env: dict[str, str] | None
) -> Foreground:
    """Start `command` in `cwd`, streaming its output to us."""
    line = env_line(env)
    proc = await target.start(remote_command("run", jdir, cwd, "fg", command), stdin=True)
    await proc.write_stdin(line)
    return Foreground(target, proc, jdir, time.monotonic())


async def start_detached(
    target: Target,
    jdir: str,
    command: str,
    cwd: str,
    env: dict[str, str] | None,
    timeout_s: float,
    grace_s: float,
) -> None:
    """Start a detached job (own session, survives the call and the connection) and its watchdog."""
    script = remote_command("start", jdir, max(1, int(timeout_s)), grace_s, cwd, command)
    (await run_capture(target, script, input=env_line(env))).check(f"starting a job on {target.name}")


async def kill_group(target: Target, pgid: int, grace_s: float, *, remove_dir: str | None = None) -> int:
    """Kill a process group over the reserved channel; returns how many of its processes survived."""
    done = await run_capture(
        target, remote_command("kill", int(pgid), grace_s, remove_dir or ""), reserved=True
    )
    with contextlib.suppress(IndexError, ValueError):
        return int(done.stdout.split()[0])
    return -1


async def cancel(target: Target, jdir: str, grace_s: float) -> int:
    """Mark a job cancelled and kill its group (reserved channel); returns the survivors."""
    done = await run_capture(target, remote_command("cancel", jdir, grace_s), reserved=True)
    if done.exit_status == RemoteExit.NO_JOB:
        raise JobError(f"the job folder {jdir} is gone")
    done.check("cancelling the job")
    with contextlib.suppress(IndexError, ValueError):
        return int(done.stdout.split()[0])
    return -1


def no_dir_error(exit_code: int | None, stderr: str, cwd: str) -> BifrostError | None:
    """The wrapper's own failures ('no such folder', 'cannot create the job folder'), told apart from a
    command that exits with the same code by the wrapper's line on stderr."""
    if exit_code == RemoteExit.NO_DIR and stderr.startswith("bifrost: the folder"):
        return error_for_exit(exit_code, f"{cwd} (push the workspace first, or give an existing cwd)")
    if exit_code == RemoteExit.CANNOT_CREATE and stderr.startswith("bifrost: cannot create"):
        return error_for_exit(exit_code, stderr.strip()[len("bifrost: ") :])
    return None
