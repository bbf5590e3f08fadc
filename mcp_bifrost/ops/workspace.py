"""Where things live on a target: its workdir, the workspace twin of the local folder, job dirs."""

from __future__ import annotations

import posixpath
import re

from mcp_bifrost.errors import PathOutsideWorkdir
from mcp_bifrost.ops.shell import home_path, run_capture
from mcp_bifrost.targets.base import Target

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


async def workdir(target: Target) -> str:
    """The target's workdir as an absolute path (created on first use, then cached)."""
    if target.resolved_workdir is None:
        done = await run_capture(target, f"mkdir -p {home_path(target.workdir)} && cd {home_path(target.workdir)} && pwd -P")
        done.check(f"creating workdir {target.workdir} on {target.name}")
        target.resolved_workdir = done.stdout.decode().strip()
    return target.resolved_workdir


def workspace_name(local_dir: str) -> str:
    """A folder name for a local workspace: its basename, made shell- and path-safe."""
    base = posixpath.basename(local_dir.rstrip("/\\")) or "workspace"
    return _SAFE_NAME.sub("_", base)


async def workspace_dir(target: Target, name: str) -> str:
    return posixpath.join(await workdir(target), "workspaces", name)


def inside(root: str, path: str) -> bool:
    root = posixpath.normpath(root)
    path = posixpath.normpath(path)
    return path == root or path.startswith(root + "/")


async def resolve_cwd(target: Target, workspace: str, cwd: str | None) -> str:
    """Absolute cwd for a command: the workspace, or `cwd` relative to it, or an absolute path.

    Absolute paths anywhere are allowed for exec (it is a shell anyway); relative ones must not
    climb out of the workspace, so that a typo does not run something in an unexpected place.
    """
    if cwd is None or cwd in ("", "."):
        return workspace
    if cwd.startswith("~") or posixpath.isabs(cwd):
        return cwd
    joined = posixpath.normpath(posixpath.join(workspace, cwd))
    if not inside(workspace, joined):
        raise PathOutsideWorkdir(
            f"cwd {cwd!r} climbs out of the workspace {workspace}; give an absolute path if you mean it"
        )
    return joined


def cd_command(path: str) -> str:
    return f"cd {home_path(path)}"

