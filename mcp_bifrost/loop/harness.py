"""gpu_harness on a target: ship it, keep its worker warm, run one-shot when the worker cannot.

The GPU host needs only Python 3.10+ and torch. The client ships its own `gpu_harness` package, plus
the pure-Python half of PyYAML (task.yml), as one tar stream into `<workdir>/harness/<digest>/`,
named by a digest of the files, so a host never runs a harness other than the client's own.

The worker (`python -m gpu_harness serve`) runs on one long-lived channel per target: warm imports
make an evaluation cost ~1 s instead of ~5 s of torch import. It answers one request at a time, so
requests queue on `TargetHarness.lock`. A worker that died (killed, OOM, host reboot) is restarted
at the next request and the report says so; a worker that cannot start at all leaves the one-shot
path (`python -m gpu_harness smoke ... --json`, a fresh process per call), and the report says why.
This module holds the time of a request and TargetHarness; the bundle, the install and the worker's
channel are in harness_worker.py, the one-shot path and the job records in harness_oneshot.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp_bifrost.config import READY_TIMEOUT_S
from mcp_bifrost.errors import (
    BifrostError,
    HarnessProtocolError,
)
from mcp_bifrost.loop.harness_oneshot import read_job_report as read_job_report
from mcp_bifrost.loop.harness_oneshot import record_job_finish as record_job_finish
from mcp_bifrost.loop.harness_oneshot import record_job_start as record_job_start
from mcp_bifrost.loop.harness_oneshot import run_oneshot as run_oneshot
from mcp_bifrost.loop.harness_worker import ANSWER_GRACE_S, WorkerDied, exit_status, harness_command, install
from mcp_bifrost.loop.harness_worker import Lines as Lines
from mcp_bifrost.loop.harness_worker import Worker as Worker
from mcp_bifrost.loop.harness_worker import bundle as bundle
from mcp_bifrost.loop.harness_worker import check_schema as check_schema
from mcp_bifrost.loop.harness_worker import stderr_gist as stderr_gist
from mcp_bifrost.targets.base import Target

# -- one target's harness ---------------------------------------------------------------------------
# gpu_harness's own numbers for a request without a timeout (gpu_harness/deadline.py): its hard kill
# comes this long after the deadline, and this much compiling does not count.
PLAN_KILL_GRACE_S = 5.0
PLAN_COMPILE_ALLOWANCE_S = 120.0


@dataclass(frozen=True)
class SmokeTime:
    """The time fields of one smoke request, the same for the one-shot command line, and how long to
    wait for the answer."""

    fields: dict[str, Any]
    args: str
    wait_s: float
    planned: bool  # the harness sizes the deadline to the problem (its report's `plan` says how)


def smoke_time(timeout_s: float | None, default_s: float) -> SmokeTime:
    """A caller's timeout goes as it is: the harness honours it. Without one, the harness's time plan
    sizes the deadline to the problem (the judge's own measures of its reference and its case count),
    up to the default timeout less the kill's grace: a 40-case problem with a slow reference gets the
    minutes it needs, a vector add keeps a short one. The answer is awaited that long plus compiling."""
    if timeout_s is not None:
        return SmokeTime({"timeout_s": timeout_s}, f"--timeout {timeout_s:g}", timeout_s, False)
    cap = max(default_s - PLAN_KILL_GRACE_S, 1.0)
    return SmokeTime(
        {"max_deadline_s": cap}, f"--max-deadline {cap:g}", default_s + PLAN_COMPILE_ALLOWANCE_S, True
    )


def planned_words(limit: SmokeTime) -> str:
    """What a call that became a job says about the deadline its evaluation runs to."""
    if not limit.planned:
        return ""
    return (
        f"; its deadline is sized to the problem by the harness's time plan (at most "
        f"{limit.fields['max_deadline_s']:g} s), and the report's `plan` says what it chose and why"
    )


@dataclass
class Outcome:
    doc: dict[str, Any]
    runner: str
    pgid: int | None = None


class TargetHarness:
    """The harness of one target: installed once per digest, one worker, one request at a time."""

    def __init__(
        self,
        target: Target,
        *,
        env: dict[str, str] | None = None,
        use_worker: bool = True,
        ready_timeout_s: float = READY_TIMEOUT_S,
        wrap: Callable[[str, float], Awaitable[str]] | None = None,
        oneshot_reason: str = "one-shot (the worker is disabled in the config: [harness] worker = false)",
    ) -> None:
        self.target = target
        self.env = env or {}
        self.use_worker = use_worker
        self.wrap = wrap  # one-shot commands pass through it (Slurm: into srun, onto a compute node)
        self.oneshot_reason = oneshot_reason
        self.ready_timeout_s = ready_timeout_s
        self.lock = asyncio.Lock()
        self._hdir: str | None = None
        self._worker: Worker | None = None
        self._worker_failed: str | None = None

    async def folder(self) -> str:
        if self._hdir is None:
            self._hdir = await install(self.target)
        return self._hdir

    def command(self, hdir: str, args: str) -> str:
        return harness_command(hdir, self.target.python, args, self.env)

    async def oneshot_command(self, hdir: str, args: str, timeout_s: float) -> str:
        """A one-shot harness command as it must be sent: through `wrap` (Slurm: srun) where there is one."""
        command = self.command(hdir, args)
        return command if self.wrap is None else await self.wrap(command, timeout_s)

    @property
    def gpu_less(self) -> bool:
        """True once this target's worker has said its torch sees no GPU: no GPU lock to take there
        (a CPU run waiting for 'GPU 0' held by another run would wait for nothing)."""
        return self._worker is not None and self._worker.gpu is False

    async def _take_worker(self) -> tuple[Worker | None, str]:
        """The live worker, or a new one; (None, why) when only the one-shot path is left."""
        if not self.use_worker:
            return None, self.oneshot_reason
        if self._worker is not None and self._worker.alive:
            return self._worker, "warm worker"
        if self._worker_failed is not None:  # do not wait for a broken start at every call
            return (
                None,
                f"one-shot (the worker could not start earlier in this session: {self._worker_failed[:300]})",
            )
        note = "worker started"
        if self._worker is not None:
            status = await exit_status(self._worker.proc)
            note = f"worker restarted (the previous one had exited{'' if status is None else f' with status {status}'})"
            await self._worker.stop(self.target)
            self._worker = None
        hdir = await self.folder()
        try:
            self._worker = await Worker.start(self.target, self.command(hdir, "serve"), self.ready_timeout_s)
        except HarnessProtocolError as exc:
            self._worker_failed = str(exc)
            return None, f"one-shot (the worker could not start: {exc})"
        return self._worker, note

    async def evaluate(
        self,
        request: dict[str, Any],
        oneshot_args: str,
        timeout_s: float,
        on_start: Callable[[int | None], None] | None = None,
        may_retry: Callable[[], bool] = lambda: True,
    ) -> Outcome:
        """One smoke request: through the worker (restarted once if it dies), else one-shot.

        `may_retry` says no once the run became a job: job_cancel kills the worker, and that must
        not start the evaluation again."""
        worker, runner = await self._take_worker()
        for attempt in (1, 2):
            if worker is None:
                break
            if on_start:
                on_start(worker.proc.pgid)
            try:
                fields = request if "max_deadline_s" in request else {**request, "timeout_s": timeout_s}
                doc = await worker.request(fields, timeout_s + ANSWER_GRACE_S)
                return Outcome(doc, runner, worker.proc.pgid)
            except WorkerDied as exc:
                if attempt == 2 or not may_retry():
                    await worker.stop(self.target)
                    self._worker = None
                    raise HarnessProtocolError(
                        f"the harness worker on {self.target.name} died during this evaluation: {exc}"
                    ) from None
                worker, runner = await self._take_worker()  # it sees the dead one: "worker restarted (...)"
            except BaseException as exc:  # timeout or cancellation: the worker may be mid-evaluation
                await worker.stop(self.target)
                self._worker = None
                if isinstance(exc, asyncio.TimeoutError):
                    raise HarnessProtocolError(
                        f"the harness worker on {self.target.name} gave no answer within "
                        f"{timeout_s + ANSWER_GRACE_S:g} s "
                        "(the evaluation's timeout plus a grace); it was killed and restarts at the next call"
                    ) from None
                raise
        command = await self.oneshot_command(await self.folder(), oneshot_args, timeout_s + ANSWER_GRACE_S)
        doc, pgid = await run_oneshot(self.target, command, timeout_s + ANSWER_GRACE_S, on_start)
        return Outcome(doc, runner, pgid)

    async def close(self) -> None:
        if self._worker is not None:
            with contextlib.suppress(BifrostError, OSError):
                await self._worker.proc.close_stdin()  # the worker's serve loop ends at EOF
            await self._worker.stop(self.target)
            self._worker = None
