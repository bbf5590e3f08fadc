"""gpu_harness on a target: ship it, keep its worker warm, run one-shot when the worker cannot.

The GPU host needs only Python 3.10+ and torch. The client ships its own `gpu_harness` package, plus
the pure-Python half of PyYAML (task.yml), as one tar stream into `<workdir>/harness/<digest>/`,
named by a digest of the files, so a host never runs a harness other than the client's own.

The worker (`python -m gpu_harness serve`) runs on one long-lived channel per target: warm imports
make an evaluation cost ~1 s instead of ~5 s of torch import. It answers one request at a time, so
requests queue on `TargetHarness.lock`. A worker that died (killed, OOM, host reboot) is restarted
at the next request and the report says so; a worker that cannot start at all leaves the one-shot
path (`python -m gpu_harness smoke ... --json`, a fresh process per call), and the report says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib.util
import io
import json
import posixpath
import tarfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from mcp_bifrost.config import READY_TIMEOUT_S
from mcp_bifrost.errors import (
    BifrostError,
    HarnessInstallFailed,
    HarnessProtocolError,
    error_for_exit,
)
from mcp_bifrost.ops import jobs
from mcp_bifrost.ops.output_cap import HeadTail
from mcp_bifrost.ops.remote_command import drain, quote, run_capture
from mcp_bifrost.ops.workspace import workdir
from mcp_bifrost.remote import command as remote_command
from mcp_bifrost.targets.base import Process, Target

SCHEMA_VERSION = 1  # the report schema this client reads (gpu_harness/README.md)
BUNDLED_PACKAGES = ("gpu_harness", "yaml")  # yaml: PyYAML's pure-Python package, without its C extension
DIGEST_CHARS = 16
ANSWER_GRACE_S = 30.0  # beyond the evaluation's own timeout (the harness kills it and still answers)
STDERR_KEEP = 8000
KILL_GRACE_S = 1.0


# -- the bundle ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bundle:
    digest: str
    data: bytes  # tar.gz: gpu_harness/, yaml/, .complete (last)
    files: int


def _package_files(name: str) -> list[tuple[str, Path]]:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise HarnessInstallFailed(
            f"the client cannot find the {name!r} package to ship to the target; reinstall mcp-bifrost "
            "(pip install mcp-bifrost pulls pyyaml)"
        )
    root = Path(spec.origin).parent
    return [
        (f"{name}/{p.relative_to(root).as_posix()}", p)
        for p in sorted(root.rglob("*.py"))
        if "__pycache__" not in p.parts
    ]


@functools.cache
def bundle() -> Bundle:
    """The harness as shipped, built once per process from the installed packages."""
    files = [f for name in BUNDLED_PACKAGES for f in _package_files(name)]
    digest = hashlib.sha256()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for arcname, path in files:
            data = path.read_bytes()
            digest.update(arcname.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
            _add(tar, arcname, data)
        _add(tar, ".complete", b"")  # last: proves the stream arrived whole
    return Bundle(digest.hexdigest()[:DIGEST_CHARS], buf.getvalue(), len(files))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


# -- reading a process line by line ---------------------------------------------------------------
class Lines:
    """Lines of a process's stdout, read by a background task; None marks the end of the stream."""

    def __init__(self, proc: Process) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.ended = False
        self._task = asyncio.ensure_future(self._pump(proc))

    async def _pump(self, proc: Process) -> None:
        pending = b""
        try:
            while chunk := await proc.read_stdout():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._queue.put_nowait(line)
        except BifrostError:
            pass
        finally:
            if pending:
                self._queue.put_nowait(pending)
            self.ended = True
            self._queue.put_nowait(None)

    async def next(self, timeout_s: float | None = None) -> bytes | None:
        """The next line; None at end of stream; TimeoutError when none came in time."""
        line = await asyncio.wait_for(self._queue.get(), timeout_s)
        if line is None:
            self._queue.put_nowait(None)  # stays at the end for every later reader
        return line

    def cancel(self) -> None:
        self._task.cancel()


