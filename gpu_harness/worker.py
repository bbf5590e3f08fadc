"""Isolation and the long-lived worker.

`run_isolated` evaluates one request in a child forked from a parent that has imported torch (and
Triton) but never initialised CUDA (ready_child.ReadyChild: the judge, which forks the candidate's
process before CUDA starts; the candidate is imported there and nowhere else). The judge's stage
markers and report come back as frames on a pipe the candidate's process never holds (frames.py);
stdout and stderr go to capture files, so nothing a candidate prints can forge a report. A crash, a
hang (killed at the timeout, with its whole process group), an illegal memory access or an OOM
becomes a structured error (child_report.py); the parent lives on.

`serve` is the worker: JSON lines on stdin, one JSON line per request on stdout. It keeps `spares`
children ready (CUDA initialised, waiting for a job), so that a request that follows the previous
one at once does not wait for a child's CUDA start-up.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from gpu_harness import SCHEMA_VERSION, reaper
from gpu_harness.deadline import COMPILE_ALLOWANCE_S, DEFAULT_DEADLINE_S, DEFAULT_TIMEOUT_S, resolve
from gpu_harness.frames import jsonable
from gpu_harness.outcome import (
    KIND_BAD_REQUEST,
    KIND_INTERNAL,
    KIND_PROBLEM_NOT_FOUND,
    STAGE_SETUP,
    Report,
    StageError,
)
from gpu_harness.plan import MAX_DEADLINE_S
from gpu_harness.ready_child import ReadyChild, SparePool, non_dumpable
from gpu_harness.warm import cuda_initialised, gpu_present, warm_imports

__all__ = ["DEFAULT_TIMEOUT_S", "non_dumpable", "run_isolated", "serve", "warm_imports"]


# -- the isolated evaluation ------------------------------------------------------------------
def run_isolated(
    request: dict[str, Any],
    timeout_s: float | None = None,
    ready: ReadyChild | None = None,
    spares: Iterable[int] = (),
) -> Report:
    """Evaluate one request in a fresh forked child (`ready`, forked earlier, or a new one); always
    returns a Report. The deadline (`deadline_s`) bounds the evaluation; the hard kill (`timeout_s`)
    comes a grace period after it, for a call that never returns."""
    problem, candidate = str(request.get("problem", "")), str(request.get("candidate", ""))
    mode = str(request.get("mode", "both"))
    shell = Report(problem=problem, candidate=candidate, mode=mode)
    try:
        deadline_s, timeout, cap = limits(request, timeout_s)
    except ValueError as exc:
        return _harness_error(shell, KIND_BAD_REQUEST, f"bad request: {exc}")
    shell.deadline_s = deadline_s
    if not problem or not candidate:
        return _harness_error(shell, KIND_BAD_REQUEST, "a request needs `problem` and `candidate`")
    if not os.path.exists(problem):
        return _harness_error(shell, KIND_PROBLEM_NOT_FOUND, f"problem not found: {problem}")
    if cuda_initialised():
        return _harness_error(
            shell, KIND_INTERNAL, "CUDA is initialised in the worker parent; a forked child could not use it"
        )
    try:
        allowance = _number(request.get("compile_allowance_s"), allow_zero=True)
    except ValueError as exc:
        return _harness_error(shell, KIND_BAD_REQUEST, f"bad request: {exc}")
    if allowance is None:  # a caller's explicit timeout is a promise: compiling counts unless it says so
        explicit = timeout_s if timeout_s is not None else request.get("timeout_s")
        allowance = COMPILE_ALLOWANCE_S if explicit is None else 0.0
    job = {
        "problem": problem,
        "candidate": candidate,
        "mode": mode,
        "deadline_s": deadline_s,
        "overrides": request.get("timing") or {},
        "compile_allowance_s": allowance,
        "timeout_s": timeout,
        "plan_cap_s": cap,
    }
    if ready is not None and not ready.alive():
        ready.discard()  # it died waiting (reaped); fork a fresh one
        ready = None
    child = ready if ready is not None else ReadyChild()
    return child.run(job, shell, timeout, spares=spares)


def limits(request: dict[str, Any], timeout_s: float | None = None) -> tuple[float, float, float | None]:
    """(deadline, hard-kill timeout, cap of an auto-sized deadline). A caller who gives a deadline or a
    timeout gets it (cap None). One who gives neither gets a deadline sized to the problem by the
    judge's time plan: `budget_s` (default 40 s) to start with and as the least, `max_deadline_s`
    (default plan.MAX_DEADLINE_S) as the most; the kill clock follows the plan."""
    explicit_deadline = _number(request.get("deadline_s"))
    explicit_timeout = _number(timeout_s if timeout_s is not None else request.get("timeout_s"))
    if explicit_deadline is not None or explicit_timeout is not None:
        return (*resolve(explicit_deadline, explicit_timeout), None)
    budget = _number(request.get("budget_s")) or DEFAULT_DEADLINE_S
    cap = _number(request.get("max_deadline_s")) or MAX_DEADLINE_S
    budget = min(budget, cap)
    return (*resolve(budget, None), cap)


def _number(value: Any, allow_zero: bool = False) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not (number > 0 or allow_zero and number == 0):
        raise ValueError(f"timeouts, deadlines and allowances are positive seconds, not {value!r}")
    return number


def _harness_error(report: Report, kind: str, message: str) -> Report:
    report.error = StageError(STAGE_SETUP, kind, message)
    return report.finish()


SPARES_ENV = "GPU_HARNESS_SPARES"


def default_spares() -> int:
    """Ready children the worker keeps: GPU_HARNESS_SPARES, else 2 where there is a GPU (a request
    that follows the previous one at once finds one that has finished its CUDA start-up), else 1."""
    told = os.environ.get(SPARES_ENV, "").strip()
    if told:
        try:
            return max(1, int(told))
        except ValueError:
            print(f"gpu_harness: ignoring {SPARES_ENV}={told!r}: give a whole number", file=sys.stderr)
    return 2 if gpu_present() else 1


def serve(
    stdin: IO[str] = sys.stdin,
    stdout: IO[str] = sys.stdout,
    timeout_s: float | None = None,
    spares: int | None = None,
) -> int:
    """JSON lines in, JSON lines out. Requests: {"id", "op": "smoke"|"info"|"ping"|"shutdown", ...}.
    `spares` children are forked (and initialise CUDA) before their requests arrive; each holds two
    idle CUDA contexts, which the ready event, ping and every report's `memory` state."""
    non_dumpable()
    warm = warm_imports(freeze=True)
    reaper.kill_descendants_on_signals()  # job_cancel's TERM: evaluations and their strays go first
    pool = SparePool(default_spares() if spares is None else spares)

    def answer(doc: dict[str, Any]) -> None:
        stdout.write(json.dumps(doc, default=jsonable) + "\n")
        stdout.flush()

    answer(
        {
            "schema": SCHEMA_VERSION,
            "event": "ready",
            "pid": os.getpid(),
            "warm": warm,
            "cuda_initialised": cuda_initialised(),
            "gpu": gpu_present(),
            **_held(pool),
        }
    )
    for line in stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
        except ValueError as exc:
            answer(_bad_request(None, f"bad request: {exc}"))
            continue
        op = request.get("op", "smoke")
        rid = request.get("id")
        if op == "ping":
            pids = pool.pids()
            answer(
                {
                    "schema": SCHEMA_VERSION,
                    "id": rid,
                    "pong": True,
                    "cuda_initialised": cuda_initialised(),
                    "ready_child": pids[0] if pids else None,
                    "ready_children": pids,
                    **_held(pool),
                }
            )
        elif op == "shutdown":
            pool.discard()
            reaper.kill_descendants()
            answer({"schema": SCHEMA_VERSION, "id": rid, "bye": True})
            return 0
        elif op == "info":
            answer(
                {"schema": SCHEMA_VERSION, "id": rid, "info": info_isolated(timeout_s or DEFAULT_TIMEOUT_S)}
            )
        elif op == "smoke":
            child = pool.take()
            report = run_isolated(
                request, request.get("timeout_s", timeout_s), ready=child, spares=pool.pids()
            )
            report.memory.update(_held(pool))
            answer({"id": rid, **report.to_json()})
            pool.fill()  # the next ones get ready while the client reads this answer
        else:
            answer(_bad_request(rid, f"unknown op {op!r}: use smoke, info, ping or shutdown"))
    pool.discard()
    reaper.kill_descendants()
    return 0


def _held(pool: SparePool) -> dict[str, int]:
    """What the worker holds while idle, as its answers state it."""
    return {"ready_spares": pool.size, "idle_cuda_contexts": 2 * pool.size if gpu_present() else 0}


def _bad_request(rid: Any, message: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "id": rid,
        "passed": False,
        "flags": [],
        "error": {"stage": STAGE_SETUP, "kind": KIND_BAD_REQUEST, "message": message, "stderr_tail": ""},
    }


def info_isolated(timeout_s: float) -> dict[str, Any]:
    """`info` initialises CUDA, so in the worker it runs in a child too."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            from gpu_harness.info import collect

            os.write(write_fd, json.dumps(collect(), default=jsonable).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    data = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([read_fd], [], [], deadline - time.monotonic())
        if not ready:
            break
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        data += chunk
    os.close(read_fd)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    try:
        return json.loads(data)
    except ValueError:
        return {"error": "info failed"}
