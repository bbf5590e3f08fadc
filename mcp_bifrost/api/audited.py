"""The audited client under GPU: its config, its Bifrost, and the one code path every call takes.

Each call's arguments are checked as they enter (arguments.py) and its start and end are written to
the audit log (surface "api"), as the server writes its tool calls. ARCHITECTURE.md has the layers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from mcp_bifrost.app import Bifrost
from mcp_bifrost.arguments import check_arguments
from mcp_bifrost.audit import AuditLog, summary
from mcp_bifrost.config import Config, load_config
from mcp_bifrost.messages import Words
from mcp_bifrost.requests import Request

if TYPE_CHECKING:
    from typing_extensions import Self  # (typing.Self is 3.11+; annotations here are never evaluated)

T = TypeVar("T")
PathLike = str | os.PathLike[str]


class AuditedClient:
    """The state and the audit trail GPU's methods share (GPU's docstring says what the arguments mean)."""

    def __init__(
        self,
        config: Config | PathLike | None = None,
        workspace: PathLike | None = None,
        *,
        audit: bool = True,
        words: Words = Words.TOOL,
    ) -> None:
        """audit=False: the caller audits at its own level (the MCP server does). words: the vocabulary
        of messages that name a next step (the CLI passes Words.CLI)."""
        self.config = (
            config if isinstance(config, Config) else load_config(None if config is None else Path(config))
        )
        self._app = Bifrost(
            self.config, Path(workspace if workspace is not None else os.getcwd()), words=words
        )
        self.workspace: Path = self._app.workspace
        self._audit = AuditLog(self.config.audit_log_path(), surface="api") if audit else None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connections and warm harness workers this client opened."""
        await self._app.close()

    # -- the audit trail ------------------------------------------------------------------------
    async def _call(self, tool: str, target: str | None, arguments: dict[str, Any], work: Awaitable[T]) -> T:
        """Check the arguments, run `work`, and write its start and end entries (one code path for all)."""
        entry = {k: v for k, v in arguments.items() if v is not None}
        call = self._audit.start(tool, target, entry) if self._audit else ""
        started = time.monotonic()
        try:
            check_arguments({k: v for k, v in entry.items() if k != "timeout_s"})  # (the app words timeouts)
            result = await work
        except BaseException as exc:
            if isinstance(work, Coroutine):
                work.close()  # refused before it started: no "never awaited" warning
            if self._audit:
                self._audit.end(
                    call,
                    tool,
                    target,
                    {
                        "error": f"{type(exc).__name__}: {exc}"[:2000],
                        "seconds": round(time.monotonic() - started, 3),
                    },
                )
            raise
        if self._audit:
            self._audit.end(
                call,
                tool,
                target,
                {"result": _summary(result), "seconds": round(time.monotonic() - started, 3)},
            )
        return result

    async def _request(self, tool: str, request: Request, work: Awaitable[T]) -> T:
        """`_call` for a call whose arguments are a Request (they are what the audit entry records)."""
        return await self._call(tool, self._target(request.target), request.audited(), work)

    def _target(self, target: str | None) -> str:
        return target or self.config.default_target

    def _job_target(self, job_id: str, target: str | None) -> str:
        return job_id.rpartition(":")[0] or self._target(target)


def own_arguments(values: dict[str, Any]) -> dict[str, Any]:
    """A method's arguments, from its `locals()` taken first thing, less `self`: GPU's methods spell
    their keywords out for readers and IDEs, and the Request of the same field names takes them whole."""
    return {k: v for k, v in values.items() if k != "self"}


def _summary(result: Any) -> dict[str, Any]:
    if isinstance(result, BaseModel):
        return summary(result.model_dump(mode="json"))
    if isinstance(result, list):
        return {"count": len(result)}
    if isinstance(result, bytes):
        return {"bytes": len(result)}
    return {}
