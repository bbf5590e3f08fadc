"""One evaluation, in-process, top to bottom (like nvbench's measure_cold):

    learn the output buffers -> load the candidate -> check every case -> time every benchmark case
    and re-check it -> score

Each step asks the deadline first; when it has passed, the evaluation stops and the report is
partial (`not_run` lists what was skipped and why). This runs in the judge, the isolated child
worker.py forks; the candidate runs in a process of its own (remote.py), so nothing it does can
reach this code, its comparison, its clock or its report.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gpu_harness import batch_call, buffers, guard, memory
from gpu_harness import plan as timeplan
from gpu_harness.benchmark import overall_score, recheck, time_benchmark
from gpu_harness.correctness import check_case
from gpu_harness.deadline import COMPILE_ALLOWANCE_S, COMPILE_FREE_S, DEFAULT_DEADLINE_S, Deadline
from gpu_harness.guard import perf_counter_ns
from gpu_harness.info import device_facts
from gpu_harness.outcome import (
    KIND_DEADLINE,
    KIND_NOT_TIMED,
    KIND_TIMEOUT,
    MODES,
    STAGE_LOAD,
    STAGE_SETUP,
    STAGE_TIME,
    BadRequest,
    CandidateFailure,
    HarnessError,
    Mode,
    NotRun,
    Report,
    StageError,
)
from gpu_harness.problem import Case, combine_seed
from gpu_harness.problem_loader import load_problem
from gpu_harness.remote import RemoteCandidate
from gpu_harness.state import EvalState
from gpu_harness.timekeeping import (
    case_estimate,
    fits_before_kill,
    plan_note,
    plan_time,
    progress,
    shape_s,
    timing_estimate,
    timing_floor,
)

# Seed offset of the throwaway draw the output buffers are learned on (never a case).
LEARN_SEED_OFFSET = 7919
# On the CPU, judge and candidate each run torch on one thread: two processes with a thread per core
# each make OpenMP's barriers wait whole scheduler slices for a preempted thread (100x slower calls,
# seen on a 2-core host), and the reference and the candidate are then timed alike.
CPU_THREADS = 1
# Of what is left at the timing stage, this much is kept for the re-checks that follow each case.
RECHECK_SHARE = 0.15


class DeadlinePassed(Exception):
    """Raised between steps when the evaluation's deadline has passed."""


def evaluate(
    problem_path: str,
    candidate_path: str,
    process: tuple[int, socket.socket],
    mode: Mode = "both",
    on_stage: Callable[[str], None] | None = None,
    overrides: dict[str, Any] | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
    on_case: Callable[[dict[str, Any]], None] | None = None,
    on_compiling: Callable[[bool], None] | None = None,
    compile_allowance_s: float = COMPILE_ALLOWANCE_S,
    timeout_s: float = math.inf,
    plan_cap_s: float | None = None,
    on_plan: Callable[[dict[str, Any]], None] | None = None,
    candidate_caches: str | None = None,
) -> Report:
    """The judge's procedure. `process` is the candidate's process (candidate_process.spawn, forked before CUDA
    was initialised here): the candidate is imported there, never here. `plan_cap_s`: the caller gave
    no deadline; `deadline_s` is its budget and the time plan sizes the deadline, up to this cap
    (`on_plan` tells the parent, whose kill clock follows). `candidate_caches`: the candidate's own
    compile-cache folder (compile_cache.claim), which its process is told before it imports it."""
    report = Report(
        problem=str(problem_path), candidate=str(candidate_path), mode=mode, deadline_s=deadline_s
    )
    started = perf_counter_ns()
    kill_at = time.monotonic() + timeout_s
    deadline = Deadline(deadline_s)
    ev = None
    remote = None
    try:
        if mode not in MODES:
            raise BadRequest(f"mode must be one of {MODES}, not {mode!r}")
        problem = load_problem(problem_path)
        if problem.device.type == "cpu":
            os.environ.setdefault("TRITON_INTERPRET", "1")  # Triton candidates run interpreted on CPU
            torch.set_num_threads(CPU_THREADS)  # the candidate's process does the same
        report.problem_format = problem.format
        report.device = device_facts(problem.device)
        free, total = memory.free_bytes(problem.device, (overrides or {}).get("memory_bytes"))
        report.memory = {
            "free_bytes": free,
            "total_bytes": total,
            "headroom_bytes": memory.headroom(total, problem.device.type),
        }
        ev = EvalState(
            problem,
            report,
            mode,
            deadline,
            dict(overrides or {}),
            on_stage or (lambda s: None),
            on_case or (lambda c: None),
            on_compiling or (lambda c: None),
            compile_allowance_s=compile_allowance_s,
            kill_at=kill_at,
            plan_cap_s=plan_cap_s,
            on_plan=on_plan or (lambda p: None),
        )
        remote = RemoteCandidate(
            process[0], process[1], problem.device, ev.seconds_left, report.add_flag, report.add_note
        )
        ev.candidate = remote
        try:
            run(ev, Path(candidate_path), candidate_caches)
        finally:
            ev.close_stage()
            compile_note(ev)
            plan_note(ev)
    except DeadlinePassed:
        pass
    except HarnessError as exc:
        report.error = StageError(exc.stage, exc.kind, str(exc))
    except CandidateFailure as exc:
        report.error = StageError(exc.stage, exc.kind, exc.message)
        if exc.kind == KIND_TIMEOUT:
            report.partial = True
            report.not_run.append(
                NotRun(
                    "(the rest)",
                    "",
                    "a call never returned and the candidate's process "
                    f"was killed, after {len(report.cases)} checked case(s)",
                )
            )
            if exc.stage == STAGE_TIME:
                not_timed(
                    report,
                    "a timed call did not return in time",
                    f"timeout_s={suggest(timeout_s)} (--timeout {suggest(timeout_s)})",
                    KIND_NOT_TIMED,
                )
    finally:
        ended = perf_counter_ns()
        if remote is not None:
            remote.close()
        else:
            _end(process)
        report.teardown_s["candidate_process"] = round((perf_counter_ns() - ended) / 1e9, 4)
        report.wall_s = (perf_counter_ns() - started) / 1e9
    return report.finish()


