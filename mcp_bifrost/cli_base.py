"""What every CLI command shares: the Typer apps, the consoles, the common options, the argument
check, the printers, and `_run` (one async call against a fresh API client, our errors as one line)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from mcp_bifrost import __version__
from mcp_bifrost.api import GPU
from mcp_bifrost.config import Config, load_config
from mcp_bifrost.errors import BifrostError
from mcp_bifrost.messages import Words

T = TypeVar("T")
app = typer.Typer(
    help="mcp-bifrost: run GPU work on remote hosts, as MCP tools or from the shell.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
jobs_app = typer.Typer(help="Detached jobs on a target.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
out = Console(soft_wrap=True)  # sentences are never broken at 80 columns (a pipe's width)
err = Console(stderr=True, soft_wrap=True)


def _error(message: str) -> None:
    """One line on stderr, our text taken literally (no rich markup inside paths or commands)."""
    err.print("error: " + message, style="red", markup=False, highlight=False)


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="config TOML (default: $BIFROST_CONFIG or the platform config dir)"),
]
TargetOpt = Annotated[
    str | None, typer.Option("--target", "-t", help="target name (default: the configured default)")
]
WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="local workspace folder (must exist)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as JSON, for scripts")]


def _version(value: bool) -> None:
    if value:
        print(f"mcp-bifrost {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """mcp-bifrost: run GPU work on remote hosts, as MCP tools or from the shell."""
    _check_argv(sys.argv[1:])


def _check_argv(argv: list[str]) -> None:
    """Every word of the command line, before anything starts: no control characters (tabs and
    newlines pass: a shell command may hold them), valid UTF-8, bounded size. One sentence, exit 2."""
    from mcp_bifrost.arguments import MAX_COMMAND_BYTES, check_text

    for i, word in enumerate(argv):
        try:
            check_text(f"argument {i + 1}", word, shell=True, limit=MAX_COMMAND_BYTES)
        except BifrostError as exc:
            _error(str(exc))
            raise typer.Exit(2) from None


def _print_json(result: BaseModel | Sequence[BaseModel]) -> None:
    if not isinstance(result, BaseModel):
        sys.stdout.write("[" + ",\n".join(r.model_dump_json(indent=2) for r in result) + "]\n")
    else:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")


def _print_table(headers: list[str], rows: list[list[str]], keep: set[str]) -> None:
    """A table whose `keep` columns (ids, versions) are never cut; plain tab-separated lines when
    stdout is not a terminal (a pipe, a file), so that scripts and copy-paste get whole values."""
    if not out.is_terminal:
        for row in [headers, *rows]:
            sys.stdout.write("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in row) + "\n")
        return
    table = Table()
    for i, name in enumerate(headers):
        if name in keep:
            widest = max([len(name), *(len(r[i]) for r in rows)])
            table.add_column(name, no_wrap=True, min_width=widest)
        else:
            table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _config(path: Path | None) -> Config:
    try:
        return load_config(path)
    except BifrostError as exc:
        _error(str(exc))
        raise typer.Exit(2) from None


def _run(config: Path | None, workspace: Path, work: Callable[[GPU], Awaitable[T]]) -> T:
    """Run one async operation against a fresh API client made from the config file `config` (a broken
    one exits 2); our errors print as one line, exit 1."""
    loaded = _config(config)

    async def main() -> T:
        async with GPU(loaded, workspace, audit=False, words=Words.CLI) as gpu:
            return await work(gpu)

    try:
        return asyncio.run(main())
    except BifrostError as exc:
        _error(str(exc))
        raise typer.Exit(1) from None
