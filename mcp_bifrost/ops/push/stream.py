"""One command on the target carries a whole push: it lists, then waits for 'go' and a tar, or 'stop'.

Why one command: a new exec channel costs a session set-up on the target (and the login shell's
rc files: 250 ms on a machine with pyenv). So the command that lists the tree stays open; push
plans locally and writes either "stop" or "go" plus one packed tar stream to the same stdin (zstd
where the target has it, else gzip; compression.py).

stdin:  [paths to hash (checksum only)] ["blocks N\\n" request]... "go\\n" tar | "stop\\n"
stdout: the listing (remote_tree; or only its token, when it is the tree the client remembers), then
        an end marker; after a `blocks` request (big changed files, ops/push/delta.py) the target's
        block hashes and the marker again; after the tar, the records of the paths it touched
        (ops/push/tree_cache.py)
The program on the target is mcp_bifrost/remote/push.sh; it holds a lock on the destination from
before the listing to the end, so two pushes to one folder run one after the other.
The tar holds files/<path> for the changed entries, delta/<path> for big files sent as their changed
blocks, and .bifrost/{delete,rmdir,manifest,touched,complete} (manifest only when it changed);
`complete` comes last, so its presence proves the stream arrived whole. The target extracts into a
staging folder, and only then deletes what is gone and hard-links the new files into place (or,
into an empty destination, renames the staged folder: no link, no unlink of thousands of files).
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from mcp_bifrost import remote
from mcp_bifrost.errors import ConnectionLost, TransferError, TransferIncomplete, error_for_exit
from mcp_bifrost.ops.push.compression import (
    COMPRESS_LEVEL,
    LevelledGzip,
    Plain,
    RawSink,
    Zstd,
    level_for,
    mostly_stored,
)
from mcp_bifrost.ops.push.delta import Patch, PatchReader, parse_blocks
from mcp_bifrost.ops.push.paxwrite import DIRECTORY, REGULAR, SYMLINK, PaxWriter
from mcp_bifrost.ops.push.plan import Plan
from mcp_bifrost.ops.push.remote_tree import RemoteState, parse_listing
from mcp_bifrost.ops.remote_command import drain
from mcp_bifrost.ops.tarstream import ByteQueue, CountingReader, PipeAborted, QueueWriter, settle
from mcp_bifrost.targets.base import Process, Target

Progress = Callable[[int, int], Awaitable[None]]
log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1
# From this much content on, the target inflates with python's zlib instead of GNU gzip: 0.22 s against
# 2.0 s for 512 MiB of stored data, but python takes 15-60 ms to start where gzip takes 3 (measured).
INFLATE_MIN_BYTES = 32 << 20
# Pack with zstd when the target has `zstd` (push.sh says so: the C record); gzip otherwise.
USE_ZSTD = True
# How a stream is packed, and the word push.sh reads before it ("go" + the word).
GZIP, INFLATE, ZSTD, RAW = "", "inflate", "zstd", "raw"


class PushSession:
    """The open push command: `open` returns the listing, then exactly one of `stop` or `send`."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._proc: Process | None = None
        self._err: list[bytes] = []
        self._stderr: asyncio.Future | None = None
        self._stdout: asyncio.Future | None = None
        self._marker = b""
        self._out: list[bytes] = []
        self.restat: bytes | None = None  # after send: push.sh's records of the paths it touched
        self.target_tools: frozenset[str] = frozenset()  # what the target can unpack with (C records)

    async def open(
        self,
        root: str,
        state_dir: str,
        dest: str,
        manifest_path: str,
        hash_paths: list[str] | None,
        lock_wait_s: float,
        known: str = "",
    ) -> RemoteState:
        """Start remote/push.sh; it takes the destination's lock (waiting up to lock_wait_s) and lists
        (or, when its tree has the token `known`, says so and lists nothing)."""
        marker = "bifrost-end-" + secrets.token_hex(16)
        names = None if hash_paths is None else b"".join(_encode(p) + b"\0" for p in hash_paths)
        self._marker = b"\0" + marker.encode() + b"\0"
        command = remote.command(
            "push",
            root,
            dest,
            manifest_path,
            state_dir,
            marker,
            "" if names is None else len(names),
            max(0, int(lock_wait_s)),
            self.target.python,
            remote.resource("push_helper.py"),
            known,
        )
        self._proc = proc = await self.target.start(command, stdin=True, bulk=True)
        self._stderr = asyncio.ensure_future(drain(proc.read_stderr, self._err))
        # The names go in while the listing comes out: the target lists before it reads them, and
        # each side would otherwise wait on a full pipe (50,000 files deadlocked).
        writing = asyncio.ensure_future(proc.write_stdin(names) if names else asyncio.sleep(0))
        try:
            listing = await self._read_until(self._marker)
            await writing
        except BaseException:
            writing.cancel()
            writing.add_done_callback(_retrieve)  # a broken pipe there is expected now: not an error
            await self.abort()
            raise
        state = parse_listing(listing)
        self.target_tools = frozenset(state.tools)
        return state

    async def blocks(self, request: bytes) -> dict[str, tuple[int, list[str]]]:
        """The target's block hashes of its copies of the big files named in `request` (delta.request)."""
        assert self._proc is not None
        writing = asyncio.ensure_future(self._proc.write_stdin(b"blocks %d\n" % len(request) + request))
        try:
            answer = await self._read_until(self._marker)
            await writing
        except BaseException:
            writing.cancel()
            writing.add_done_callback(_retrieve)
            await self.abort()
            raise
        return parse_blocks(answer)

    def _drain_stdout(self) -> None:
        if self._stdout is None and self._proc is not None:
            self._stdout = asyncio.ensure_future(drain(self._proc.read_stdout, self._out))

    async def _read_until(self, marker: bytes) -> bytes:
        assert self._proc is not None
        data = bytearray()
        while True:
            chunk = await self._proc.read_stdout()
            if not chunk:
                status = await self._proc.wait()
                if self._stderr is not None:
                    await asyncio.wait([self._stderr], timeout=2)  # the script's own words
                raise error_for_exit(status, f"{self.target.name}: {self._tail()}") or TransferError(
                    f"listing the target {self.target.name} failed (exit {status}): {self._tail()}"
                )
            data += chunk
            at = data.find(marker, max(0, len(data) - len(chunk) - len(marker)))
            if at >= 0:
                return bytes(data[: at + 1])

    async def stop(self) -> None:
        """Nothing to send: let the command end."""
        assert self._proc is not None
        self._drain_stdout()
        assert self._stderr is not None and self._stdout is not None
        try:
            await self._proc.write_stdin(b"stop\n")
            await self._proc.close_stdin()
            await self._proc.wait()
            await asyncio.gather(self._stderr, self._stdout)
        except BaseException:
            await self.abort()
            raise

    async def abort(self) -> None:
        if self._proc is not None:
            self._proc.detach()
        await settle(*[t for t in (self._stderr, self._stdout) if t is not None])

    async def send(
        self, root: Path, plan: Plan, progress: Progress | None, patches: dict[str, Patch] | None = None
    ) -> int:
        """Stream the plan as one tar; returns the bytes on the wire."""
        self._drain_stdout()
        proc = self._proc
        assert proc is not None and self._stderr is not None and self._stdout is not None
        chunks = ByteQueue()
        done = [0]
        total = plan.content_bytes
        streamed = total - sum(p.size - p.literal_bytes() for p in (patches or {}).values())
        packing = await self._packing(root, plan, patches or {}, streamed)
        writer = asyncio.ensure_future(
            asyncio.to_thread(write_tar, root, plan, chunks, done, patches or {}, packing=packing)
        )
        sent = 0
        last = 0.0
        try:
            await proc.write_stdin(f"go {packing}".strip().encode() + b"\n")
            try:
                while (chunk := await chunks.aget()) is not None:
                    await proc.write_stdin(chunk)
                    sent += len(chunk)
                    if progress is not None and time.monotonic() - last >= PROGRESS_INTERVAL_S:
                        last = time.monotonic()
                        await progress(done[0], total)
            except PipeAborted:
                await writer  # the tar writer failed: raise its error
                raise
            await writer
            await proc.close_stdin()
            status = await proc.wait()
            await asyncio.gather(self._stderr, self._stdout)
        except BaseException as exc:
            chunks.abort()
            proc.detach()
            await settle(writer, self._stderr, self._stdout)
            if isinstance(exc, (ConnectionLost, BrokenPipeError, ConnectionResetError)):
                raise TransferIncomplete(
                    f"push to {self.target.name} broke off after {sent} bytes ({exc}); the target discards a "
                    "partial stream, so no half-written file is left there. Push again."
                ) from exc
            raise
        if status != 0:
            raise error_for_exit(status, f"{self.target.name}: {self._tail()}") or TransferIncomplete(
                f"push to {self.target.name} failed on the target (exit {status}): {self._tail()}. "
                "No half-written file was kept."
            )
        out = b"".join(self._out)
        if out.startswith(b"U\0") and out.endswith(b"Z\0"):
            self.restat = out[2:-2]
        if progress is not None:
            try:
                await progress(total, total)
            except Exception as exc:  # the push was applied: a lost progress note must not say otherwise
                log.warning("push progress could not be reported: %s", exc)
        return sent

    async def _packing(self, root: Path, plan: Plan, patches: dict[str, Patch], streamed: int) -> str:
        """RAW for a big stream of mostly incompressible data, else ZSTD where the target can unpack
        it, else gzip (INFLATE: by python on the target, for a big stream)."""
        if streamed >= INFLATE_MIN_BYTES and await asyncio.to_thread(mostly_stored, root, plan, patches):
            return RAW
        if USE_ZSTD and "zstd" in self.target_tools:
            return ZSTD
        return INFLATE if streamed >= INFLATE_MIN_BYTES else GZIP

    def _tail(self) -> str:
        return b"".join(self._err).decode(errors="replace").strip()[-800:]


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def write_tar(
    root: Path,
    plan: Plan,
    chunks: ByteQueue,
    done: list[int],
    patches: dict[str, Patch] | None = None,
    *,
    packing: str = GZIP,
) -> None:
    """Runs in a worker thread: the tar of the plan, packed as `packing` says, into `chunks`."""
    sink = RawSink(chunks) if packing == RAW else QueueWriter(chunks)
    gz: LevelledGzip | Plain | Zstd = (
        Plain(sink) if packing == RAW else Zstd(sink) if packing == ZSTD else LevelledGzip(sink)
    )
    reading = ""
    gz.use_level(COMPRESS_LEVEL)
    try:
        tar = PaxWriter(gz)
        for entry in plan.send:
            name = "files/" + entry.path
            if entry.kind == "d":
                tar.add(name, DIRECTORY, mtime_ns=entry.mtime_ns, mode=0o755)
            elif entry.kind == "l":
                tar.add(name, SYMLINK, mtime_ns=entry.mtime_ns, mode=0o777, link=entry.link or "")
            else:
                mode = entry.mode if entry.mode is not None else 0o755 if entry.executable else 0o644
                reading = entry.path
                with open(root / entry.path, "rb") as f:
                    if isinstance(gz, LevelledGzip):  # zstd needs no test per file
                        gz.use_level(level_for(f, entry.size))
                    patch = (patches or {}).get(entry.path)
                    if patch is None:
                        reader: CountingReader | PatchReader = CountingReader(f, done)
                        size = entry.size
                    else:  # the changed blocks only; the target rebuilds the file (ops/push/delta.py)
                        reader = PatchReader(f, patch, patch.header(mode, entry.mtime_ns), done)
                        name, size = "delta/" + entry.path, reader.size
                    tar.add(name, REGULAR, size=size, mtime_ns=entry.mtime_ns, mode=mode, data=reader)
        gz.use_level(COMPRESS_LEVEL)
        reading = ""
        now = time.time_ns()
        _add_bytes(tar, ".bifrost/delete", nul_list(plan.delete), now)
        _add_bytes(tar, ".bifrost/rmdir", nul_list(plan.rmdir), now)
        if plan.manifest_changed:
            _add_bytes(tar, ".bifrost/manifest", nul_list(plan.manifest), now)
        _add_bytes(tar, ".bifrost/touched", b"".join(b"./" + _encode(p) + b"\0" for p in plan.touched), now)
        _add_bytes(tar, ".bifrost/complete", b"", now)  # last: its presence proves the stream is whole
        tar.close()
        gz.close()
        sink.close()
    except OSError as exc:
        chunks.abort()
        raise TransferError(_read_failure(exc, reading)) from exc
    except BaseException:
        chunks.abort()
        raise


def _read_failure(exc: OSError, path: str) -> str:
    """What went wrong reading a local file, in words that are true: the target was not changed
    (it applies nothing from a stream that does not end with .bifrost/complete)."""
    shown = repr(path) if path else "a local file"
    if isinstance(exc, PermissionError):
        return (
            f"push stopped: {shown} cannot be read here ({exc.strerror}); nothing was changed on the "
            "target. Make it readable (chmod u+r), or add it to .bifrostignore."
        )
    if isinstance(exc, FileNotFoundError):
        return (
            f"push stopped: {shown} was deleted while the push read it; nothing was changed on the "
            "target. Push again."
        )
    return (
        f"push stopped while reading {shown} ({exc}); it may have changed while being read. Nothing "
        "was changed on the target. Push again."
    )


def _encode(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def nul_list(paths: list[str]) -> bytes:
    return b"".join(_encode(p) + b"\0" for p in paths)


def _add_bytes(tar: PaxWriter, name: str, data: bytes, mtime_ns: int) -> None:
    tar.add(name, REGULAR, size=len(data), mtime_ns=mtime_ns, data=io.BytesIO(data))
