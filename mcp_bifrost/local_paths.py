"""Local folders a call names (push's source, copy_files' destination): relative to the workspace, and
when confined, inside the workspace or a configured root, '..' and symlinks resolved first.
"""

from __future__ import annotations

from pathlib import Path

from mcp_bifrost.errors import LocalPathRefused

# (how a refusal starts, the [limits] key that widens it) for each use
PUSH = ("push may not read", "push_roots")
COPY = ("copy_files may not write to", "copy_roots")


def local_path(workspace: Path, path: str) -> Path:
    """Relative local paths are relative to the workspace, as the agent sees it."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else workspace / p


def confined_path(
    workspace: Path, asked: str, path: Path, extra_roots: list[str], use: tuple[str, str]
) -> Path:
    """A local folder inside the workspace or a configured root, '..' and symlinks resolved."""
    refused, key = use
    real = path.resolve()  # '..' and symlinks on the way count where they lead
    roots = [workspace, *(Path(r).expanduser().resolve() for r in extra_roots)]
    if not any(real == root or root in real.parents for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise LocalPathRefused(
            f"{refused} {asked!r} ({real}): local_dir must lie inside the workspace or a configured "
            f"root ({allowed}). Give a folder relative to the workspace, e.g. 'results', or add the "
            f"folder to [limits] {key} in the config."
        )
    return real
