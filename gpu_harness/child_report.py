"""The report the worker gives for one evaluation, from the judge's frames and how its child ended:
the judge's own report when it finished, otherwise a structured error that keeps what was checked."""

from __future__ import annotations

import os
import signal
from typing import IO, Any

from gpu_harness import confine, reaper
from gpu_harness.outcome import (
    KIND_CRASHED,
    KIND_DEADLINE,
    KIND_INTERNAL,
    KIND_NOT_TIMED,
    KIND_OUT_OF_MEMORY,
    KIND_TIMEOUT,
    STAGE_CHECK,
    STAGE_LOAD,
    STAGE_SETUP,
    STAGE_TIME,
    CaseResult,
    NotRun,
    Report,
    StageError,
    tail,
)

CHILD_EXIT_OK = 0
CAPTURE_TAIL_CHARS = 4000


def isolation_of(frames: list[dict[str, Any]], sweep: reaper.Sweep) -> dict[str, Any]:
    """The child's account of its confinement (its first frame), and the parent's own: whether it is
    the subreaper its strays re-parent to, and what its sweep after the evaluation found."""
    told = next((f["isolation"] for f in frames if isinstance(f.get("isolation"), dict)), None)
    isolation = confine.Isolation().to_json()
    if told is None:
        isolation["why"].append("the evaluation ended before its child said what confined it")
    else:
        isolation.update({k: v for k, v in told.items() if k in isolation})
    isolation["subreaper"] = reaper.is_subreaper()
    if not isolation["subreaper"]:
        isolation["why"].append("not a child subreaper: detached processes of the candidate may outlive it")
    isolation["strays_killed"], isolation["survivors"] = sweep.killed, sweep.survivors
    return isolation


def report_from(frames, shell: Report, status: int, timed_out: bool, timeout: float) -> Report:
    stage = STAGE_SETUP
    for frame in frames:
        if "stage" in frame:
            stage = frame["stage"]
    docs = [f["report"] for f in frames if "report" in f]
    if docs and not timed_out and os.WIFEXITED(status) and os.WEXITSTATUS(status) == CHILD_EXIT_OK:
        return Report.from_json(docs[-1])
    report = shell
    done = [f["case"] for f in frames if isinstance(f.get("case"), dict)]
    if done:  # what was checked before the kill is still reported
        report.cases = [CaseResult(**case) for case in done]
        report.partial = True
        report.not_run.append(
            NotRun("(the rest)", "", f"the evaluation was killed after {len(done)} checked case(s)")
        )
    internal = [f["internal"] for f in frames if "internal" in f]
    if timed_out and stage == STAGE_TIME and done and all(c.get("passed") for c in done):
        report.error = StageError(
            stage,
            KIND_NOT_TIMED,
            f"correct, not timed: every checked case passed and the "
            f"evaluation was killed at {timeout:g} s while timing; pass timeout_s="
            f"{int(2 * timeout + 1)} (--timeout {int(2 * timeout + 1)}) to let timing finish",
        )
    elif timed_out and not any(f.get("stage") == STAGE_LOAD for f in frames):
        # Killed before the candidate was loaded: only the harness's own set-up (the problem's import,
        # its buffers, the time plan's reference calls) had run. Never the candidate's failure.
        report.partial = True
        report.error = StageError(
            stage,
            KIND_DEADLINE,
            f"the evaluation was killed at {timeout:g} s while the "
            "harness was still setting up (no candidate code had run: the problem's reference "
            f"is slow at these sizes); pass timeout_s={int(2 * timeout + 1)} (--timeout "
            f"{int(2 * timeout + 1)}) or leave the timeout out to let the time plan size it",
        )
    elif timed_out and stage in (STAGE_SETUP, STAGE_CHECK):
        # Killed while the judge did its own work on a case (drawing it, or comparing the answers: the
        # judge waits on the candidate's calls with a clock of its own that ends before this kill).
        # A problem slower to check than the plan measured; never the candidate's failure.
        report.partial = True
        report.error = StageError(
            stage,
            KIND_DEADLINE,
            f"the evaluation was killed at {timeout:g} s while the judge was "
            f"{'checking' if stage == STAGE_CHECK else 'drawing'} a case (its own work at this problem's "
            f"sizes, not a call of the candidate); pass timeout_s={int(2 * timeout + 1)} (--timeout "
            f"{int(2 * timeout + 1)}) to let it finish",
        )
    elif timed_out:
        report.error = StageError(
            stage,
            KIND_TIMEOUT,
            f"no result within {timeout:g} s at stage {stage}: the "
            "evaluation was killed, a call never returned (an infinite loop or a hang?)",
        )
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        kind = KIND_OUT_OF_MEMORY if sig == signal.SIGKILL else KIND_CRASHED
        why = {
            signal.SIGSEGV: "segmentation fault",
            signal.SIGBUS: "bus error",
            signal.SIGABRT: "abort",
            signal.SIGKILL: "killed (out of memory?)",
            signal.SIGFPE: "arithmetic fault",
            signal.SIGILL: "illegal instruction",
        }.get(sig, "signal")
        report.error = StageError(
            stage, kind, f"the evaluation process died at stage {stage} with {name} ({why})"
        )
    elif internal:
        report.error = StageError(
            stage, KIND_INTERNAL, f"the harness failed inside the child: {internal[-1]}"
        )
    else:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        report.error = StageError(
            stage,
            KIND_CRASHED,
            f"the evaluation process exited with status {code} at "
            f"stage {stage} without a result (the candidate called exit?)",
        )
    return report.finish()


def read_tail(file: IO[bytes]) -> str:
    try:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - CAPTURE_TAIL_CHARS))
        return tail(file.read().decode(errors="replace"), CAPTURE_TAIL_CHARS)
    finally:
        file.close()


# -- the worker -------------------------------------------------------------------------------
