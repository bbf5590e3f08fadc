"""The kernel loop on the MCP surface: run_smoke_test, profile_ncu, history, problems, their
resources and the optimize_kernel prompt. Thin, like server.py: validate, call the Python API (api.GPU,
seen through the `App` protocol: nothing here imports upward), return its model.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent
from pydantic import BaseModel, Field

from mcp_bifrost.models import HistoryReport, ProblemsReport, ProfileReport, SmokeOutcome, SmokeReport
from mcp_bifrost.tool_hints import TargetArg, acts, api_arguments, reads

INSTRUCTIONS = """
The kernel loop (GPU kernels on a remote GPU you cannot see):
1. `problems` lists the problems in the workspace (and their example candidates); read the problem's
   reference.py and task.yml locally. The resource bifrost://guide/problem-format explains the formats.
2. Write a candidate file in the workspace (`custom_kernel(data)` for a GPU MODE folder, `class ModelNew`
   for a KernelBench file): torch, Triton, CuPy or CUDA C++ (load_inline).
3. `run_smoke_test(problem, candidate)` pushes the workspace, checks every case, times the candidate
   against the reference on the GPU and returns a report whose `summary` line says it all
   (PASS/FAIL, speedup, times, roofline, flags). Any flag fails: never cache results, alias inputs,
   or hide work on side streams. Fix failures from `cases` and `error` (stage, kind, stderr_tail).
