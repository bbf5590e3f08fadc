"""`python -m gpu_harness profile PROBLEM CANDIDATE --json`: Nsight Compute on one whole NVTX-marked call.

Procedure: find ncu -> for the candidate (and the baseline: `reference` or another candidate file)
run `ncu --clock-control none --nvtx --nvtx-include bifrost/` over `python -m gpu_harness
profile-run`, which warms the callable up (Triton compiles and autotunes outside the range), then
calls it once inside the NVTX range `bifrost` -> read each .ncu-rep (ncu_summary.py) -> print one JSON
document (`"schema": 1, "kind": "profile"`).

A side covers the whole call: every kernel launched inside the range, with a total. A two-kernel
reference compared by its first kernel alone against a fused candidate reads as the opposite of the
timed verdict. `--launch-count N` stays as an explicit limit: ncu is asked for N+1 kernels so the
side can say whether the limit cut the call (`cut_by_launch_limit`), and only N are kept.

The clocks are never locked (`--clock-control none`): the kernel runs as it does when timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gpu_harness import SCHEMA_VERSION, __version__, reaper
from gpu_harness.info import ncu_path

DEFAULT_SECTIONS = (
    "SpeedOfLight",
    "MemoryWorkloadAnalysis",
    "Occupancy",
    "LaunchStats",
    "WarpStateStats",
    "SchedulerStats",
)
NVTX_RANGE = "bifrost"
WARMUP_CALLS = 3
DEFAULT_TIMEOUT_S = 600.0
COUNTER_PERMISSION = "ERR_NVGPUCTRPERM"
TAIL_CHARS = 3000

KIND_NCU_NOT_FOUND = "ncu_not_found"
KIND_NO_COUNTER_PERMISSION = "no_counter_permission"
KIND_PROFILE_FAILED = "profile_failed"
KIND_NEEDS_GPU = "needs_gpu"

NCU_MISSING = (
    "Nsight Compute (ncu) is not on this host: not on PATH, not in /opt/nvidia/nsight-compute, "
    "GPU_HARNESS_NCU not set. Install it (it ships with the CUDA toolkit; or apt-get install "
    "nsight-compute-<version>) or put the ncu binary on PATH, then call profile_ncu again."
)
NO_PERMISSION = (
    "ncu may not read this GPU's performance counters (ERR_NVGPUCTRPERM). Fix on the host, as root: "
    "echo 'options nvidia NVreg_RestrictProfilingToAdminUsers=0' > /etc/modprobe.d/nvidia-profiling.conf "
    "and reboot (or reload the nvidia module); or run the target's commands as root. "
    "See https://developer.nvidia.com/ERR_NVGPUCTRPERM"
)


def error_doc(kind: str, message: str, stage: str = "profile", stderr_tail: str = "") -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "kind": "profile",
        "harness_version": __version__,
        "error": {"stage": stage, "kind": kind, "message": message, "stderr_tail": stderr_tail[-TAIL_CHARS:]},
    }


def ncu_command(
    ncu: str,
    report: str,
    sections: list[str],
    kernel_regex: str | None,
    launch_count: int | None,
    target_argv: list[str],
) -> list[str]:
    """No launch cap unless asked; with a limit N, one kernel more than N so that a cut shows."""
    cmd = [ncu, "--clock-control", "none", "--nvtx", "--nvtx-include", f"{NVTX_RANGE}/"]
    if launch_count is not None:
        cmd += ["--launch-count", str(launch_count + 1)]
    cmd += ["--force-overwrite", "--export", report]
    for section in sections:
        cmd += ["--section", section]
    if kernel_regex:
        cmd += ["--kernel-name", f"regex:{kernel_regex}"]
    return cmd + target_argv


def whole_call(kernels: list[dict[str, Any]], launch_count: int | None) -> dict[str, Any]:
    """One side's kernels (at most `launch_count`), their count and total, and whether the limit cut the call."""
    cut = launch_count is not None and len(kernels) > launch_count
    kept = kernels[:launch_count] if cut else kernels
    times = [k.get("duration_us") for k in kept]
    total = round(sum(times), 3) if kept and all(isinstance(t, (int, float)) for t in times) else None
    return {
        "kernels": kept,
        "kernel_count": len(kept),
        "total_us": total,
        "launch_limit": launch_count,
        "cut_by_launch_limit": cut,
    }


