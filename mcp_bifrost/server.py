"""The MCP surface: thin tools over the Python API (api.GPU). Each tool validates, calls one method, returns
its model: the tools, the CLI and scripts share one code path, so they never drift.

Every call is appended to the audit log as it starts and as it ends (AuditedServer wraps the SDK's
call_tool, so argument-validation rejections and unknown tools are recorded too); our own errors
reach the model as ToolError with a sentence that says what to do next. The server holds its GPU client
with audit=False: it audits at its own level, so one tool call is one pair of entries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field, ValidationError

from mcp_bifrost import __version__, models
from mcp_bifrost.api import GPU
from mcp_bifrost.arguments import check_arguments, describe_validation_error, unknown_arguments
from mcp_bifrost.audit import AuditLog, summary
from mcp_bifrost.config import Config
from mcp_bifrost.errors import BifrostError
from mcp_bifrost.loop import tools as loop_tools
from mcp_bifrost.tool_hints import TargetArg, acts, api_arguments, reads

log = logging.getLogger(__name__)
T = TypeVar("T")  # what one API call returns: a model, or a plot's bytes

INSTRUCTIONS = (
    """\
mcp-bifrost runs commands on remote GPU machines ("targets") over SSH, in a twin of your local
workspace (<workdir>/workspaces/<name>). Call `targets` first to see what is configured and healthy.
`exec` runs a shell command there and always returns the exit code; output is head+tail within a cap.
Commands that outlast the call budget continue as jobs: poll `job_status`/`job_logs`, or `job_cancel`.
Use background=true for long runs (training, sweeps).