4. When the speedup stalls, `profile_ncu(problem, candidate, baseline="reference")` tells you why
   (memory/compute/latency bound, stall reasons, ncu's own advice, what changed vs the baseline).
5. `history(problem)` shows every attempt and the best so far. Keep the best candidate; stop when
   three attempts in a row gain under 2 %.
Long evaluations continue as jobs: the report says status="running" and a job_id; poll `job_status`
(its `report` field carries the finished report).""".strip()

ProblemArg = Annotated[
    str,
    Field(
        description="workspace path of the problem: a GPU MODE folder (task.yml + "
        "reference.py, e.g. kernels/vectoradd) or a KernelBench .py file",
        min_length=1,
    ),
]
CandidateArg = Annotated[
    str, Field(description="workspace path of your candidate .py (custom_kernel or ModelNew)", min_length=1)
]

T = TypeVar("T")


class Call(Protocol):
    """The server's helper that runs one API call and turns our errors into a ToolError."""

    async def __call__(self, ctx: Context, op: Callable[[Any], Awaitable[T]], /) -> T: ...


class App(Protocol):
    """What the resources read of the server's API client (api.GPU) outside a tool call."""

    workspace: Path

    @property
    def last_report(self) -> SmokeReport | ProfileReport | None: ...

    async def problems(self) -> ProblemsReport: ...


def _progress(ctx: Context) -> Callable[[float, str], Awaitable[None]]:
    async def report(elapsed: float, line: str) -> None:
        await ctx.report_progress(elapsed, None, line)

    return report


def guide_text(app: App | None = None) -> str:
    text = resources.files("mcp_bifrost").joinpath("guide.md").read_text(encoding="utf-8")
    if app is not None:
        local = app.workspace / "kernels" / "README.md"
        if local.is_file():
            text += "\n\n# This workspace's kernels/README.md\n\n" + local.read_text(
                encoding="utf-8", errors="replace"
            )
    return text


def register(server: MCPServer, call: Call, server_app: Callable[[], App]) -> None:
    """Add the kernel-loop tools, resources and prompt to `server`. `server_app` gives the live app
    (static resources get no request context)."""

    @server.tool(annotations=acts("Check and time a kernel candidate", destructive=False, idempotent=True))
    async def run_smoke_test(
        problem: ProblemArg,
        ctx: Context,
        candidate: Annotated[
            str | None,
            Field(
                description="workspace path of your candidate .py (custom_kernel or ModelNew); or give `candidates`",
                min_length=1,
            ),
        ] = None,
        candidates: Annotated[
            list[str] | None,
            Field(
                description="several candidate paths, evaluated at once (one per free GPU) and ranked; "
                "instead of `candidate`",
                min_length=1,
                max_length=64,
            ),
        ] = None,
        target: TargetArg = None,
        mode: Annotated[
            Literal["test", "benchmark", "both"],
            Field(
                description="test: correctness only (fast); benchmark/both: also time against the reference "
                "(default both)"
            ),
        ] = "both",
        push: Annotated[
            bool,
            Field(description="push the workspace first (default true; leave it unless you just pushed)"),
        ] = True,
        timeout_s: Annotated[
            float | None,
            Field(
                description="seconds before each evaluation is killed; positive, at "
                "most 86400; leave it out and the harness sizes the deadline to the problem, at "
                "most 300 s (harness.smoke_timeout_s): the report's `plan` says "
                "what it chose",
                gt=0,
                le=24 * 3600,
            ),
        ] = None,
    ) -> Annotated[CallToolResult, SmokeOutcome]:
        """Check a kernel candidate against a problem's reference on the GPU target and time both.
        Pushes the workspace first, then gpu_harness checks every test case (plus secret-seed repeats) and
        benchmark case, guards against cheating, and times candidate vs reference (cold L2, fresh inputs).
        Read `summary` first, e.g. "PASS 5/5 · 1.84x vs reference (41.2 us vs 75.9 us, H100, n=120) ·
        71% of roofline · no flags". On FAIL, `cases` show max errors and first mismatches; on ERROR,
        `error` has the stage (load/compile/run/check/time), the kind and the stderr tail. Every result is
        kept in `history`. A run past the call budget continues as a job (status="running", job_id).
        With `candidates=[...]` instead of `candidate`, all are evaluated at once, one per free GPU of the
        target, and one report (kind "smoke_fanout") comes back: `reports` in the order given, `ranking`
        of the passing ones by speedup, `failed` apart, `gpus` each ran on; progress says "k/N done".
        A fan-out past the call budget continues as one job too (status="running", job_id): job_status's
        `report` is the whole fan-out report once every candidate is done; job_cancel stops them all."""
        asked = api_arguments(run_smoke_test, locals())
        if (candidate is None) == (candidates is None):
            raise ToolError("give exactly one of `candidate` (one path) or `candidates` (a list of paths)")
        if candidates is not None:
            del asked["candidate"]
            last = [0.0]

            async def fan_progress(done: int, total: int, line: str) -> None:
                last[0] = max(last[0] + 0.001, float(done))  # progress must grow at every notification
                await ctx.report_progress(last[0], total, line)

            report: BaseModel = await call(
                ctx, lambda gpu: gpu.run_smoke_tests(**asked, progress=fan_progress, use_budget=True)
            )
        else:
            del asked["candidates"]
            report = await call(
                ctx, lambda gpu: gpu.run_smoke_test(**asked, progress=_progress(ctx), use_budget=True)
            )
        return CallToolResult(
            content=[TextContent(type="text", text=report.model_dump_json())],
            structured_content=report.model_dump(mode="json"),
        )

    @server.tool(annotations=acts("Profile a kernel with Nsight Compute", destructive=False, idempotent=True))
    async def profile_ncu(
        problem: ProblemArg,
        candidate: CandidateArg,
        ctx: Context,
        target: TargetArg = None,
        sections: Annotated[
            list[str] | None,
            Field(
                description="ncu sections (default: SpeedOfLight, MemoryWorkloadAnalysis, Occupancy, LaunchStats, "
                "WarpStateStats, SchedulerStats)"
            ),
        ] = None,
        kernel_regex: Annotated[
            str | None,
            Field(
                description="profile only kernels whose name matches this "
                "regular expression (default: every kernel)"
            ),
        ] = None,
        launch_count: Annotated[
            int | None,
            Field(
                description="profile at most this many kernels of the call (default: every kernel of one whole call, "
                "so totals compare whole calls)",
                ge=1,
                le=50,
            ),
        ] = None,
        baseline: Annotated[
            str | None,
            Field(
                description="'reference', or the workspace path of an earlier candidate: profiled side by side"
            ),
        ] = None,
    ) -> ProfileReport:
        """Profile one call of the candidate under Nsight Compute (ncu --clock-control none, NVTX-marked,
        after warm-up so JIT compiles are not profiled) on the largest benchmark case: every kernel of one
        whole call, with the total. Per kernel: duration,
        bound (memory/compute/latency), SM/memory/DRAM throughput, occupancy and its limiter, top stall
        reasons, and ncu's own advice sorted by estimated speedup. With baseline="reference" (or an earlier
        candidate), both totals with their kernel counts and ratio, what changed, and whether the ratio agrees
        with the last run_smoke_test of this file (when it does not, the smoke test is the verdict). The
        .ncu-rep stays on the target (report_path): fetch it with copy_files for the Nsight Compute GUI.
        Use it when run_smoke_test's speedup stalls."""
        asked = api_arguments(profile_ncu, locals())
        return await call(ctx, lambda gpu: gpu.profile_ncu(**asked, progress=_progress(ctx), use_budget=True))

    @server.tool(annotations=reads("Past results for a problem", open_world=False))
    async def history(
        problem: ProblemArg,
        ctx: Context,
        limit: Annotated[
            int, Field(description="how many recent results (default 20, at most 1000)", ge=1, le=1000)
        ] = 20,
        plot: Annotated[
            bool, Field(description="also return a PNG: speedup per attempt and the best so far")
        ] = False,
    ) -> Annotated[CallToolResult, HistoryReport]:
        """Every smoke test and profile of a problem (newest first), with the best passing candidate so far
        (highest speedup). Use it to decide whether you are still improving, and which file to keep."""
        report: HistoryReport = await call(ctx, lambda gpu: gpu.history(problem, limit=limit))
        content: list[ContentBlock] = [TextContent(type="text", text=report.model_dump_json())]
        if plot:
            png = await call(ctx, lambda gpu: gpu.history_plot(problem))
            import base64

            content.append(
                ImageContent(type="image", data=base64.b64encode(png).decode(), mime_type="image/png")
            )
        return CallToolResult(content=content, structured_content=report.model_dump(mode="json"))

    @server.tool(annotations=reads("List kernel problems in the workspace", open_world=False))
    async def problems(ctx: Context) -> ProblemsReport:
        """Kernel problems in the local workspace (what push sends): GPU MODE folders with their test and
        benchmark sizes and example candidates, and KernelBench files. Pass `path` as run_smoke_test's problem."""
        return await call(ctx, lambda gpu: gpu.problems())

    # (a resource's description is its reader's docstring, as a tool's is)
    @server.resource("bifrost://guide/problem-format", name="problem-format guide", mime_type="text/markdown")
    def problem_format() -> str:
        """How problems and candidates are written (GPU MODE and KernelBench formats)"""
        return guide_text(server_app())

    @server.resource("bifrost://problems", name="problems", mime_type="application/json")
    async def problem_list() -> str:
        """The problems in the workspace, as the `problems` tool lists them"""
        return (await server_app().problems()).model_dump_json(indent=1)

    @server.resource("bifrost://reports/last", name="last report", mime_type="application/json")
    def last_report() -> str:
        """The last smoke test or profile this server produced"""
        report = server_app().last_report
        return (
            report.model_dump_json(indent=1)
            if report
            else json.dumps({"note": "no report yet in this session"})
        )

    @server.prompt(title="Optimize a GPU kernel")
    def optimize_kernel(problem: Annotated[str, Field(description="workspace path of the problem")]) -> str:
        """The loop: read the reference, write a candidate, smoke test, profile when stuck, keep the best."""
        return f"""Make the kernel for the problem `{problem}` as fast as you can on the GPU target, honestly.

1. Call `targets` to see the GPU, then `problems` to see `{problem}`'s sizes and example candidates. Read
   its reference.py and task.yml (or the KernelBench file) in the workspace: what is computed, shapes, dtypes.
2. Write a first candidate (a new file, e.g. {problem.rstrip("/")}/cand_01.py) that is simply correct.
   Call `run_smoke_test(problem="{problem}", candidate=...)`; read the `summary` line. Fix any FAIL or
   ERROR from `cases` / `error` before optimising.
3. Improve it one idea at a time, each in a new file (cand_02.py, ...), and smoke test each. Any flag
   fails the run: compute every call's answer from its inputs, on the default stream, before returning.
4. When the speedup stops growing, call `profile_ncu(problem="{problem}", candidate=<best>,
   baseline="reference")`: the bound, the stall reasons and ncu's advice say what to change next.
5. `history(problem="{problem}", plot=true)` shows your progress. Stop when three attempts in a row gain
   under 2 %, and report the best candidate's path, its speedup and its summary line."""
