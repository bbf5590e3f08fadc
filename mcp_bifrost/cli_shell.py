"""The shell's CLI commands: exec (streamed, with piped stdin and the shell's exit codes), push,
copy-files and the jobs group. cli.py registers exec, push and copy-files in its order; the jobs
commands hang on cli_base.jobs_app."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mcp_bifrost.cli_base import (
    ConfigOpt,
    JsonOpt,
    TargetOpt,
    WorkspaceOpt,
    _error,
    _print_json,
    _print_table,
    _run,
    err,
    jobs_app,
    out,
)
from mcp_bifrost.errors import BifrostError

STDIN_MAX_BYTES = 64 * 1024  # piped input travels inside the command line (its bound is MAX_COMMAND_BYTES)


def exec_cmd(
    command: Annotated[str, typer.Argument(help="shell command, run in the remote workspace")],
    target: TargetOpt = None,
    cwd: Annotated[
        str | None, typer.Option(help="directory relative to the remote workspace, or absolute")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="seconds before the command is killed (positive; default 600, or 86400 with --background)"
        ),
    ] = None,
    background: Annotated[
        bool, typer.Option("--background", "-b", help="start a detached job; prints its id")
    ] = False,
    stdin: Annotated[
        bool,
        typer.Option(
            "--stdin/--no-stdin",
            help="pass piped input to the command (default: when "
            f"stdin is a pipe or a file, up to {STDIN_MAX_BYTES // 1024} KiB)",
        ),
    ] = True,
    workspace: WorkspaceOpt = Path("."),
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a command on a target, its output streamed as it comes; exits as a shell would: the command's
    code, 124 when it timed out, 125 when it never started."""
    piped = _piped_stdin() if stdin else None
    if piped:
        command = with_stdin(command, piped)
    tee = None if json_out or background else _stream
    try:
        result = _run(
            config,
            workspace,
            lambda b: b.exec(
                command,
                target=target,
                cwd=cwd,
                timeout_s=timeout,
                background=background,
                tee=tee,
            ),
        )
    except BrokenPipeError:  # our reader left (`| head`): the command was killed; exit as a shell's SIGPIPE
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        raise typer.Exit(141) from None
    if json_out:
        _print_json(result)
    elif background:
        sys.stdout.write(f"{result.job_id}\n")
    if result.note and not json_out:
        err.print(result.note, style="yellow", markup=False, highlight=False)
    raise typer.Exit(shell_status(result))


def _stream(name: str, chunk: bytes) -> None:
    """Write a chunk of the command's output to our own stdout/stderr at once (no cap: the reader owns it)."""
    stream = sys.stdout if name == "stdout" else sys.stderr
    stream.flush()
    stream.buffer.write(chunk)
    stream.buffer.flush()


def _piped_stdin() -> bytes | None:
    """Our stdin's bytes when it is a pipe or a file (never a terminal); refused over STDIN_MAX_BYTES."""
    import os
    import stat

    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return None
    if not (stat.S_ISFIFO(mode) or stat.S_ISREG(mode)):
        return None
    data = sys.stdin.buffer.read(STDIN_MAX_BYTES + 1)
    if len(data) > STDIN_MAX_BYTES:
        _error(
            f"piped input is over {STDIN_MAX_BYTES // 1024} KiB; push the file and redirect it in the command "
            "(`mcp-bifrost exec 'cmd < file'`), or pass --no-stdin"
        )
        raise typer.Exit(2)
    return data or None


def with_stdin(command: str, data: bytes) -> str:
    """The command with `data` as its standard input (the wrapper's own stdin is its control channel)."""
    import base64

    from mcp_bifrost.ops.remote_command import quote

    return f"printf %s {quote(base64.b64encode(data).decode())} | base64 -d | {{\n{command}\n}}"


def shell_status(result) -> int:
    """The exit status a shell would give: the command's own (128+N when signal N killed it), 124 when
    it was killed at its timeout, 125 when it never started; 0 for a job that started."""
    if result.timed_out:
        return 125 if (result.note or "").startswith("never started") else 124
    if result.exit_code is None:
        return 0 if result.job_id else 125
    return result.exit_code


def _transfer(verb: str, config: Path | None, workspace: Path, call) -> Any:
    """Run a push or copy_files (`call(gpu, update)`) with a progress bar fed by its byte callback."""
    stop_bar, update = _progress_bar(verb)
    try:
        return _run(config, workspace, lambda b: call(b, update))
    finally:
        stop_bar()


