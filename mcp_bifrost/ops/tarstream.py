"""Tar streams between a worker thread and a target's process, with backpressure and abort.

tarfile and gzip are blocking; running them in a thread keeps the event loop free (zlib releases
the GIL, so compression runs beside the ssh encryption on another core). A bounded queue joins the
two sides; either side can abort it, and the other then stops instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from typing import BinaryIO

CHUNK_BYTES = 256 * 1024
QUEUE_CHUNKS = 16
_POLL_S = 0.05


class PipeAborted(Exception):
    """The other side of a ByteQueue gave up."""


class ByteQueue:
    """A bounded queue of byte chunks; None marks the end of the stream."""

    def __init__(self, maxsize: int = QUEUE_CHUNKS) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize)
        self._aborted = threading.Event()

    def put(self, chunk: bytes | None) -> None:
        while True:
            if self._aborted.is_set():
                raise PipeAborted
            try:
                self._queue.put(chunk, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def get(self) -> bytes | None:
        while True:
            if self._aborted.is_set():
                raise PipeAborted
            try:
                return self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue

    async def aput(self, chunk: bytes | None) -> None:
        try:
            self._queue.put_nowait(chunk)
        except queue.Full:
            await asyncio.to_thread(self.put, chunk)

    async def aget(self) -> bytes | None:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return await asyncio.to_thread(self.get)

    def abort(self) -> None:
        self._aborted.set()


class QueueWriter:
    """A write-only file object for the worker thread: bytes go to the queue in CHUNK_BYTES pieces."""

    def __init__(self, chunks: ByteQueue) -> None:
        self._chunks = chunks
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self._chunks.put(bytes(self._buffer))
            self._buffer.clear()

    def close(self) -> None:
        """End of stream: flush and send the end marker."""
        self.flush()
        self._chunks.put(None)


class QueueReader:
    """A read-only file object for the worker thread, fed from the queue. Reads may be short."""

    def __init__(self, chunks: ByteQueue) -> None:
        self._chunks = chunks
        self._chunk = b""
        self._pos = 0
        self._eof = False

    def read(self, n: int = -1) -> bytes:
        if self._pos >= len(self._chunk):
            if self._eof:
                return b""
            chunk = self._chunks.get()
            if chunk is None:
                self._eof = True
                return b""
            self._chunk, self._pos = chunk, 0
        end = len(self._chunk) if n < 0 else self._pos + n
        data = self._chunk[self._pos : end]
        self._pos += len(data)
        return data


class CountingReader:
    """Wraps a file being archived so that progress can be read from another thread."""

    def __init__(self, raw: BinaryIO, counter: list[int]) -> None:
        self._raw = raw
        self._counter = counter

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._counter[0] += len(data)
        return data


async def settle(worker: asyncio.Future, *readers: asyncio.Future) -> None:
    """After an abort: wait for the worker thread (it stops within a poll), give up on the readers.

    Their errors are retrieved here on purpose: the error that matters was raised already.
    """
    with contextlib.suppress(BaseException):
        await asyncio.wait([worker, *readers], timeout=5)
    for task in (worker, *readers):
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()
