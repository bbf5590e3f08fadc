"""gpu_harness shipped to a target and its warm worker: the bundle, the install, the worker's channel.

The client ships its own `gpu_harness` package, plus the pure-Python half of PyYAML (task.yml), as
one tar stream into `<workdir>/harness/<digest>/`, named by a digest of the files, so a host never
runs a harness other than the client's own. The worker (`python -m gpu_harness serve`) answers one
JSON request per line on one long-lived channel (harness.py's TargetHarness drives it).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from mcp_bifrost.errors import (
    BifrostError,
    HarnessInstallFailed,
    HarnessProtocolError,
    error_for_exit,
)
from mcp_bifrost.ops import jobs
from mcp_bifrost.ops.output_cap import HeadTail
from mcp_bifrost.ops.remote_command import drain, quote
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
        ready = json_line(line)
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
            answer = json_line(line)
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
            await exit_status(self.proc)  # reap it: an unreaped child outlives the event loop and its warning


class WorkerDied(Exception):
    """The worker's stdout ended while we waited for an answer."""


def json_line(line: bytes | None) -> dict[str, Any] | None:
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


async def exit_status(proc: Process) -> int | None:
    try:
        return await asyncio.wait_for(proc.wait(), 1)
    except (asyncio.TimeoutError, BifrostError):
        return None


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
