"""Isolation and the long-lived worker.

`run_isolated` forks one child per evaluation, the judge, from a parent that has imported torch
(and Triton) but never initialised CUDA. Before initialising CUDA, the judge forks the candidate's
process (candidate_process.spawn): the candidate is imported there and nowhere else. The judge runs
`evaluate` and sends its stage markers and its report as JSON frames through a dedicated pipe that
the candidate's process never holds; stdout and stderr go to capture files, so nothing a candidate
prints can reach the protocol or forge a report line on stdout. The parent and the judge are not
dumpable: a candidate cannot ptrace them or open their memory or descriptors through /proc. A
crash, a hang (killed at the timeout, with its whole process group), an illegal memory access or an
OOM becomes a structured error result; the parent lives on.

`serve` is the worker: JSON lines on stdin, one JSON line per request on stdout.
"""

from __future__ import annotations

import ctypes
import faulthandler
import gc
import json
import math
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from typing import IO, Any

from gpu_harness import SCHEMA_VERSION, candidate_process, confine
from gpu_harness.deadline import COMPILE_ALLOWANCE_S, DEFAULT_DEADLINE_S, KILL_GRACE_S, resolve
from gpu_harness.outcome import (
    KIND_BAD_REQUEST,
    KIND_CRASHED,
    KIND_DEADLINE,
    KIND_INTERNAL,
    KIND_NOT_TIMED,
    KIND_OUT_OF_MEMORY,
    KIND_PROBLEM_NOT_FOUND,
    KIND_TIMEOUT,
    STAGE_LOAD,
    STAGE_SETUP,
    STAGE_TIME,
    CaseResult,
    NotRun,
    Report,
    StageError,
    tail,
)
from gpu_harness.plan import MAX_DEADLINE_S
from gpu_harness.warmup import initialise_cuda

DEFAULT_TIMEOUT_S = DEFAULT_DEADLINE_S + KILL_GRACE_S
CAPTURE_TAIL_CHARS = 4000
FRAME_LIMIT_BYTES = 64 << 20
# torch._dynamo: the dispatch mode that lists a candidate's ops imports it on first use (~2 s).
# triton.experimental.gluon: Triton 3.5+ imports it on a kernel's first compile or cache load.
WARM_MODULES = (
    "torch",
    "numpy",
    "yaml",
    "triton",
    "triton.language",
    "triton.experimental.gluon",
    "torch._dynamo",
)
CHILD_EXIT_OK = 0
CHILD_EXIT_INTERNAL = 70  # EX_SOFTWARE: the harness itself broke inside the child
PR_SET_DUMPABLE = 4


def non_dumpable() -> bool:
    """prctl(PR_SET_DUMPABLE, 0): another process of the same user (the candidate's) can no longer
    ptrace this one, read /proc/<pid>/mem or open /proc/<pid>/fd/*. Inherited by forks."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def warm_imports(modules: tuple[str, ...] = WARM_MODULES, freeze: bool = False) -> list[str]:
    """Import what every evaluation needs, once, in the parent. CUDA stays uninitialised: torch's
    availability check goes through NVML, and nothing here touches a device."""
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    loaded = []
    for name in modules:
        if (
            name.startswith("triton")
            and "torch" in sys.modules
            and not sys.modules["torch"].cuda.is_available()
        ):
            os.environ.setdefault("TRITON_INTERPRET", "1")  # Triton reads it once: set before import
        try:
            __import__(name)
            loaded.append(name)
        except Exception:  # triton or numpy absent: candidates that need them will say so
            continue
    import gpu_harness.evaluate  # noqa: F401  (pulls check, guard, timing, problem)

    _precompute_triton_key()
    _register_torch_triton_ops()
    if freeze:  # the worker: imported objects never move again, collections stay cheap in children
        gc.collect()
        gc.freeze()
    return loaded


def _precompute_triton_key() -> None:
    """Triton hashes its own sources and libtriton.so the first time a process compiles or loads a
    kernel (0.39 s of a 0.73 s evaluation, profiled on the H100 host). The result is cached per process
    and needs no device: computed once here, every forked child inherits it."""
    if "triton" not in sys.modules:
        return
    try:
        from triton.runtime.cache import triton_key

        triton_key()
    except Exception:  # another Triton layout: its first kernel pays the hashing instead
        pass


def _register_torch_triton_ops() -> None:
    """torch queues the registration of its Triton sparse ops for CUDA's lazy initialisation, inside
    every ready child's start-up. It needs no device and is idempotent: done here, the child's lazy init
    skips it (the child's start-up measured 0.91 s before, 0.72 s after, on the H100 host)."""
    torch = sys.modules.get("torch")
    register = getattr(getattr(torch, "cuda", None), "_register_triton_kernels", None)
    if register is None or "triton" not in sys.modules:
        return
    try:
        register()
    except Exception:  # a torch without it: the child's lazy init does what it does
        pass


def gpu_present() -> bool:
    """Whether this host's torch sees a GPU (NVML-based: the device stays untouched, forks stay safe).
    The client takes a GPU lock only where there is one."""
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_available())


