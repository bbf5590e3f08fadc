"""The kernel loop for people: `mcp-bifrost smoke`, `profile`, `history`, `problems`, printed with rich."""

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mcp_bifrost.models import FanoutSmokeReport, HistoryReport, ProblemsReport, ProfileReport, SmokeReport


def _progress(err: Console) -> Callable[[float, str], Awaitable[None]]:
    async def show(elapsed: float, line: str) -> None:
        err.print(f"[dim]{elapsed:5.1f} s  {line}[/dim]")

    return show


def print_smoke(out: Console, r: SmokeReport) -> None:
    style = {"passed": "green", "failed": "red", "error": "red", "not_run": "yellow", "running": "cyan"}[
        r.status
    ]
    out.print(f"[bold {style}]{r.summary}[/bold {style}]")
    out.print(
        f"[dim]{r.candidate} on {r.problem} · target {r.target} · {r.runner} · {r.duration_s:.2f} s"
        f"{f' · waited {r.gpu_wait_s:.1f} s for {_unit(r.device)}' if r.gpu_wait_s > 0.05 else ''}[/dim]"
    )
    if r.error:
        out.print(f"[red]error at {r.error.stage} ({r.error.kind}):[/red] {r.error.message}")
        if r.error.stderr_tail.strip():
            out.print("[dim]" + "\n".join(r.error.stderr_tail.rstrip().splitlines()[-15:]) + "[/dim]")
    for f in r.flags:
        out.print(f"[red]FLAG {f.name}[/red]: {f.detail}")
    for n in r.notes:
        out.print(f"[yellow]note {n.name}[/yellow]: {n.detail}")
    failed = [c for c in r.cases if not c.passed]
    for c in failed[:5]:
        out.print(f"[red]FAIL[/red] {c.kind} {c.name} {c.params}: {c.reason} {c.message[:200]}")
    if r.timing:
        table = Table("case", "params", "reference", "candidate", "speedup", "roofline", "n", "clock")
        for t in r.timing:
            table.add_row(
                t.case,
                str(t.params),
                _us(t.reference_us),
                _us(t.candidate_us),
                f"{t.speedup:.3f}x" if t.speedup is not None else "?",
                f"{t.roofline_fraction:.0%}" if t.roofline_fraction else "",
                str(t.n or ""),
                t.clock,
            )
        out.print(table)


def print_fanout(out: Console, r: FanoutSmokeReport) -> None:
    out.print(f"[bold]{r.summary}[/bold]")
    place = {c: i + 1 for i, c in enumerate(r.ranking)}
    table = Table("rank", "candidate", "GPU", "result", "speedup", "candidate time", "seconds")
    for rep, gpu in zip(r.reports, r.gpus):
        style = "green" if rep.passed else "yellow" if rep.status == "not_run" else "red"
        on_cpu = rep.device.get("type") == "cpu"
        table.add_row(
            str(place.get(rep.candidate, "-")),
            rep.candidate,
            "cpu" if on_cpu else "?" if gpu is None else str(gpu),
            f"[{style}]{rep.status}[/{style}]",
            f"{rep.speedup:.3f}x" if rep.speedup else "",
            _us(rep.candidate_us),
            f"{rep.duration_s:.1f}",
        )
    out.print(table)
    for line in r.failed:
        out.print(f"[red]{line}[/red]")
    for line in r.not_run:
        out.print(f"[yellow]{line}[/yellow]")


def print_profile(out: Console, r: ProfileReport) -> None:
    out.print(f"[bold]{r.summary}[/bold]")
    sides = [r.candidate_profile] + ([r.baseline_profile] if r.baseline_profile else [])
    for side in sides:
        if side is None:
            continue
        table = Table(
            "kernel",
            "time",
            "bound",
            "SM %",
            "mem %",
            "DRAM bytes",
            "occupancy",
            "top stall",
            title=f"{side.label}: {side.report_path}",
        )
        for k in side.kernels:
            table.add_row(
                k.name[:50],
                _us(k.duration_us),
                k.bound,
                _pct(k.sm_pct),
                _pct(k.memory_pct),
                f"{k.dram_bytes:,}" if k.dram_bytes is not None else "",
                f"{_pct(k.achieved_occupancy_pct)} of {_pct(k.theoretical_occupancy_pct)}",
                (k.top_stalls or [""])[0],
            )
        out.print(table)
        for k in side.kernels:
            for advice in k.advice:
                out.print(f"  [cyan]ncu:[/cyan] {advice}")
    for change in r.changes:
        out.print(f"  [magenta]changed:[/magenta] {change}")
    if r.consistency:
        out.print(f"  [yellow]vs smoke test:[/yellow] {r.consistency}")


def _unit(device: dict[str, Any]) -> str:
    return "the CPU" if device.get("type") == "cpu" else "the GPU"


def _us(us: float | None) -> str:
    from mcp_bifrost.loop.reports import fmt_time

    return fmt_time(us)


def _pct(x: float | None) -> str:
    return "?" if x is None else f"{x:.0f}%"


def print_history(out: Console, report: HistoryReport) -> None:
    out.print(report.table)
    best = report.best
    out.print(
        f"best so far: {best.candidate} {best.speedup:.3f}x ({best.time})"
        if best
        else "best so far: none (no passing timed smoke test yet)"
    )