def _end(process: tuple[int, socket.socket]) -> None:
    """The candidate's process was never used (the problem did not load): stop it."""
    pid, sock = process
    sock.close()
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def suggest(seconds: float) -> int:
    """A limit that lets the work finish: twice what was given, in whole seconds."""
    return int(math.ceil(2 * seconds)) if math.isfinite(seconds) else 600


def not_timed(report: Report, why: str, argument: str, kind: str | None = None) -> None:
    """Every correctness case passed and timing did not finish. That is never a failure of the
    candidate (status `error`): the report keeps the verdict of the cases and says which argument
    would let timing finish."""
    if report.flags or not report.cases or not all(c.passed for c in report.cases) or report.error is None:
        return
    if kind is not None:
        report.error.kind = kind
    report.error.message = (
        f"correct, not timed: {why}; pass {argument} to let timing finish ({report.error.message})"
    )


def run(ev: EvalState, candidate_path: Path, caches: str | None = None) -> None:
    """The procedure."""
    report = ev.report
    ev.stage(STAGE_SETUP)
    ev.plan = output_buffers(ev)
    plan_time(ev)  # before the candidate exists: from the judge's own measures only

    ev.stage(STAGE_LOAD)
    ev.null_batch_ms = batch_call.null_batch_ms(ev.candidate)  # before its code exists there
    with ev.compiling():  # load_inline's nvcc runs here: not against the deadline
        ev.candidate.load(str(ev.problem.path), str(candidate_path), caches)

    cases = correctness_cases(ev)
    benchmarks = ev.problem.benchmarks if ev.mode in ("benchmark", "both") else []
    for index, case in enumerate(cases):
        if ev.deadline.expired():
            stop(
                ev,
                cases[index:],
                benchmarks,
                f"the deadline ({ev.deadline.seconds:g} s) passed before this case",
            )
        if not fits_before_kill(ev, case_estimate(ev, case)):
            stop(
                ev,
                cases[index:],
                benchmarks,
                "the deadline would pass during this case and the call be killed "
                f"(the judge's own draw, reference call and comparison at its size take {shape_s(ev, case):.1f} s)",
            )
        result = check_case(ev, case, probe=index == 0)
        report.cases.append(result)
        ev.on_case({"case": dataclasses.asdict(result)})  # a killed evaluation still reports it
        memory.release(ev.problem.device)
        progress(ev, case_estimate(ev, case), f"after case {case.name}")
    if not benchmarks:
        return host_clock_note(ev)
    if not all(c.passed for c in report.cases) or report.flags:
        report.add_note(
            guard.NOTE_TIMING_SKIPPED,
            "not timed: a case failed or a flag was raised during the checks; fix those first",
        )
        return
    for index, case in enumerate(benchmarks):
        left = len(benchmarks) - index
        if ev.deadline.expired():
            stop(
                ev,
                [],
                benchmarks[index:],
                f"the deadline ({ev.deadline.seconds:g} s) passed before this case was timed",
            )
        if not fits_before_kill(ev, timing_floor(ev, case)):
            stop(
                ev,
                [],
                benchmarks[index:],
                "the deadline would pass while timing this case (the judge's own "
                f"draw, reference call and comparison at its size take {shape_s(ev, case):.1f} s, and timing needs "
                f"{timeplan.TIMING_MIN_CALLS} calls)",
            )
        cap = ev.deadline.share(left) * (1 - RECHECK_SHARE)
        report.timing.append(time_benchmark(ev, case, cap))
        if not fits_before_kill(ev, case_estimate(ev, case)):
            stop(
                ev,
                [Case(f"recheck.{case.name}", "recheck", {})],
                benchmarks[index + 1 :],
                "the re-check after "
                f"timing would run into the hard kill (the judge's own draw and reference call at this size take "
                f"{shape_s(ev, case):.1f} s)",
            )
        report.cases.append(recheck(ev, case))
        ev.on_case({"case": dataclasses.asdict(report.cases[-1])})
        memory.release(ev.problem.device)
        progress(ev, timing_estimate(ev, case), f"after timing {case.name}")
    ev.report.score = overall_score(ev.report.timing, ev.problem.ranking_by)
    host_clock_note(ev)