def profile(args: argparse.Namespace) -> dict[str, Any]:
    """Profile the candidate (and the baseline) as the command line asks (add_parsers names each
    option); always returns a JSON-able document."""
    ncu = ncu_path()
    if ncu is None:
        return error_doc(KIND_NCU_NOT_FOUND, NCU_MISSING, stage="setup")
    sections = args.sections.split(",") if args.sections else list(DEFAULT_SECTIONS)
    problem, kernel_regex, launch_count = args.problem, args.kernel_regex, args.launch_count
    out = Path(args.out or f"bifrost-profile-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.timeout
    doc: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "kind": "profile",
        "harness_version": __version__,
        "problem": problem,
        "sections": sections,
        "kernel_regex": kernel_regex,
        "error": None,
    }
    sides = [("candidate", args.candidate)] + ([("baseline", args.baseline)] if args.baseline else [])
    for side, what in sides:
        report = str(out / side)
        info_file = out / f"{side}.json"
        argv = [sys.executable, "-m", "gpu_harness", "profile-run", problem, what, "--info", str(info_file)]
        cmd = ncu_command(ncu, report, sections, kernel_regex, launch_count, argv)
        doc.setdefault("ncu_command", " ".join(cmd))
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=max(1.0, deadline - time.monotonic())
            )
        except subprocess.TimeoutExpired as exc:
            reaper.kill_descendants()
            return error_doc(
                KIND_PROFILE_FAILED,
                f"ncu did not finish within {args.timeout:g} s ({side})",
                stderr_tail=str(exc.stderr or "")[-TAIL_CHARS:],
            )
        reaper.kill_descendants()
        output = (done.stdout or "") + (done.stderr or "")
        if COUNTER_PERMISSION in output:
            return error_doc(KIND_NO_COUNTER_PERMISSION, NO_PERMISSION, stderr_tail=output)
        info = _read_json(info_file)
        if info.get("error"):
            e = info["error"]
            return error_doc(
                e.get("kind", KIND_PROFILE_FAILED),
                e.get("message", "the profiled run failed"),
                stage=e.get("stage", "run"),
                stderr_tail=output,
            )
        rep = report + ".ncu-rep"
        if done.returncode != 0 or not os.path.exists(rep):
            return error_doc(
                KIND_PROFILE_FAILED,
                f"ncu exited with status {done.returncode} and "
                f"{'no report' if not os.path.exists(rep) else 'a report'} ({side})",
                stderr_tail=output,
            )
        from gpu_harness.ncu_summary import NcuReportMissing, summarise

        try:
            kernels = summarise(rep, ncu)
        except NcuReportMissing as exc:
            return error_doc(KIND_PROFILE_FAILED, str(exc), stage="read")
        doc[side] = {
            "label": "reference" if what == "reference" else (side if side == "candidate" else what),
            "report_path": rep,
            **whole_call(kernels, launch_count),
        }
        doc.setdefault("case", info.get("case", {}))
        doc.setdefault("device", info.get("device", {}))
    return doc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_marked(problem_path: str, what: str, info_path: str | None) -> int:
    """The process ncu watches: warm up outside the NVTX range, then one call inside it."""
    import torch

    from gpu_harness.outcome import CandidateFailure, HarnessError
    from gpu_harness.problem_loader import load_problem

    info: dict[str, Any] = {}
    reaper.become_subreaper()  # a stray holding ncu's output pipes would keep the profile waiting
    try:
        problem = load_problem(problem_path)
        if problem.device.type != "cuda":
            raise _Stop("setup", KIND_NEEDS_GPU, "profiling needs a CUDA GPU; this host has none")
        cases = problem.benchmarks or problem.tests
        case = cases[-1]
        info["case"] = dict(case.params)
        info["device"] = {"type": "cuda", "name": torch.cuda.get_device_name(0)}
        fn = problem.reference if what == "reference" else problem.load_candidate(Path(what)).call
        data = problem.generate(case.params)
        for _ in range(WARMUP_CALLS):  # JIT compile and autotune happen here, not in the profiled range
            fn(data)
        torch.cuda.synchronize()
        torch.cuda.nvtx.range_push(NVTX_RANGE)
        fn(data)
        torch.cuda.synchronize()
        torch.cuda.nvtx.range_pop()
    except _Stop as exc:
        info["error"] = {"stage": exc.stage, "kind": exc.kind, "message": str(exc)}
    except (HarnessError, CandidateFailure) as exc:
        info["error"] = {
            "stage": getattr(exc, "stage", "setup"),
            "kind": getattr(exc, "kind", "exception"),
            "message": str(exc),
        }
    except Exception as exc:  # noqa: BLE001 - the candidate's failure is the answer
        info["error"] = {"stage": "run", "kind": "exception", "message": f"{type(exc).__name__}: {exc}"}
    reaper.kill_descendants()
    if info_path:
        Path(info_path).write_text(json.dumps(info, default=str))
    return 1 if info.get("error") else 0


class _Stop(Exception):
    def __init__(self, stage: str, kind: str, message: str):
        super().__init__(message)
        self.stage, self.kind = stage, kind


# -- the command line (hooked into __main__.py) -----------------------------------------------------
COMMANDS = ("profile", "profile-run")


def add_parsers(sub) -> None:
    p = sub.add_parser("profile", help="Nsight Compute on one NVTX-marked call of CANDIDATE (and a baseline)")
    p.add_argument("problem")
    p.add_argument("candidate")
    p.add_argument(
        "--baseline", default=None, help="'reference', or another candidate file, profiled side by side"
    )
    p.add_argument(
        "--sections",
        default=None,
        help=f"comma-separated ncu sections (default {','.join(DEFAULT_SECTIONS)})",
    )
    p.add_argument("--kernel-regex", default=None, help="profile only kernels whose name matches")
    p.add_argument(
        "--launch-count",
        type=int,
        default=None,
        help="at most this many kernels of the call (default: every kernel of the call)",
    )
    p.add_argument("--out", default=None, help="folder for the .ncu-rep files")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    p.add_argument("--json", action="store_true")
    r = sub.add_parser("profile-run", help="(internal) the process ncu profiles")
    r.add_argument("problem")
    r.add_argument("what", help="a candidate file, or 'reference'")
    r.add_argument("--info", default=None)


def run(args) -> int:
    if args.command == "profile-run":
        return run_marked(args.problem, args.what, args.info)
    reaper.become_subreaper()  # what a candidate detaches under ncu re-parents here and is swept
    reaper.kill_descendants_on_signals()
    doc = profile(args)
    print(json.dumps(doc, indent=None if args.json else 2, default=str))
    return 0 if not doc.get("error") else 2
