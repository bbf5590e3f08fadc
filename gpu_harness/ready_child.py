"""One evaluation's child, forked from the worker parent before its request arrives: the judge, which
forks the candidate's process before either initialises CUDA. One child, one evaluation."""

from __future__ import annotations

import ctypes
import faulthandler
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable
from typing import Any

from gpu_harness import candidate_process, compile_cache, confine, reaper
from gpu_harness.child_report import CHILD_EXIT_OK, isolation_of, read_tail, report_from
from gpu_harness.deadline import DEFAULT_TIMEOUT_S
from gpu_harness.frames import Channel, planned_timeout, read_frames, read_job
from gpu_harness.outcome import Report
from gpu_harness.warmup import initialise_cuda

CHILD_EXIT_INTERNAL = 70  # EX_SOFTWARE: the harness itself broke inside the child
PR_SET_DUMPABLE = 4


def non_dumpable() -> bool:
    """prctl(PR_SET_DUMPABLE, 0): another process of the same user (the candidate's) can no longer
    ptrace this one, read /proc/<pid>/mem or open /proc/<pid>/fd/*. Inherited by forks."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def evaluate_job(job: dict[str, Any], channel: Channel, process) -> dict[str, Any]:
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
        candidate_caches=job.get("candidate_caches"),
    ).to_json()


# The worker's ends of its ready children's pipes: a child forked later closes them, or the job pipe
# of an earlier child would never read end-of-file (its shutdown would wait for ever).
_PARENT_ENDS: set[int] = set()


def _close(fd: int) -> None:
    _PARENT_ENDS.discard(fd)
    try:
        os.close(fd)
    except OSError:
        pass


class ReadyChild:
    """A child forked before its request arrives: imports inherited, CUDA initialised in the child
    (never in the parent), waiting on a pipe for one job. One child, one evaluation."""

    def __init__(self):
        self.used = False
        self.nonce = os.urandom(16).hex()
        reaper.become_subreaper()  # the candidate's detached processes re-parent to us if the child dies
        self.elders = reaper.descendants()  # ours before this child: never swept with it
        # apart, so that the candidate cannot touch the temporary files of the judge's compilers
        self.scratch = tempfile.mkdtemp(prefix="gpu_harness-scratch-")
        judge_scratch, candidate_scratch = (os.path.join(self.scratch, who) for who in ("judge", "candidate"))
        for folder in (judge_scratch, candidate_scratch):
            os.mkdir(folder, 0o700)
        self.caches = compile_cache.live_folder()  # the candidate's compile caches, its alone
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
                for fd in _PARENT_ENDS:  # another ready child's pipe ends: its EOF must not wait for us
                    os.close(fd)
                reaper.die_with_parent()  # a worker killed outright takes the evaluation along
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(self.out_file.fileno(), 1)
                os.dup2(self.err_file.fileno(), 2)
                faulthandler.enable(file=sys.stderr, all_threads=True)  # a segfault leaves its traceback
                # the judge's half (torch with it) loaded before the fork: the candidate's process inherits it
                from gpu_harness import remote  # noqa: F401

                confine_it = lambda: candidate_process.confine_process(candidate_scratch, self.caches)  # noqa: E731
                # Before CUDA, and before the judge confines itself: each process gets a Landlock
                # domain of its own, in which its own /proc/<pid>/task is writable (CUDA names its
                # threads there); neither domain holds the other, so neither can ptrace the other.
                pid, sock, isolation = candidate_process.spawn(confine_it)
                process = (pid, sock)
                # the judge: one thread yet, binds all to come; it must be able to kill its candidate
                confine.confine_candidate(judge_scratch, scoped=False, judge=True)
                non_dumpable()
                initialise_cuda()
                job = read_job(job_r)
                if job is None:  # the parent went away or shut down: nothing to do
                    code = CHILD_EXIT_OK
                else:
                    channel = Channel(result_w, self.nonce)  # not inheritable: nvcc & co. never get it
                    channel.send(isolation=isolation)
                    channel.send(report=evaluate_job(job, channel, process))
                    code = CHILD_EXIT_OK
            except BaseException as exc:  # the harness broke: say so on the channel
                try:
                    traceback.print_exc()
                    Channel(result_w, self.nonce).send(internal=f"{type(exc).__name__}: {exc}")
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
        _PARENT_ENDS.update((self.job_w, self.result_r))
        try:
            os.setpgid(self.pid, self.pid)
        except OSError:
            pass

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def run(self, job: dict[str, Any], shell: Report, timeout: float, spares: Iterable[int] = ()) -> Report:
        """Hand it the job and read its frames until it ends or is killed; then sweep its strays
        (never the worker's other ready children, `spares`, nor processes older than this child)."""
        self.used = True
        started = time.monotonic()
        claim = compile_cache.claim(job["candidate"], self.caches, self.alive)
        job = dict(job, candidate_caches=str(claim.path))
        try:
            os.write(self.job_w, (json.dumps(job) + "\n").encode())
        except OSError:
            pass  # it died while waiting: reported below
        _close(self.job_w)
        cap = job.get("plan_cap_s")
        arrivals: list[float] = []
        frames, timed_out = read_frames(
            self.result_r,
            self.nonce,
            started + timeout,
            job["compile_allowance_s"],
            pid=self.pid,
            plan_cap=None if cap is None else (started, float(cap)),
            arrivals=arrivals,
        )
        timeout = planned_timeout(frames, timeout, cap)
        if timed_out:
            kill_group(self.pid)
        _, status = os.waitpid(self.pid, 0)
        # strays of a child that died or was killed
        sweep = reaper.kill_descendants(exclude=[*self.elders, *spares])
        claim.release()  # nothing of the candidate's writes to its caches any more
        _close(self.result_r)
        shutil.rmtree(self.scratch, ignore_errors=True)
        report = report_from(frames, shell, status, timed_out, timeout)
        report.isolation = isolation_of(frames, sweep)
        writable = report.isolation.get("writable") or []  # its caches' folder is where the claim put it
        report.isolation["writable"] = [str(claim.path) if w == str(self.caches) else w for w in writable]
        report.stdout_tail = read_tail(self.out_file)
        report.stderr_tail = read_tail(self.err_file)
        if report.error is not None and not report.error.stderr_tail:
            report.error.stderr_tail = report.stderr_tail
        if not report.wall_s:
            report.wall_s = time.monotonic() - started
        reported = [at for f, at in zip(frames, arrivals) if "report" in f]
        if reported:
            report.teardown_s["judge_exit_and_sweep"] = round(time.monotonic() - reported[-1], 4)
        return report

    def discard(self) -> None:
        """Shut an unused child down (its job pipe closes: it exits without evaluating)."""
        if self.used:
            return
        _close(self.job_w)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        _close(self.result_r)
        shutil.rmtree(self.scratch, ignore_errors=True)
        shutil.rmtree(self.caches, ignore_errors=True)
        self.out_file.close()
        self.err_file.close()


def kill_group(pid: int) -> None:
    for sig in (signal.SIGKILL,):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass


class SparePool:
    """The worker's ready children, oldest first. Each holds two idle CUDA contexts (the judge's and
    the candidate's process's); with more than one, a request that follows the previous one at once
    takes a child that finished its start-up while the earlier ones ran, instead of waiting for the
    one forked after the last answer (about 0.7 s of CUDA start-up on an H100)."""

    def __init__(self, size: int):
        self.size = max(1, int(size))
        self.children: list[ReadyChild] = []
        self.fill()

    def fill(self) -> None:
        """Drop used or dead children, then fork new ones up to the pool's size."""
        keep = []
        for child in self.children:
            if not child.used and child.alive():
                keep.append(child)
            else:
                child.discard()
        self.children = keep
        while len(self.children) < self.size:
            self.children.append(ReadyChild())

    def take(self) -> ReadyChild | None:
        """The oldest live child (the likeliest to have finished its start-up), out of the pool."""
        while self.children:
            child = self.children.pop(0)
            if child.alive():
                return child
            child.discard()
        return None

    def pids(self) -> list[int]:
        return [child.pid for child in self.children]

    def discard(self) -> None:
        for child in self.children:
            child.discard()
        self.children = []