def cuda_initialised() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_initialized())


# -- the isolated evaluation ------------------------------------------------------------------
def run_isolated(
    request: dict[str, Any], timeout_s: float | None = None, ready: ReadyChild | None = None
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
    return child.run(job, shell, timeout)


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


def _evaluate(job: dict[str, Any], channel: _Channel, process) -> dict[str, Any]:
    from gpu_harness.evaluate import evaluate

    return evaluate(
        job["problem"],
        job["candidate"],
        process,
        job["mode"],
        on_stage=lambda stage: channel.send(stage=stage),
        overrides=job["overrides"],
        deadline_s=job["deadline_s"],
        on_case=lambda case: channel.send(**case),
        on_compiling=lambda compiling: channel.send(compiling=compiling),
        compile_allowance_s=job["compile_allowance_s"],
        timeout_s=float(job.get("timeout_s") or DEFAULT_TIMEOUT_S),
        plan_cap_s=job.get("plan_cap_s"),
        on_plan=lambda plan: channel.send(plan=plan),
    ).to_json()


def _harness_error(report: Report, kind: str, message: str) -> Report:
    report.error = StageError(STAGE_SETUP, kind, message)
    return report.finish()


class _Channel:
    """The child's end of the result pipe: JSON frames tagged with the request's nonce."""

    def __init__(self, fd: int, nonce: str):
        self.fd, self.nonce = fd, nonce

    def send(self, **frame: Any) -> None:
        data = (json.dumps({"nonce": self.nonce, **frame}, default=_jsonable) + "\n").encode()
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


def _jsonable(value: Any) -> Any:
    return str(value)


class ReadyChild:
    """A child forked before its request arrives: imports inherited, CUDA initialised in the child
    (never in the parent), waiting on a pipe for one job. One child, one evaluation."""

    def __init__(self):
        self.used = False
        self.nonce = os.urandom(16).hex()
        confine.become_subreaper()  # the candidate's detached processes re-parent to us if the child dies
        self.elders = confine.descendants()  # ours before this child: never swept with it
        self.scratch = tempfile.mkdtemp(prefix="gpu_harness-scratch-")
        self.result_r, result_w = os.pipe()
        job_r, self.job_w = os.pipe()
        self.out_file = tempfile.TemporaryFile()
        self.err_file = tempfile.TemporaryFile()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:  # ---- child
            code = CHILD_EXIT_INTERNAL
            try:
                os.setpgid(0, 0)
                os.close(self.result_r)
                os.close(self.job_w)
                confine.die_with_parent()  # a worker killed outright takes the evaluation along
                isolation = confine.confine_candidate(self.scratch)  # one thread yet: binds all to come
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(self.out_file.fileno(), 1)
                os.dup2(self.err_file.fileno(), 2)
                faulthandler.enable(file=sys.stderr, all_threads=True)  # a segfault leaves its traceback
                # the judge's half (torch with it) loaded before the fork: the candidate's process inherits it
                from gpu_harness import remote  # noqa: F401

                confine_it = lambda: candidate_process.confine_process(self.scratch)  # noqa: E731
                process = candidate_process.spawn(confine_it)  # before CUDA
                non_dumpable()
                initialise_cuda()
                job = _read_job(job_r)
                if job is None:  # the parent went away or shut down: nothing to do
                    code = CHILD_EXIT_OK
                else:
                    channel = _Channel(result_w, self.nonce)  # not inheritable: nvcc & co. never get it
                    channel.send(isolation=isolation.to_json())
                    channel.send(report=_evaluate(job, channel, process))
                    code = CHILD_EXIT_OK
            except BaseException as exc:  # the harness broke: say so on the channel
                try:
                    traceback.print_exc()
                    _Channel(result_w, self.nonce).send(internal=f"{type(exc).__name__}: {exc}")
                except BaseException:
                    pass
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        # ---- parent
        os.close(result_w)
        os.close(job_r)
        try:
            os.setpgid(self.pid, self.pid)
        except OSError:
            pass

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def run(self, job: dict[str, Any], shell: Report, timeout: float) -> Report:
        self.used = True
        started = time.monotonic()
        try:
            os.write(self.job_w, (json.dumps(job) + "\n").encode())
        except OSError:
            pass  # it died while waiting: reported below
        os.close(self.job_w)
        cap = job.get("plan_cap_s")
        frames, timed_out = _read_frames(
            self.result_r,
            self.nonce,
            started + timeout,
            job["compile_allowance_s"],
            pid=self.pid,
            plan_cap=None if cap is None else (started, float(cap)),
        )
        timeout = _planned_timeout(frames, timeout, cap)
        if timed_out:
            _kill_group(self.pid)
        _, status = os.waitpid(self.pid, 0)
        sweep = confine.kill_descendants(exclude=self.elders)  # strays of a child that died or was killed
        os.close(self.result_r)
        shutil.rmtree(self.scratch, ignore_errors=True)
        report = _report_from(frames, shell, status, timed_out, timeout)
        report.isolation = _isolation(frames, sweep)
        report.stdout_tail = _read_tail(self.out_file)
        report.stderr_tail = _read_tail(self.err_file)
        if report.error is not None and not report.error.stderr_tail:
            report.error.stderr_tail = report.stderr_tail
        if not report.wall_s:
            report.wall_s = time.monotonic() - started
        return report

    def discard(self) -> None:
        """Shut an unused child down (its job pipe closes: it exits without evaluating)."""
        if self.used:
            return
        try:
            os.close(self.job_w)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        os.close(self.result_r)
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.out_file.close()
        self.err_file.close()


def _isolation(frames: list[dict[str, Any]], sweep: confine.Sweep) -> dict[str, Any]:
    """The child's account of its confinement (its first frame), and the parent's own: whether it is
    the subreaper its strays re-parent to, and what its sweep after the evaluation found."""
    told = next((f["isolation"] for f in frames if isinstance(f.get("isolation"), dict)), None)
    isolation = confine.Isolation().to_json()
    if told is None:
        isolation["why"].append("the evaluation ended before its child said what confined it")
    else:
        isolation.update({k: v for k, v in told.items() if k in isolation})
    isolation["subreaper"] = confine.is_subreaper()
    if not isolation["subreaper"]:
        isolation["why"].append("not a child subreaper: detached processes of the candidate may outlive it")
    isolation["strays_killed"], isolation["survivors"] = sweep.killed, sweep.survivors
    return isolation


def _read_job(fd: int) -> dict[str, Any] | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return json.loads(data) if data.strip() else None


def _planned_timeout(frames: list[dict[str, Any]], timeout: float, cap: float | None) -> float:
    """The hard kill an auto plan moved to: its last deadline (at most the cap) plus the grace."""
    planned = [
        f["plan"]["deadline_s"]
        for f in frames
        if isinstance(f.get("plan"), dict) and isinstance(f["plan"].get("deadline_s"), (int, float))
    ]
    if cap is None or not planned:
        return timeout
    return max(timeout, min(float(planned[-1]), float(cap)) + KILL_GRACE_S)


def _read_frames(
    fd: int,
    nonce: str,
    deadline: float,
    allowance: float = COMPILE_ALLOWANCE_S,
    pid: int | None = None,
    plan_cap: tuple[float, float] | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Frames until the child closes the pipe or exits (`pid`: a detached process the candidate forked
    holds a copy of the pipe's end and would keep it open), or False -> True at the kill deadline.
    While the child says it is compiling (`{"compiling": true}` around the candidate's import and
    first call), the kill clock stops, for at most `allowance` seconds in all. `plan_cap` (started,
    cap seconds): an auto plan; the judge's `{"plan": {"deadline_s"}}` frames move the kill to that
    deadline plus the grace, never past the cap, never before the first kill deadline."""
    first_deadline = deadline
    buffer = b""
    frames: list[dict[str, Any]] = []
    extended, paused_since = 0.0, None
    exited = _ExitWatch(pid)
    while True:
        now = time.monotonic()
        # compiling: the clock stands still until the allowance is used up; otherwise it runs
        remaining = deadline + (allowance if paused_since is not None else extended) - now
        if remaining <= 0:
            exited.close()
            return frames, True
        ready, _, _ = select.select([fd, *exited.fds], [], [], min(remaining, exited.poll_s))
        if fd in ready:
            chunk = os.read(fd, 1 << 16)
        elif exited.done():  # the child is gone: what it wrote is in the pipe already
            chunk = _drain(fd)
        else:
            continue
        if not chunk:
            break
        buffer += chunk
        if len(buffer) > FRAME_LIMIT_BYTES:
            break
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                frame = json.loads(line)
            except ValueError:
                continue
            if isinstance(frame, dict) and frame.get("nonce") == nonce:
                frames.append(frame)
                if frame.get("compiling") is True and paused_since is None:
                    paused_since = time.monotonic()
                elif frame.get("compiling") is False and paused_since is not None:
                    extended = min(allowance, extended + time.monotonic() - paused_since)
                    paused_since = None
                elif plan_cap is not None and isinstance(frame.get("plan"), dict):
                    deadline = _plan_kill(frame["plan"], plan_cap, first_deadline, deadline)
        if fd not in ready:  # drained after the child's exit: nothing more will come from it
            break
    exited.close()
    return frames, False


def _plan_kill(plan: dict[str, Any], plan_cap: tuple[float, float], first: float, current: float) -> float:
    """Where the judge's auto plan puts the kill clock (the judge is trusted: no candidate code runs in
    it, and the channel is never the candidate's; the cap bounds it all the same)."""
    seconds = plan.get("deadline_s")
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return current
    started, cap = plan_cap
    return max(first, started + min(float(seconds), cap) + KILL_GRACE_S)


class _ExitWatch:
    """Whether a child has exited, without reaping it: a pidfd to select on (Linux 5.3+), else a
    waitid(WNOWAIT) poll every `poll_s`."""

    def __init__(self, pid: int | None):
        self.pid, self.fds, self.poll_s = pid, [], float("inf")
        if pid is None:
            return
        try:
            self.fds = [os.pidfd_open(pid)]
        except (AttributeError, OSError):
            self.poll_s = 0.1

    def done(self) -> bool:
        if self.pid is None:
            return False
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def _drain(fd: int) -> bytes:
    """Everything in the pipe now, without waiting for an end that a stray holder may never give."""
    os.set_blocking(fd, False)
    data = b""
    try:
        while chunk := os.read(fd, 1 << 16):
            data += chunk
    except BlockingIOError:
        pass
    return data


def _kill_group(pid: int) -> None:
    for sig in (signal.SIGKILL,):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass


def _report_from(frames, shell: Report, status: int, timed_out: bool, timeout: float) -> Report:
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


def _read_tail(file: IO[bytes]) -> str:
    try:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - CAPTURE_TAIL_CHARS))
        return tail(file.read().decode(errors="replace"), CAPTURE_TAIL_CHARS)
    finally:
        file.close()


# -- the worker -------------------------------------------------------------------------------
def serve(stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout, timeout_s: float | None = None) -> int:
    """JSON lines in, JSON lines out. Requests: {"id", "op": "smoke"|"info"|"ping"|"shutdown", ...}.
    The next evaluation's child is forked (and has initialised CUDA) before its request arrives."""
    non_dumpable()
    warm = warm_imports(freeze=True)
    confine.kill_descendants_on_signals()  # job_cancel's TERM: evaluations and their strays go first
    ready = ReadyChild()

    def answer(doc: dict[str, Any]) -> None:
        stdout.write(json.dumps(doc, default=_jsonable) + "\n")
        stdout.flush()

    answer(
        {
            "schema": SCHEMA_VERSION,
            "event": "ready",
            "pid": os.getpid(),
            "warm": warm,
            "cuda_initialised": cuda_initialised(),
            "gpu": gpu_present(),
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
            answer(
                {
                    "schema": SCHEMA_VERSION,
                    "id": None,
                    "passed": False,
                    "flags": [],
                    "error": {
                        "stage": STAGE_SETUP,
                        "kind": KIND_BAD_REQUEST,
                        "message": f"bad request: {exc}",
                        "stderr_tail": "",
                    },
                }
            )
            continue
        op = request.get("op", "smoke")
        rid = request.get("id")
        if op == "ping":
            answer(
                {
                    "schema": SCHEMA_VERSION,
                    "id": rid,
                    "pong": True,
                    "cuda_initialised": cuda_initialised(),
                    "ready_child": ready.pid if ready.alive() else None,
                }
            )
        elif op == "shutdown":
            ready.discard()
            confine.kill_descendants()
            answer({"schema": SCHEMA_VERSION, "id": rid, "bye": True})
            return 0
        elif op == "info":
            answer(
                {"schema": SCHEMA_VERSION, "id": rid, "info": info_isolated(timeout_s or DEFAULT_TIMEOUT_S)}
            )
        elif op == "smoke":
            report = run_isolated(request, request.get("timeout_s", timeout_s), ready=ready)
            answer({"id": rid, **report.to_json()})
            if ready.used or not ready.alive():
                ready = ReadyChild()  # the next one gets ready while the client reads this answer
        else:
            answer(
                {
                    "schema": SCHEMA_VERSION,
                    "id": rid,
                    "passed": False,
                    "flags": [],
                    "error": {
                        "stage": STAGE_SETUP,
                        "kind": KIND_BAD_REQUEST,
                        "message": f"unknown op {op!r}: use smoke, info, ping or shutdown",
                        "stderr_tail": "",
                    },
                }
            )
    ready.discard()
    confine.kill_descendants()
    return 0


def info_isolated(timeout_s: float) -> dict[str, Any]:
    """`info` initialises CUDA, so in the worker it runs in a child too."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            from gpu_harness.info import collect

            os.write(write_fd, json.dumps(collect(), default=_jsonable).encode())
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
