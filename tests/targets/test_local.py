"""The local target's process handle: a command that ends while our writes to its stdin are still
buffered leaves no error behind in the event loop (seen as a stray BrokenPipeError, "Future exception
was never retrieved", after a 50,000-file push was called off mid-listing)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from mcp_bifrost.targets.local import LocalTarget

pytestmark = pytest.mark.anyio


async def _errors_left_in_the_loop(body) -> list[dict]:
    loop = asyncio.get_running_loop()
    seen: list[dict] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        await body()
        for _ in range(5):
            await asyncio.sleep(0.05)
            gc.collect()
    finally:
        loop.set_exception_handler(previous)
    return seen


@pytest.mark.parametrize("ending", ["ends-by-itself", "detached-first", "detached-after"])
async def test_a_command_that_ends_with_our_stdin_writes_buffered_leaves_no_error_in_the_loop(
    tmp_path, ending
):
    target = LocalTarget("local", str(tmp_path))

    async def body() -> None:
        proc = await target.start(
            "sleep 0.3", stdin=True
        )  # never reads: the pipe fills, the rest is buffered
        writing = asyncio.ensure_future(proc.write_stdin(b"x" * (1 << 20)))
        await asyncio.sleep(0.05)
        if ending == "detached-first":
            proc.detach()
        await proc.wait()
        await asyncio.sleep(0.1)
        if ending == "detached-after":
            proc.detach()
        if ending == "detached-first":  # we let go first: the writer just ends
            await writing
        else:
            with pytest.raises((BrokenPipeError, ConnectionResetError)):
                await writing  # the writer hears of it, once
        del proc

    seen = await _errors_left_in_the_loop(body)
    assert seen == [], [c.get("message") for c in seen] + [repr(c.get("exception")) for c in seen]
