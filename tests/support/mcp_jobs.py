"""A job seen through the MCP tools, as an agent sees it: its job_status, and waiting (bounded) until it
has left the states it passes through before it ends."""

from __future__ import annotations

from typing import Any

import anyio
from mcp import Client


async def job_status(client: Client, job_id: str) -> dict[str, Any]:
    """The job_status tool's answer for `job_id`."""
    return (await client.call_tool("job_status", {"job_id": job_id})).structured_content or {}


async def job_done(
    client: Client,
    job_id: str,
    within_s: float,
    *,
    waiting: tuple[str, ...] = ("running",),
    poll_s: float = 0.3,
) -> dict[str, Any]:
    """job_status once the job is in none of the `waiting` states; fails after `within_s`."""
    with anyio.fail_after(within_s):
        while (status := await job_status(client, job_id))["state"] in waiting:
            await anyio.sleep(poll_s)
    return status