def print_problems(out: Console, report: ProblemsReport) -> None:
    table = Table("problem", "format", "tests", "benchmarks", "examples")
    for p in report.problems:
        if p.error:
            table.add_row(p.path, p.format, "-", f"[red]{escape(p.error)}[/red]", "")
            continue
        table.add_row(
            p.path,
            p.format,
            str(len(p.tests)),
            ", ".join(str(b) for b in p.benchmarks[:4]),
            "\n".join(p.examples),
        )
    out.print(table)


def register(
    app: typer.Typer,
    out: Console,
    err: Console,
    run: Callable[..., Any],
    ConfigOpt: Any,
    TargetOpt: Any,
    WorkspaceOpt: Any,
) -> None:
    """Add the loop's commands to the CLI; the CLI passes its runner (`run(config_path, workspace,
    work)`) and option types (no import up), so both share one way of running."""

    def show(report: Any, as_json: bool, printer: Callable[[Console, Any], None]) -> None:
        """The report as JSON (--json) or printed for a person."""
        if as_json:
            sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        else:
            printer(out, report)

    def run_shown(
        config: Path | None,
        workspace: Path,
        as_json: bool,
        printer: Callable[[Console, Any], None],
        work: Callable[[Any], Awaitable[Any]],
    ) -> Any:
        """Run one API call and show its report (`show`); returns the report."""
        report = run(config, workspace, work)
        show(report, as_json, printer)
        return report

    @app.command()
    def smoke(
        problem: Annotated[
            str, typer.Argument(help="problem, relative to the workspace (e.g. kernels/vectoradd)")
        ],
        candidates: Annotated[
            list[str],
            typer.Argument(
                help="candidate .py files, relative to the workspace; several fan out over the target's GPUs"
            ),
        ],
        target: TargetOpt = None,
        mode: Annotated[str, typer.Option(help="test | benchmark | both")] = "both",
        push: Annotated[bool, typer.Option("--push/--no-push", help="push the workspace first")] = True,
        timeout: Annotated[float | None, typer.Option(help="seconds before the evaluation is killed")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
        workspace: WorkspaceOpt = Path("."),
        config: ConfigOpt = None,
    ) -> None:
        """Check and time CANDIDATES against PROBLEM's reference on a target (several: at once, one per
        GPU, ranked). Exit 0 = every candidate passed."""
        if mode not in ("test", "benchmark", "both"):
            err.print("[red]error:[/red] --mode must be test, benchmark or both")
            raise typer.Exit(2)
        if len(candidates) > 1:

            async def done(k: int, total: int, line: str) -> None:
                err.print(f"[dim]{line}[/dim]")

            fan = run_shown(
                config,
                workspace,
                as_json,
                print_fanout,
                lambda b: b.run_smoke_tests(
                    problem, candidates, target=target, mode=mode, push=push, timeout_s=timeout, progress=done
                ),
            )
            raise typer.Exit(0 if not (fan.failed or fan.not_run) else 1)
        report = run_shown(
            config,
            workspace,
            as_json,
            print_smoke,
            lambda b: b.run_smoke_test(
                problem,
                candidates[0],
                target=target,
                mode=mode,
                push=push,
                timeout_s=timeout,
                progress=_progress(err),
            ),
        )
        raise typer.Exit(0 if report.passed else 1)

    @app.command()
    def profile(
        problem: Annotated[str, typer.Argument(help="problem, relative to the workspace")],
        candidate: Annotated[str, typer.Argument(help="candidate .py, relative to the workspace")],
        target: TargetOpt = None,
        baseline: Annotated[
            str | None, typer.Option(help="'reference' or another candidate, side by side")
        ] = None,
        section: Annotated[list[str] | None, typer.Option(help="ncu section (repeatable)")] = None,
        kernel_regex: Annotated[str | None, typer.Option(help="only kernels whose name matches")] = None,
        launch_count: Annotated[
            int | None,
            typer.Option(help="profile at most this many kernels of the call (default: all of them)", min=1),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
        workspace: WorkspaceOpt = Path("."),
        config: ConfigOpt = None,
    ) -> None:
        """Profile one call of CANDIDATE with Nsight Compute on a target, summarised per kernel."""
        run_shown(
            config,
            workspace,
            as_json,
            print_profile,
            lambda b: b.profile_ncu(
                problem,
                candidate,
                target=target,
                sections=section,
                kernel_regex=kernel_regex,
                launch_count=launch_count,
                baseline=baseline,
                progress=_progress(err),
            ),
        )

    @app.command()
    def history(
        problem: Annotated[str, typer.Argument(help="problem, as given to smoke")],
        limit: Annotated[int, typer.Option(help="how many recent results")] = 20,
        plot: Annotated[Path | None, typer.Option(help="write a PNG of the progress to this file")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the history as JSON")] = False,
        workspace: WorkspaceOpt = Path("."),
        config: ConfigOpt = None,
    ) -> None:
        """Past smoke tests and profiles of a problem, and the best so far."""

        async def work(b: Any) -> tuple[HistoryReport, bytes | None]:
            report = await b.history(problem, limit=limit)
            return report, (await b.history_plot(problem) if plot else None)

        report, png = run(config, workspace, work)
        if png is not None and plot is not None:
            plot.write_bytes(png)
            err.print(f"plot written to {plot}")
        show(report, as_json, print_history)

    @app.command()
    def problems(
        as_json: Annotated[bool, typer.Option("--json", help="print the list as JSON")] = False,
        workspace: WorkspaceOpt = Path("."),
        config: ConfigOpt = None,
    ) -> None:
        """Kernel problems in the workspace, with their sizes and example candidates."""
        run_shown(config, workspace, as_json, print_problems, lambda b: b.problems())
