"""`python -m gpu_harness smoke PROBLEM CANDIDATE [--mode test|benchmark|both] [--json]`,
`python -m gpu_harness info [--json]`, `python -m gpu_harness serve`.

Exit status of smoke: EXIT_PASSED (0) when the report passed, EXIT_CANDIDATE_FAILED (1) when the
candidate failed or was flagged, EXIT_HARNESS_ERROR (2) when the harness could not run,
EXIT_NOT_RUN (3) when it cannot run here (it needs a GPU this machine lacks).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from gpu_harness.outcome import EXIT_HARNESS_ERROR, EXIT_PASSED, Report


def render(report: Report) -> str:
    """The report for people."""
    lines = [
        f"{report.status.upper().replace('_', ' ')}  {report.candidate}  on  {report.problem}"
        f"  [{report.problem_format or '?'}, {report.device.get('name', '?')}, mode {report.mode}, "
        f"{report.wall_s:.2f} s]"
    ]
    if report.error:
        e = report.error
        lines.append(f"error at stage {e.stage} ({e.kind}): {e.message}")
        if e.stderr_tail:
            lines.append("stderr (tail):")
            lines.extend("  " + line for line in e.stderr_tail.rstrip().splitlines()[-15:])
    if report.plan:
        p = report.plan
        lines.append(
            f"plan: deadline {p.get('deadline_s', 0):g} s, {p.get('secret_repeats')} secret repeat(s) "
            f"({p.get('secret_cases_run', 0)} secret case(s) ran): {p.get('reason', '')}"
        )
    for flag in report.flags:
        lines.append(f"FLAG {flag.name}: {flag.detail}")
    for note in report.notes:
        lines.append(f"note {note.name}: {note.detail}")
    for case in report.cases:
        status = "ok  " if case.passed else "FAIL"
        err = (
            f"max abs {case.max_abs_err:.2e} rel {case.max_rel_err:.2e}"
            if case.max_abs_err is not None
            else ""
        )
        lines.append(f"  {status} {case.kind:9} {case.name:22} {json.dumps(case.params)} {err}")
        if not case.passed:
            lines.append(f"       {case.reason}: {case.message[:300]}")
            for m in case.first_mismatches[:3]:
                lines.append(f"       at {m['index']}: got {m['got']} expected {m['expected']}")
    for t in report.timing:
        clock = "CUDA events" if t.clock == "cuda_events" else "HOST CLOCK (CPU mode)"
        ref, cand = t.reference, t.candidate
        lines.append(f"  time {t.case:10} {json.dumps(t.params)}  [{clock}]")
        lines.append(
            f"       reference {ref.median_ms * 1e3:10.2f} us  (p10 {ref.p10_ms * 1e3:.2f}, "
            f"p90 {ref.p90_ms * 1e3:.2f}, n={ref.n})"
        )
        lines.append(
            f"       candidate {cand.median_ms * 1e3:10.2f} us  (p10 {cand.p10_ms * 1e3:.2f}, "
            f"p90 {cand.p90_ms * 1e3:.2f}, n={cand.n})  speedup {t.speedup:.3f}x"
        )
    if report.score:
        s = report.score
        speed = f"{s['speedup']:.3f}x" if s.get("speedup") else "?"
        lines.append(
            f"score ({s['ranking_by']}): candidate {s['candidate_ms'] * 1e3:.2f} us, reference "
            f"{s['reference_ms'] * 1e3:.2f} us, speedup {speed}"
        )
    if report.stdout_tail.strip():
        lines.append("candidate stdout (tail):")
        lines.extend("  " + line for line in report.stdout_tail.rstrip().splitlines()[-10:])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gpu_harness", description="Check and time a GPU kernel candidate honestly."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    smoke = sub.add_parser("smoke", help="check (and time) CANDIDATE against PROBLEM")
    smoke.add_argument("problem", help="GPU MODE problem folder or KernelBench .py file")
    smoke.add_argument("candidate", help="candidate .py (custom_kernel or ModelNew)")
    smoke.add_argument("--mode", choices=("test", "benchmark", "both"), default="both")
    smoke.add_argument("--json", action="store_true", help="print the versioned JSON report")
    smoke.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds the evaluation may take; at the deadline it stops with a partial report "
        "(default: sized to the problem by the time plan, from --budget up to --max-deadline; "
        "with --timeout, the timeout less 5)",
    )
    smoke.add_argument(
        "--budget",
        type=float,
        default=None,
        help="without --deadline: the seconds to plan for (default 40); secret repeats are scaled "
        "to fit it, and the planned deadline is never shorter",
    )
    smoke.add_argument(
        "--max-deadline",
        type=float,
        default=None,
        help="without --deadline: the longest deadline the plan may choose (default 900)",
    )
    smoke.add_argument(
        "--compile-allowance",
        type=float,
        default=None,
        help="seconds of compiling (the candidate's import and first call) that count against "
        "neither the deadline nor the timeout (default 120; 0: they count)",
    )
    smoke.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds before a call that never returns is killed (default: the deadline + 5)",
    )
    info = sub.add_parser("info", help="python, torch, triton, cupy, GPU, L2, clocks, ncu")
    info.add_argument("--json", action="store_true")
    serve = sub.add_parser("serve", help="worker: JSON lines on stdin/stdout, one isolated child per request")
    serve.add_argument(
        "--timeout", type=float, default=None, help="default per-request hard-kill timeout (s)"
    )
    serve.add_argument(
        "--spares",
        type=int,
        default=None,
        help="evaluation children kept ready, each with two idle CUDA contexts "
        "(default: $GPU_HARNESS_SPARES, else 2 with a GPU, 1 without)",
    )
    from gpu_harness import profile as nsight

    nsight.add_parsers(sub)
    args = parser.parse_args(argv)
    if args.command in nsight.COMMANDS:
        return nsight.run(args)

    if args.command == "info":
        from gpu_harness.info import collect

        doc = collect()
        print(json.dumps(doc, indent=None if args.json else 2))
        return EXIT_PASSED
    if args.command == "serve":
        from gpu_harness.worker import serve as serve_forever

        code = serve_forever(timeout_s=args.timeout, spares=args.spares)
        sys.stdout.flush()
        os._exit(code)  # frozen imports: skip the teardown (and nanobind's leak report at exit)
    from gpu_harness.reaper import kill_descendants_on_signals
    from gpu_harness.worker import non_dumpable, run_isolated, warm_imports

    non_dumpable()
    warm_imports()
    kill_descendants_on_signals()  # cancelled (TERM) or its channel gone (HUP): the evaluation dies too
    report = run_isolated(
        {
            "problem": args.problem,
            "candidate": args.candidate,
            "mode": args.mode,
            "deadline_s": args.deadline,
            "compile_allowance_s": args.compile_allowance,
            "budget_s": args.budget,
            "max_deadline_s": args.max_deadline,
        },
        timeout_s=args.timeout,
    )
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(render(report))
    return report.exit_code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(EXIT_HARNESS_ERROR)