"""
    + loop_tools.INSTRUCTIONS
)

JobId = Annotated[
    str,
    Field(
        description="id returned by exec, as job lists show it (gpu:20261125-093012-a1b2c3); "
        "a bare id means the default target"
    ),
]
JobTarget = Annotated[str | None, Field(description="the job's target, if the id does not name it")]


class AuditedServer(MCPServer):
    """MCPServer that writes a start and an end entry to the audit log for every tool call."""

    def __init__(self, *args: Any, audit: AuditLog, default_target: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.audit = audit
        self.default_target = default_target

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        target = self._target_of(name, arguments)
        call = self.audit.start(name, target, arguments)
        started = time.monotonic()
        try:
            self._check(name, arguments)
            try:
                result = await super().call_tool(name, arguments, context)
            except ToolError as exc:
                if isinstance(exc.__cause__, ValidationError):  # pydantic's text names URLs, not tool words
                    raise ToolError(
                        describe_validation_error(name, exc.__cause__.errors())
                    ) from exc.__cause__
                raise
        except BaseException as exc:
            self.audit.end(call, name, target, {"error": _error_text(exc), "seconds": _since(started)})
            raise
        self.audit.end(call, name, target, {**_outcome(result), "seconds": _since(started)})
        return result

    def _check(self, name: str, arguments: dict[str, Any]) -> None:
        """Refuse unknown arguments (a misspelt `timeout` must not run with the default) and hostile values."""
        tool = self._tool_manager.get_tool(name)
        if tool is None:
            return  # the SDK names the unknown tool
        refused = unknown_arguments(name, arguments, (tool.parameters or {}).get("properties", {}))
        if refused:
            raise ToolError(refused)
        try:
            check_arguments(arguments)
        except BifrostError as exc:
            raise ToolError(f"{name}: {exc}") from exc

    def _target_of(self, name: str, arguments: dict[str, Any]) -> str | None:
        """The target a call addresses, the default resolved; None for `targets` and unknown tools."""
        if isinstance(arguments.get("target"), str) and arguments["target"]:
            return arguments["target"]
        job_id = arguments.get("job_id")
        if isinstance(job_id, str) and ":" in job_id:
            return job_id.rpartition(":")[0]
        tool = self._tool_manager.get_tool(name)
        properties = (tool.parameters or {}).get("properties", {}) if tool else {}
        return self.default_target if ("target" in properties or "job_id" in properties) else None


def _error_text(exc: BaseException) -> str:
    """The error as logged. A validation error names the fields only: its values may be secrets (env)."""
    if isinstance(exc.__cause__, ValidationError):
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.__cause__.errors()})
        return f"invalid arguments: {', '.join(fields)}"
    return (str(exc) if isinstance(exc, ToolError) else f"{type(exc).__name__}: {exc}")[:2000]


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _outcome(result: Any) -> dict[str, Any]:
    if isinstance(result, CallToolResult):
        if result.is_error:
            text = " ".join(getattr(c, "text", "") for c in result.content)
            return {"error": text[:2000]}
        data = result.structured_content or {}
        return {"result": summary(data)}
    return {"result": {}}


def build_server(config: Config, workspace: Path) -> MCPServer:
    audit = AuditLog(config.audit_log_path(), surface="mcp")
    live: dict[str, GPU] = {}

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[GPU]:
        gpu = live["gpu"] = GPU(config, workspace, audit=False)  # AuditedServer records each call
        try:
            yield gpu
        finally:
            await gpu.close()

    server = AuditedServer(
        name="mcp-bifrost",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        audit=audit,
        default_target=config.default_target,
    )

    async def call(ctx: Context, op: Callable[[GPU], Awaitable[T]]) -> T:
        """Run one API call; our errors become ToolError (AuditedServer records the call)."""
        gpu = cast(GPU, ctx.request_context.lifespan_context)  # the lifespan above yields it
        try:
            return await op(gpu)
        except BifrostError as exc:
            raise ToolError(str(exc)) from exc

    @server.tool(
        name="exec",
        annotations=acts("Run a shell command on a target", destructive=True, idempotent=False),
    )
    async def exec_(
        command: Annotated[
            str,
            Field(
                description="shell command (bash) run in this workspace's twin on the target "
                "(<workdir>/workspaces/<name>); at most 100 KiB",
                min_length=1,
            ),
        ],
        ctx: Context,
        target: TargetArg = None,
        cwd: Annotated[
            str | None,
            Field(
                description="working folder: relative to this workspace's twin on the target, or "
                "absolute; default: the twin"
            ),
        ] = None,
        timeout_s: Annotated[
            float | None,
            Field(
                description="seconds before the command's process group is killed (TERM, then KILL); "
                "positive, at most 604800 (7 days); default 600 (limits.default_timeout_s), "
                "or 86400 with background=true (limits.job_timeout_s)"
            ),
        ] = None,
        env: Annotated[
            dict[str, str] | None, Field(description="extra environment variables, added to the target's own")
        ] = None,
        background: Annotated[
            bool, Field(description="start as a detached job and return its job_id at once (default false)")
        ] = False,
    ) -> models.ExecResult:
        """Run a shell command in the workspace on a target (a GPU host). Returns the exit code, stdout
        and stderr (head+tail within a cap, with full byte counts), duration and timed_out. A command
        still running after the call budget (~45 s) continues as a job: its job_id is returned."""
        asked = api_arguments(exec_, locals())

        async def progress(elapsed: float, line: str) -> None:
            await ctx.report_progress(
                elapsed, None, f"{elapsed:.0f} s: {line}" if line else f"{elapsed:.0f} s"
            )

        return await call(ctx, lambda gpu: gpu.exec(**asked, use_budget=True, progress=progress))

    @server.tool(annotations=reads("State of a job", open_world=True))
    async def job_status(job_id: JobId, ctx: Context, target: JobTarget = None) -> models.JobInfo:
        """State of a detached job: pending (in a Slurm queue, with its reason) / running / finished / killed /
        lost, exit code, duration, output sizes; on a Slurm target also its Slurm state, reason and node."""
        return await call(ctx, lambda gpu: gpu.job_status(job_id, target=target))

    @server.tool(annotations=reads("Output of a job", open_world=True))
    async def job_logs(
        job_id: JobId,
        ctx: Context,
        tail_lines: Annotated[
            int,
            Field(
                description="how many last lines of each stream (default 200, at most 100000)",
                ge=1,
                le=100_000,
            ),
        ] = 200,
        target: JobTarget = None,
    ) -> models.JobLogs:
        """The last lines of a job's stdout and stderr, and its state."""
        return await call(ctx, lambda gpu: gpu.job_logs(job_id, tail_lines=tail_lines, target=target))

    @server.tool(annotations=acts("Stop a job", destructive=True, idempotent=True))
    async def job_cancel(job_id: JobId, ctx: Context, target: JobTarget = None) -> models.JobCancelResult:
        """Stop a job: TERM its whole process group, then KILL what is left. Reports survivors (should be 0)."""
        return await call(ctx, lambda gpu: gpu.job_cancel(job_id, target=target))

    def byte_progress(ctx: Context, verb: str) -> Callable[[int, int], Awaitable[None]]:
        async def report(done: int, total: int) -> None:
            await ctx.report_progress(done, total or None, f"{verb} {done:,} of {total:,} bytes")

        return report

    @server.tool(annotations=acts("Sync the workspace to a target", destructive=True, idempotent=True))
    async def push(
        ctx: Context,
        target: TargetArg = None,
        local_dir: Annotated[
            str | None,
            Field(
                description="local folder, relative to the server's workspace or absolute; default: the workspace"
            ),
        ] = None,
        remote_dir: Annotated[
            str | None,
            Field(
                description="destination folder on the target: relative to this workspace's twin "
                "(<workdir>/workspaces/<name>), or absolute inside the workdir; default: the twin "
                "(or, for a local_dir inside the workspace, its place in the twin)"
            ),
        ] = None,
        delete: Annotated[
            bool, Field(description="delete remote files that are gone locally (default true)")
        ] = True,
        checksum: Annotated[
            bool, Field(description="compare sha256 instead of size+mtime (default false)")
        ] = False,
        dry_run: Annotated[
            bool, Field(description="report what would change, change nothing (default false)")
        ] = False,
    ) -> models.PushResult:
        """Make the remote workspace equal the local working tree (git tracked + untracked-not-ignored
        files, or a .gitignore-aware walk; .bifrostignore adds patterns). Sends only changed files as one
        compressed tar stream; uncommitted edits are included. Run it before exec/run_smoke_test."""
        asked = api_arguments(push, locals())
        return await call(ctx, lambda gpu: gpu.push(**asked, progress=byte_progress(ctx, "sent")))

    @server.tool(annotations=acts("Fetch files from a target", destructive=False))
    async def copy_files(
        remote_paths: Annotated[
            list[str],
            Field(
                description="files or folders on the target: relative to this workspace's twin, or "
                "absolute inside the workdir",
                min_length=1,
            ),
        ],
        local_dir: Annotated[
            str,
            Field(
                description="local folder to write into: relative to the server's workspace, or absolute "
                "inside it or a configured copy root (limits.copy_roots)"
            ),
        ],
        ctx: Context,
        target: TargetArg = None,
    ) -> models.CopyResult:
        """Copy files or folders from the target (reports, .ncu-rep files, logs, outputs) into a local
        folder. Paths must stay inside the target's workdir; files are written atomically."""
        return await call(
            ctx,
            lambda gpu: gpu.copy_files(
                remote_paths, local_dir, target=target, progress=byte_progress(ctx, "received")
            ),
        )

    @server.tool(annotations=reads("List targets and their health", open_world=True))
    async def targets(ctx: Context) -> models.TargetsReport:
        """Configured targets with health: reachable, python, torch, CUDA, GPU names, ncu."""
        return await call(ctx, lambda gpu: gpu.targets())

    loop_tools.register(server, call, lambda: live["gpu"])
    return server
