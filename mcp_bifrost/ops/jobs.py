"""Detached runs. State lives on the target under <workdir>/jobs/<id>/, so it survives a server restart.

A job dir holds: command, cwd, pgid, started_at, stdout, stderr, then finished_at and exit_code
(written in that order), plus markers: claim (the job outlives its MCP call), cancelled, timed_out.
The same wrapper serves a foreground exec: it tees output into the dir and deletes the dir at the end,
unless the server claimed it first (atomic `mkdir claim`) to hand the run back as a job.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import secrets
import time

from mcp_bifrost.errors import CommandError, JobNotFound
from mcp_bifrost.models import JobCancelResult, JobInfo, JobLogs
from mcp_bifrost.ops.shell import quote, run_capture
from mcp_bifrost.ops.workspace import cd_command, workdir
from mcp_bifrost.targets.base import Target

_JOB_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WATCH_POLL_S = 1


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


async def job_dir(target: Target, job_id: str) -> str:
    if not _JOB_ID.match(job_id):
        raise JobNotFound(f"{job_id!r} is not a job id (they look like 20261125-093012-a1b2c3)")
    return posixpath.join(await workdir(target), "jobs", job_id)


def env_exports(env: dict[str, str] | None) -> str:
    parts = []
    for key, value in (env or {}).items():
        if not _ENV_NAME.match(key):
            raise CommandError(f"environment variable name {key!r} is not valid (letters, digits, _)")
        parts.append(f"export {key}={quote(value)}; ")
    return "".join(parts)


def wrapper_script(jdir: str, command: str, cwd: str, env: dict[str, str] | None, *, foreground: bool) -> str:
    """The shell program that runs `command` in `cwd`, teeing its output into the job dir."""
    inner = f"{cd_command(cwd)} || exit 1; {env_exports(env)}exec bash --norc -c {quote(command)}"
    ending = (
        'if mkdir "$J/claim" 2>/dev/null; then rm -rf "$J"; fi; exit "$rc"' if foreground else 'exit "$rc"'
    )
    return "\n".join([
        f"J={quote(jdir)}",
        'mkdir -p "$J" || exit 125',
        'echo $$ > "$J/pgid"; date +%s.%N > "$J/started_at"',
        f'printf %s {quote(command)} > "$J/command"; printf %s {quote(cwd)} > "$J/cwd"',
        ": > \"$J/stdout\"; : > \"$J/stderr\"",
        # stdout -> fd3 -> tee stdout; stderr -> tee stderr -> our stderr. tee -p survives a closed channel.
        "{ { ( " + inner + ' ); echo $? > "$J/rc.tmp"; } 2>&1 1>&3 3>&- | tee -p "$J/stderr" >&2 3>&-; } 3>&1 '
        '| tee -p "$J/stdout"',
        'rc=$(cat "$J/rc.tmp" 2>/dev/null || echo 255)',
        'date +%s.%N > "$J/finished_at"; mv "$J/rc.tmp" "$J/exit_code"',
        ending,
    ])


# A process group is alive while it has a member that is not a zombie (`kill -0` also counts zombies,
# and a container's init may never reap them).
ALIVE = "ps -e -o pgid=,stat= | awk -v p=$P '$1==p && $2 !~ /^Z/ {n++} END {exit n == 0}'"


def watchdog_script(jdir: str, pgid_expr: str, timeout_s: float, grace_s: float) -> str:
    """Kills the job's process group once it has run `timeout_s`; exits as soon as the job ends."""
    polls = max(1, int(timeout_s / WATCH_POLL_S))
    return (
        f'J={quote(jdir)}; P={pgid_expr}; n=0; '
        f'while [ $n -lt {polls} ]; do '
        f'[ -e "$J/exit_code" ] || [ -e "$J/cancelled" ] || ! {ALIVE} && exit 0; '
        f'sleep {WATCH_POLL_S}; n=$((n+1)); done; '
        ': > "$J/timed_out"; ' + kill_group_script("$P", grace_s, report=False)
    )


