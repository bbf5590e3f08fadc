"""The human surface: the same operations as the MCP tools, printed with rich. Each command calls the
Python API (api.GPU, with the CLI's vocabulary and no audit entries: the person at the terminal is the
one who would read them), so the CLI, the tools and scripts share one code path."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from mcp_bifrost.cli_base import (
    ConfigOpt,
    JsonOpt,
    TargetOpt,
    WorkspaceOpt,
    _config,
    _error,
    _print_json,
    _print_table,
    _run,
    err,
    out,
)
from mcp_bifrost.cli_base import (
    app as app,
)
from mcp_bifrost.cli_shell import copy_files_cmd, exec_cmd, push
from mcp_bifrost.errors import BifrostError


@app.command()
def serve(
    workspace: WorkspaceOpt = Path("."),
    http: Annotated[
        str | None, typer.Option(help="serve streamable HTTP on HOST:PORT instead of stdio")
    ] = None,
    allow_host: Annotated[
        list[str] | None, typer.Option(help="extra Host header value allowed over HTTP (repeatable)")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Run the MCP server (stdio by default)."""
    from mcp_bifrost.server import build_server

    cfg = _config(config)
    if not workspace.expanduser().is_dir():  # one line now, not a traceback from the server's first moments
        _error(
            f"the workspace {workspace} is not an existing folder; give the folder you work in with "
            "--workspace (it is never created)"
        )
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    server = build_server(cfg, workspace)
    if http:
        from mcp_bifrost.http import build_http_app, parse_bind, serve_http

        try:
            host, port = parse_bind(http)
            serve_http(build_http_app(server, host, port, allow_host, cfg.http), host, port)
        except BifrostError as exc:
            _error(str(exc))
            raise typer.Exit(2) from None
    else:
        server.run("stdio")


@app.command("client-config")
def client_config_cmd(
    client: Annotated[str | None, typer.Option(help="desktop | code | mcp-json (default: all three)")] = None,
    workspace: WorkspaceOpt = Path("."),
    config: ConfigOpt = None,
) -> None:
    """Print the exact MCP client configuration that starts this server (absolute paths, nothing to fix)."""
    from mcp_bifrost.client_config import CLIENTS, explain, render
    from mcp_bifrost.config import config_path, default_config_path

    if client is not None and client not in CLIENTS:
        _error(f"--client must be one of {', '.join(CLIENTS)} (got {client!r})")
        raise typer.Exit(2)
    if not workspace.expanduser().is_dir():
        _error(
            f"the workspace {workspace} is not an existing folder; give the folder you work in with --workspace"
        )
        raise typer.Exit(2)
    _config(config)  # a broken config is said now, not by a server that exits under the client
    if config is None and config_path().exists() and config_path() != default_config_path():
        config = config_path()  # $BIFROST_CONFIG: the client will not have it, so name the file
    if client is not None:
        sys.stdout.write(render(client, workspace, config) + "\n")
        return
    for name in CLIENTS:
        sys.stdout.write(f"# {explain(name)}\n{render(name, workspace, config)}\n\n")


@app.command("targets")
def targets_cmd(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """List targets with their health (reachable, python, torch, CUDA, GPUs, ncu, missing tools)."""
    report = _run(config, Path("."), lambda b: b.targets())
    if json_out:
        _print_json(report)
    else:
        rows = [
            [
                f"{t.name} (default)" if t.default else t.name,
                t.kind,
                "yes" if t.reachable else "no",
                t.python or "",
                t.torch or ("missing" if "torch" in t.missing else ""),
                t.cuda or "",
                ", ".join(t.gpus),
                t.ncu or "",
                str(t.latency_ms or ""),
                t.error or "",
            ]
            for t in report.targets
        ]
        _print_table(
            ["target", "kind", "reachable", "python", "torch", "cuda", "gpus", "ncu", "latency ms", "error"],
            rows,
            keep={"target", "python", "torch", "cuda", "ncu"},
        )
    if not all(t.reachable and not [m for m in t.missing if m != "torch"] for t in report.targets):
        # (torch is the kernel loop's alone: exec and push work without it, so it is named, not fatal)
        raise typer.Exit(1)


app.command("doctor", help="Same as `targets`: check every target's health.")(targets_cmd)


@app.command()
def trust(
    host: Annotated[
        str, typer.Argument(help="a configured target name, or user@host / host:port / a dotted host name")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="record a first-seen key without asking")] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="with --yes: also replace a recorded key that "
            "differs (only once you know why the host's key changed)",
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Show a host's key fingerprint and record it in known_hosts after confirmation; a key that differs
    from the recorded one is shown as a mismatch and replaced only on explicit consent."""
    from mcp_bifrost.cli_trust import trust_host

    code = trust_host(_config(config), host, yes=yes, replace=replace, out=out, err=err, error=_error)
    if code:
        raise typer.Exit(code)


app.command("exec")(exec_cmd)
app.command()(push)
app.command("copy-files")(copy_files_cmd)
app.command("pull", help="Same as `copy-files`.")(copy_files_cmd)


@app.command()
def demo(workspace: WorkspaceOpt = Path("."), config: ConfigOpt = None) -> None:
    """A scripted MCP session over stdio against `mcp-bifrost serve`, printed step by step."""
    from mcp_bifrost.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(out, workspace, config)))


from mcp_bifrost.loop import cli as cli_loop  # noqa: E402  (the kernel-loop commands: smoke, profile, history, problems)

cli_loop.register(app, out, err, _run, ConfigOpt, TargetOpt, WorkspaceOpt)


def main() -> None:  # pragma: no cover
    app()