# -- install --------------------------------------------------------------------------------------
async def install(target: Target) -> str:
    """Make `<workdir>/harness/<digest>` hold this client's harness; returns that folder."""
    b = bundle()
    root = posixpath.join(await workdir(target), "harness")
    proc = await target.start(remote_command("harness_install", root, b.digest), stdin=True)
    err: list[bytes] = []
    errors = asyncio.ensure_future(drain(proc.read_stderr, err))
    lines = Lines(proc)
    try:
        answer = await lines.next(60)
        if answer == b"need":
            await proc.write_stdin(b.data)
        await proc.close_stdin()
        status = await proc.wait()
        await errors
    except BaseException:
        proc.detach()
        lines.cancel()
        errors.cancel()
        raise
    if status != 0 or answer not in (b"need", b"present"):
        detail = b"".join(err).decode(errors="replace").strip()[-500:]
        raise error_for_exit(status, detail) or HarnessInstallFailed(
            f"installing gpu_harness on {target.name} failed (exit {status}): {detail or answer!r}"
        )
    return posixpath.join(root, b.digest)


# -- the worker -----------------------------------------------------------------------------------
def harness_command(hdir: str, python: str, args: str, env: dict[str, str]) -> str:
    exports = "".join(f"{k}={quote(v)} " for k, v in env.items())
    return f"cd {quote(hdir)} && {exports}PYTHONPATH={quote(hdir)} exec {python} -m gpu_harness {args}"