def kill_group_script(pgid: str, grace_s: float, *, report: bool = True) -> str:
    """TERM the process group, wait up to grace_s, KILL it; print how many processes survived."""
    steps = max(1, int(grace_s / 0.05))
    script = (
        f"P={pgid}; kill -TERM -$P 2>/dev/null; i=0; "
        f"while {ALIVE} && [ $i -lt {steps} ]; do sleep 0.05; i=$((i+1)); done; "
        "kill -KILL -$P 2>/dev/null; "
    )
    if report:
        script += (
            "i=0; while [ $i -lt 40 ]; do "
            "n=$(ps -e -o pgid=,stat= | awk -v p=$P '$1==p && $2 !~ /^Z/' | wc -l); "
            "[ $n -eq 0 ] && break; sleep 0.05; i=$((i+1)); done; echo $n"
        )
    return script


async def kill_group(target: Target, pgid: int, grace_s: float, *, remove_dir: str | None = None) -> int:
    """Kill a process group on the target over a separate channel; returns the survivor count."""
    script = kill_group_script(str(int(pgid)), grace_s)
    if remove_dir:
        script += f"; rm -rf {quote(remove_dir)}"
    done = await run_capture(target, script)
    try:
        return int(done.stdout.split()[0])
    except (IndexError, ValueError):
        return -1


async def claim(target: Target, jdir: str, remaining_s: float, grace_s: float) -> bool:
    """Atomically turn a running foreground command into a job; False if it already finished."""
    watchdog = watchdog_script(jdir, '$(cat "$J/pgid")', remaining_s, grace_s)
    done = await run_capture(
        target,
        f"J={quote(jdir)}; mkdir \"$J/claim\" 2>/dev/null || exit 3; "
        f"(setsid /bin/sh -c {quote(watchdog)} </dev/null >/dev/null 2>&1 &); exit 0",
    )
    return done.exit_status == 0


async def start_job(
    target: Target, command: str, cwd: str, env: dict[str, str] | None, timeout_s: float, grace_s: float
) -> str:
    """Start a detached run (own session, survives the call and the connection); returns its id."""
    job_id = new_job_id()
    jdir = await job_dir(target, job_id)
    script = wrapper_script(jdir, command, cwd, env, foreground=False)
    watchdog = watchdog_script(jdir, '$(cat "$J/pgid")', timeout_s, grace_s)
    launch = (
        f"J={quote(jdir)}; mkdir -p \"$J/claim\" && "
        f"(setsid /bin/sh -c {quote(script)} </dev/null >/dev/null 2>&1 &) && "
        # wait (briefly) for the pgid file so that status/cancel work at once
        'i=0; while [ ! -s "$J/pgid" ] && [ $i -lt 100 ]; do sleep 0.01; i=$((i+1)); done; '
        f"(setsid /bin/sh -c {quote(watchdog)} </dev/null >/dev/null 2>&1 &); exit 0"
    )
    (await run_capture(target, launch)).check(f"starting job on {target.name}")
    return job_id


_FIELDS = ("command", "cwd", "pgid", "started_at", "finished_at", "exit_code", "cancelled", "timed_out")


