"""What both report parsers share: the wire models' base (extra keys allowed within schema 1), the
one check of a harness document (schema, then shape), and the words for times and speedups.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from mcp_bifrost.errors import HarnessProtocolError
from mcp_bifrost.loop.harness import check_schema


class Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class WireError(Wire):
    """A failed stage, as both documents carry it."""

    stage: str
    kind: str
    message: str
    stderr_tail: str = ""


W = TypeVar("W", bound=BaseModel)


def validated(model: type[W], doc: dict[str, Any], what: str, sender: str) -> W:
    """The harness's document checked once: its schema version, then its shape."""
    check_schema(doc, what)
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise HarnessProtocolError(f"{sender} that does not validate: {exc.errors()[:3]}") from exc


def fmt_time(us: float | None) -> str:
    if us is None:
        return "?"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} us"


def fmt_speedup(x: float) -> str:
    return f"{x:.2f}x" if x >= 0.1 else f"{x:.2g}x"