class Worker:
    """One `python -m gpu_harness serve` on a long-lived channel."""

    def __init__(
        self, proc: Process, lines: Lines, stderr: HeadTail, stderr_task: asyncio.Future[Any]
    ) -> None:
        self.proc = proc
        self.lines = lines
        self.stderr = stderr
        self._stderr_task = stderr_task
        self.pid: int | None = None
        self.gpu: bool | None = None  # from the ready line: does the target's torch see a GPU?
        self._next_id = 0

    @classmethod
    async def start(cls, target: Target, command: str, ready_timeout_s: float) -> Worker:
        proc = await target.start(command, stdin=True)
        stderr = HeadTail(STDERR_KEEP)

        async def pump() -> None:
            with contextlib.suppress(BifrostError):
                await drain(proc.read_stderr, stderr)

        worker = cls(proc, Lines(proc), stderr, asyncio.ensure_future(pump()))
        try:
            line = await worker.lines.next(ready_timeout_s)
        except asyncio.TimeoutError:
            await worker.stop(target)
            raise HarnessProtocolError(
                f"the harness worker on {target.name} did not report ready within {ready_timeout_s:g} s"
            ) from None
        ready = _json_line(line)
        if ready is None or ready.get("event") != "ready":
            await asyncio.sleep(0.2)  # let stderr (a traceback) arrive
            await worker.stop(target)
            raise HarnessProtocolError(
                f"the harness worker on {target.name} exited before it was ready: "
                f"{stderr_gist(worker.stderr.text(), target.python) or repr(line)}"
            )
        check_schema(ready, "the worker's ready line")
        worker.pid = ready.get("pid")
        worker.gpu = ready.get("gpu")
        return worker

    @property
    def alive(self) -> bool:
        return not self.lines.ended

    async def request(self, doc: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request and wait for the answer with its id; None-answer means the worker died."""
        self._next_id += 1
        rid = f"r{self._next_id}"
        await self.proc.write_stdin((json.dumps({**doc, "id": rid}) + "\n").encode())
        while True:
            line = await self.lines.next(timeout_s)
            if line is None:
                raise WorkerDied(self.stderr.text().strip()[-800:])
            answer = _json_line(line)
            if answer is not None and answer.get("id") == rid:
                return answer

    async def stop(self, target: Target) -> None:
        """Kill the worker's whole process group (its evaluation child too)."""
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(BifrostError, OSError):
                await jobs.kill_group(target, self.proc.pgid, KILL_GRACE_S)
            self.proc.detach()
            self.lines.cancel()
            self._stderr_task.cancel()
            await _exit_status(
                self.proc
            )  # reap it: an unreaped child outlives the event loop and its warning


class WorkerDied(Exception):
    """The worker's stdout ended while we waited for an answer."""


def _json_line(line: bytes | None) -> dict[str, Any] | None:
    if not line:
        return None
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def check_schema(doc: dict[str, Any], what: str) -> None:
    """A version mismatch is a clear error, never a half-read report."""
    schema = doc.get("schema")
    if schema != SCHEMA_VERSION:
        raise HarnessProtocolError(
            f"{what} is gpu_harness schema {schema!r}, but this client reads schema {SCHEMA_VERSION}. The client "
            "ships its own harness, so another gpu_harness shadows it on the target (PYTHONPATH?) or the client "
            "and its harness come from different versions: reinstall mcp-bifrost."
        )


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
            status = await _exit_status(self._worker.proc)
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


async def _exit_status(proc: Process) -> int | None:
    try:
        return await asyncio.wait_for(proc.wait(), 1)
    except (asyncio.TimeoutError, BifrostError):
        return None


async def run_oneshot(
    target: Target, command: str, timeout_s: float, on_start: Callable[[int | None], None] | None = None
) -> tuple[dict[str, Any], int]:
    """Run a one-shot harness command; its last stdout line is the JSON document."""
    proc = await target.start(command)
    if on_start:
        on_start(proc.pgid)
    out, err = HeadTail(8 << 20), HeadTail(STDERR_KEEP)

    async def finish() -> int:
        await asyncio.gather(drain(proc.read_stdout, out), drain(proc.read_stderr, err))
        return await proc.wait()

    try:
        status = await asyncio.wait_for(finish(), timeout_s)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(BifrostError, OSError):
                await jobs.kill_group(target, proc.pgid, KILL_GRACE_S)
            proc.detach()
            await _exit_status(proc)
        if isinstance(exc, asyncio.TimeoutError):
            raise HarnessProtocolError(
                f"the harness on {target.name} gave no answer within {timeout_s:g} s; "
                f"it was killed. stderr: {err.text().strip()[-500:]}"
            ) from None
        raise
    lines = [ln for ln in out.text().splitlines() if ln.strip()]
    doc = _json_line(lines[-1].encode()) if lines else None
    if doc is None:
        raise HarnessProtocolError(
            f"the harness on {target.name} printed no JSON report (exit {status}): "
            f"{stderr_gist(err.text(), target.python)}"
        )
    return doc, proc.pgid


def stderr_gist(stderr: str, python: str) -> str:
    """One clean line from a failed start's stderr: what to do when we know, else the traceback's
    last line (the exception), never a fragment cut from its middle."""
    if "No module named 'torch'" in stderr or 'No module named "torch"' in stderr:
        return (
            f"torch missing: the target's python ({python}) cannot import torch. Install it there "
            f"(`{python} -m pip install torch`) or set `python` in the target's config to an interpreter "
            "that has torch"
        )
    if "not found" in stderr and "python" in stderr:
        return f"the target's configured python ({python}) was not found: set `python` in the target's config"
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1][:500] if lines else "(no stderr)"


# -- jobs: an evaluation that outlives its tool call -------------------------------------------------
async def record_job_start(target: Target, pgid: int | None, command: str, cwd: str) -> str:
    """A job dir (ops/jobs.py layout) for an evaluation still running; returns the bare job id."""
    job_id = jobs.new_job_id()
    jdir = await jobs.job_dir(target, job_id)
    done = await run_capture(
        target, remote_command("harness_job", jdir, "start", str(pgid or 0), command, cwd)
    )
    done.check(f"recording job {job_id} on {target.name}")
    return job_id


async def record_job_finish(target: Target, job_id: str, exit_code: int, report_json: str) -> None:
    jdir = await jobs.job_dir(target, job_id)
    done = await run_capture(
        target, remote_command("harness_job", jdir, "finish", str(exit_code)), input=report_json.encode()
    )
    done.check(f"recording the end of job {job_id} on {target.name}")


async def read_job_report(target: Target, log_dir: str) -> str | None:
    done = await run_capture(target, f"cat {quote(posixpath.join(log_dir, 'report.json'))} 2>/dev/null")
    return done.stdout.decode(errors="replace") if done.exit_status == 0 and done.stdout else None