def _progress_bar(verb: str):
    """A rich progress bar fed by the (done_bytes, total_bytes) callback of push / copy_files.
    It appears only for transfers big enough to watch; `stop()` of one never shown prints nothing
    (rich's own stop writes a blank line to stderr even then)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=True,
    )
    task = None

    async def update(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            if total < 1 << 20:
                return
            bar.start()
            task = bar.add_task(verb, total=total)
        bar.update(task, completed=done, total=total)

    def stop() -> None:
        if task is not None:
            bar.stop()

    return stop, update


def push(
    local_dir: Annotated[
        Path | None,
        typer.Argument(help="local folder, relative to this shell's directory (default: the workspace)"),
    ] = None,
    target: TargetOpt = None,
    remote_dir: Annotated[str | None, typer.Option(help="folder inside the target's workdir")] = None,
    delete: Annotated[
        bool, typer.Option("--delete/--no-delete", help="delete remote files gone locally")
    ] = True,
    checksum: Annotated[bool, typer.Option(help="compare sha256 instead of size+mtime")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="show what would change")] = False,
    workspace: WorkspaceOpt = Path("."),
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make the remote twin of a folder equal the local working tree (only changed files travel)."""
    result = _transfer(
        "push",
        config,
        workspace,
        lambda b, update: b.push(
            target=target,
            local_dir=str(local_dir.resolve()) if local_dir else None,
            remote_dir=remote_dir,
            delete=delete,
            checksum=checksum,
            dry_run=dry_run,
            progress=update,
            confined=False,
        ),
    )
    if json_out:
        _print_json(result)
        return
    for path in result.sent:
        out.print(f"[green]send[/green]   {path}")
    for path in result.deleted:
        out.print(f"[red]delete[/red] {path}")
    for reason in result.refused:
        err.print(f"[yellow]refused[/yellow] {reason}")
    verb = "would send" if result.dry_run else "sent"
    out.print(
        f"{result.target}:{result.remote_dir}: {verb} {result.files_sent} files "
        f"({result.bytes_sent:,} bytes on the wire), deleted {result.files_deleted}, "
        f"unchanged {result.files_unchanged}, {result.duration_s:.2f} s"
    )
    if result.note:
        err.print(f"[yellow]{result.note}[/yellow]")


def copy_files_cmd(
    remote_paths: Annotated[
        list[str], typer.Argument(help="remote files/folders, relative to the remote workspace")
    ],
    local_dir: Annotated[
        Path, typer.Option("--to", help="local folder to write into, relative to this shell's directory")
    ] = Path("."),
    target: TargetOpt = None,
    workspace: WorkspaceOpt = Path("."),
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fetch files or folders from a target into a local folder (the copy_files tool). Alias: pull.

    Unlike the MCP tool, --to may name any folder: the person at the terminal owns this disk."""
    from mcp_bifrost.arguments import check_value

    try:
        check_value("remote path", remote_paths)
    except BifrostError as exc:
        _error(str(exc))
        raise typer.Exit(2) from None
    result = _transfer(
        "copy",
        config,
        workspace,
        lambda b, update: b.copy_files(
            remote_paths, str(local_dir.resolve()), target=target, progress=update, confined=False
        ),
    )
    if json_out:
        _print_json(result)
        return
    for path in result.local_paths:
        out.print(path, markup=False, highlight=False)
    for reason in result.skipped:
        err.print(f"skipped {reason}", style="yellow", markup=False, highlight=False)
    out.print(
        f"copied {result.files_copied} files ({result.content_bytes:,} bytes) in {result.duration_s:.2f} s"
    )


JobTargetOpt = Annotated[
    str | None, typer.Option("--target", "-t", help="the job's target, if the id does not name it")
]


@jobs_app.command("list")
def jobs_list(
    target: TargetOpt = None, limit: int = 20, config: ConfigOpt = None, json_out: JsonOpt = False
) -> None:
    """Recent jobs on a target, newest first."""
    found = _run(config, Path("."), lambda b: b.list_jobs(target=target, limit=limit))
    if json_out:
        _print_json(found)
        return
    rows = [
        [
            j.job_id,
            j.state,
            "" if j.exit_code is None else str(j.exit_code),
            readable_time(j.started_at),
            "" if j.duration_s is None else f"{j.duration_s:.1f}",
            j.command,
        ]
        for j in found
    ]
    _print_table(
        ["job id", "state", "exit", "started", "seconds", "command"], rows, keep={"job id", "started"}
    )


def readable_time(epoch: float | None) -> str:
    """Local wall-clock time of an epoch timestamp, as a person reads it."""
    import time

    return "" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


@jobs_app.command("status")
def jobs_status(
    job_id: str, target: JobTargetOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False
) -> None:
    """State of one job (JSON; with a terminal, the times are also shown as local dates)."""
    info = _run(config, Path("."), lambda b: b.job_status(job_id, target=target))
    _print_json(info)
    if not json_out and out.is_terminal:
        err.print(
            f"started {readable_time(info.started_at) or '-'}, finished {readable_time(info.finished_at) or '-'}",
            markup=False,
            highlight=False,
        )


@jobs_app.command("logs")
def jobs_logs(
    job_id: str,
    tail: Annotated[int, typer.Option(help="last N lines")] = 200,
    target: JobTargetOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Last lines of a job's stdout and stderr."""
    logs = _run(config, Path("."), lambda b: b.job_logs(job_id, tail_lines=tail, target=target))
    if json_out:
        _print_json(logs)
        return
    sys.stdout.write(logs.stdout)
    sys.stderr.write(logs.stderr)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: str, target: JobTargetOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False
) -> None:
    """Stop a job (TERM, then KILL its process group); prints the result as JSON."""
    _print_json(_run(config, Path("."), lambda b: b.job_cancel(job_id, target=target)))