async def job_status(target: Target, job_id: str) -> JobInfo:
    jdir = await job_dir(target, job_id)
    reads = "".join(
        f'printf "{name}\\0"; cat "$J/{name}" 2>/dev/null; [ -e "$J/{name}" ] && printf "\\0" || printf "\\1\\0"; '
        for name in _FIELDS
    )
    # Liveness first, files after: a job seen dead and then without exit_code really was lost.
    script = (
        f"J={quote(jdir)}; [ -d \"$J\" ] || exit 44; "
        'P=$(cat "$J/pgid" 2>/dev/null); '
        f'if [ -n "$P" ] && {ALIVE}; then printf "alive\\0001\\0"; else printf "alive\\0000\\0"; fi; '
        f"{reads}"
        'printf "sizes\\0%s %s\\0" "$(wc -c < "$J/stdout" 2>/dev/null || echo 0)" '
        '"$(wc -c < "$J/stderr" 2>/dev/null || echo 0)"'
    )
    done = await run_capture(target, script)
    if done.exit_status == 44:
        raise JobNotFound(
            f"no job {job_id} on target {target.name}; it may be on another target (pass target=...)"
        )
    done.check(f"reading job {job_id}")
    parts = done.stdout.split(b"\0")
    fields: dict[str, str | None] = {}
    for key, value in zip(parts[0::2], parts[1::2]):
        text = value.decode(errors="replace")
        fields[key.decode()] = None if text.endswith("\x01") and key.decode() in _FIELDS else text
    out_size, err_size = (int(x) for x in (fields.get("sizes") or "0 0").split())
    alive = fields.get("alive") == "1"
    exit_code = _int(fields.get("exit_code"))
    if exit_code is not None:
        state = "finished"
    elif alive:
        state = "running"
    elif fields.get("cancelled") is not None or fields.get("timed_out") is not None:
        state = "killed"
    else:
        state = "lost"
    started, finished = _float(fields.get("started_at")), _float(fields.get("finished_at"))
    end = finished or (time.time() if state == "running" else None)
    return JobInfo(
        job_id=job_id, target=target.name, command=fields.get("command") or "", cwd=fields.get("cwd") or "",
        state=state, exit_code=exit_code, pgid=_int(fields.get("pgid")), started_at=started,
        finished_at=finished, duration_s=round(end - started, 3) if (end and started) else None,
        stdout_bytes=out_size, stderr_bytes=err_size, log_dir=jdir,
    )


def _int(v: str | None) -> int | None:
    try:
        return int(v.strip()) if v else None
    except ValueError:
        return None


def _float(v: str | None) -> float | None:
    try:
        return float(v.strip()) if v else None
    except ValueError:
        return None


async def job_logs(target: Target, job_id: str, tail_lines: int, cap_bytes: int) -> JobLogs:
    jdir = await job_dir(target, job_id)
    n = max(1, int(tail_lines))
    logs_cmd = (
        f"J={quote(jdir)}; tail -n {n} \"$J/stdout\" 2>/dev/null | tail -c {cap_bytes}; "
        f"tail -n {n} \"$J/stderr\" 2>/dev/null | tail -c {cap_bytes} >&2"
    )
    info, logs = await asyncio.gather(job_status(target, job_id), run_capture(target, logs_cmd))
    return JobLogs(
        job_id=job_id, state=info.state, exit_code=info.exit_code,
        stdout=logs.stdout.decode(errors="replace"), stderr=logs.stderr.decode(errors="replace"),
        stdout_bytes=info.stdout_bytes, stderr_bytes=info.stderr_bytes,
    )


async def job_cancel(target: Target, job_id: str, grace_s: float) -> JobCancelResult:
    info = await job_status(target, job_id)
    survivors = 0
    if info.state == "running" and info.pgid:
        await run_capture(target, f": > {quote(posixpath.join(info.log_dir, 'cancelled'))}")
        survivors = await kill_group(target, info.pgid, grace_s)
    after = await job_status(target, job_id)
    return JobCancelResult(job_id=job_id, was_running=info.state == "running", state=after.state,
                           survivors=max(survivors, 0))


async def list_jobs(target: Target, limit: int = 20) -> list[JobInfo]:
    root = posixpath.join(await workdir(target), "jobs")
    done = await run_capture(target, f"ls -1 {quote(root)} 2>/dev/null | sort -r | head -n {int(limit)}")
    ids = [line for line in done.stdout.decode().split() if _JOB_ID.match(line)]
    return list(await asyncio.gather(*(job_status(target, i) for i in ids)))