def compile_note(ev: EvalState) -> None:
    if ev.compile_excluded_s > COMPILE_FREE_S:
        ev.report.add_note(
            guard.NOTE_COMPILE_TIME_EXCLUDED,
            f"{ev.compile_excluded_s:.1f} s of importing the candidate and of its first call "
            f"(compilation: nvcc, Triton, torch.compile) did not count against the "
            f"{ev.report.deadline_s:g} s deadline (compile_allowance_s = {ev.compile_allowance_s:g})",
        )


def output_buffers(ev: EvalState) -> buffers.BufferPlan:
    """The format's declaration wins; otherwise learn from the reference on a throwaway draw."""
    declared = ev.problem.declared_output_buffers()
    if declared is not None:
        return buffers.declared(declared)
    first = (ev.problem.tests or ev.problem.benchmarks)[0]
    params = (
        dict(first.params, seed=int(first.params["seed"]) + LEARN_SEED_OFFSET)
        if "seed" in first.params
        else dict(first.params)
    )
    with torch.no_grad():
        return buffers.learn_buffers(ev.problem.generate(params), ev.problem.reference, ev.rtol, ev.atol)


def correctness_cases(ev: EvalState) -> list[Case]:
    """Tests, the same tests with a secret seed mixed in (as many repeats as the time plan chose, at
    least one, at most task.yml `secret_repeats`), benchmarks."""
    cases: list[Case] = []
    if ev.mode in ("test", "both"):
        tests = ev.problem.tests
        cases += tests
        repeats = ev.time_plan.secret_repeats if ev.time_plan else ev.problem.settings.secret_repeats
        for repeat in range(repeats):
            for case in tests:
                if "seed" in case.params:
                    params = dict(
                        case.params, seed=combine_seed(int(case.params["seed"]), ev.secret + repeat)
                    )
                    cases.append(Case(f"secret{repeat}.{case.name}", "secret", params))
    if ev.mode in ("benchmark", "both"):
        cases += ev.problem.benchmarks
    return cases


def stop(ev: EvalState, unchecked: list[Case], untimed: list[Case], why: str) -> None:
    """The deadline passed: record what did not run, and end the evaluation with a partial report."""
    report = ev.report
    report.not_run += [NotRun(c.name, c.kind, why) for c in unchecked]
    report.not_run += [NotRun(c.name, "timing", why) for c in untimed]
    report.partial = True
    counted = ev.compile_s - ev.compile_excluded_s
    compiling = (
        f"; importing the candidate and its first call (compilation) took {ev.compile_s:.1f} s, "
        f"{counted:.1f} s of it counted: pass compile_allowance_s (--compile-allowance) to exclude it"
        if counted > COMPILE_FREE_S
        else ""
    )
    report.error = StageError(
        ev._stage or STAGE_SETUP,
        KIND_DEADLINE,
        f"stopped at the evaluation's deadline ({ev.deadline.seconds:g} s): "
        f"{len(report.cases)} case(s) checked, {len(report.timing)} timed, "
        f"{len(report.not_run)} not run (see not_run); raise deadline_s (--deadline "
        f"{wanted_deadline(ev)}) to run them all" + compiling,
    )
    if not unchecked:
        wanted = wanted_deadline(ev)
        not_timed(
            report,
            "the deadline passed while timing",
            f"deadline_s={wanted} (--deadline {wanted}) and a timeout_s above it",
        )
    raise DeadlinePassed()


def wanted_deadline(ev: EvalState) -> int:
    """The deadline to suggest: what the time plan estimates the whole evaluation needs, and never
    less than twice the one that passed."""
    planned = ev.time_plan.suggest_deadline_s if ev.time_plan and ev.time_plan.suggest_deadline_s else 0
    return max(suggest(ev.deadline.seconds - ev.compile_excluded_s), planned)


def host_clock_note(ev: EvalState) -> None:
    if not ev.on_gpu and ev.report.timing:
        ev.report.add_note(
            guard.NOTE_HOST_CLOCK,
            "no CUDA device: times are host-clock times of CPU execution "
            "(Triton through TRITON_INTERPRET=1), not GPU kernel times",
        )
