"""The remote workspace model: where things live on a target, and what a user's path means there.

One value per target (`RemoteWorkspace`), built once by `open_workspace` with one remote call, and
used by exec, jobs, push and copy_files, so a path means the same folder in every tool:

  <workdir>/                     the target's root for everything we write (config `workdir`)
    workspaces/<name>/           the twin of the local workspace folder (push writes it, exec runs in it)
    jobs/<id>/                   job folders (ops/process_group.py)

A relative path is relative to the twin and may not climb out of it. An absolute path is taken as
it is by exec (it is a shell anyway); push and copy_files only accept one inside the workdir.
A local folder inside the local workspace has its twin at the same relative place in the remote twin.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from mcp_bifrost import remote
from mcp_bifrost.errors import BifrostError, PathOutsideWorkdir, UnsafePath
from mcp_bifrost.ops.remote_command import run_capture
from mcp_bifrost.targets.base import Target

NAME_CHARS = 40  # the readable part of a twin's name; the hash keeps it unique
HASH_CHARS = 8
WORKSPACES = "workspaces"
JOBS = "jobs"
PUSH_STATE = ".push"  # ours (push's staging, manifests and locks); never a destination


def inside(root: str, path: str) -> bool:
    root = posixpath.normpath(root)
    path = posixpath.normpath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")


def workspace_name(local_dir: str, project: str | None = None) -> str:
    """The twin's folder name: one local project, one twin.

    `project` (config) when given; otherwise the folder's base name and a short hash of its absolute
    path, so that a/proj and b/proj get twins of their own. Letters and digits of any script are
    kept (NFC); anything else becomes '_' (the hash tells apart names that map alike).
    """
    if project:
        return readable(project)
    path = os.path.abspath(os.fsdecode(local_dir)).rstrip("/") or "/"
    digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:HASH_CHARS]
    return f"{readable(posixpath.basename(path))}-{digest}"


def readable(name: str) -> str:
    """A path- and shell-safe folder name that keeps what a person reads: letters, digits, . _ -."""
    name = unicodedata.normalize("NFC", name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    kept = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:NAME_CHARS].strip(".")
    return kept or "workspace"


@dataclass(frozen=True)
class RemoteWorkspace:
    """Where the local workspace lives on one target, and the one path policy every tool uses."""

    target: str
    workdir: str  # absolute and real (symlinks resolved)
    twin: str  # <workdir>/workspaces/<name of the local workspace>
    local: Path  # the local workspace folder

    @property
    def jobs(self) -> str:
        return posixpath.join(self.workdir, JOBS)

    def job_dir(self, job_id: str) -> str:
        return posixpath.join(self.jobs, job_id)

    def _relative(self, path: str, what: str, error: type[BifrostError]) -> str:
        joined = posixpath.normpath(posixpath.join(self.twin, path))
        if not inside(self.twin, joined):
            raise error(
                f"{what} {path!r} climbs out of the workspace {self.twin}; '..' may not leave it "
                f"(give an absolute path inside the workdir {self.workdir} if you mean another place)"
            )
        return joined

    def cwd(self, path: str | None) -> str:
        """exec's working folder: the twin, a folder relative to it, or any absolute path."""
        if not path or path == ".":
            return self.twin
        if path == "~" or path.startswith("~/") or posixpath.isabs(path):
            return path
        return self._relative(path, "cwd", PathOutsideWorkdir)

    def transfer_path(self, path: str, what: str = "remote path") -> str:
        """A path push or copy_files may touch: relative to the twin, or absolute inside the workdir."""
        if not path or path.startswith("~"):
            raise UnsafePath(
                f"{what} {path!r}: give a path relative to the workspace ({self.twin}) "
                f"or an absolute path inside the workdir ({self.workdir})"
            )
        if not posixpath.isabs(path):
            return self._relative(path, what, UnsafePath)
        resolved = posixpath.normpath(path)
        if not inside(self.workdir, resolved):
            raise UnsafePath(
                f"{what} {path!r} is outside the target's workdir {self.workdir}; only paths "
                "inside it can be transferred (write results into the workspace first)"
            )
        return resolved

    def push_destination(self, remote_dir: str | None, local_dir: Path) -> str:
        """Where a push of `local_dir` goes: its twin, or `remote_dir` by the rules above.

        Never the workdir itself, the folder that holds every workspace, or our own state.
        """
        if remote_dir is None:
            local_dir = local_dir.resolve()
            if local_dir == self.local or self.local in local_dir.parents:
                dest = posixpath.join(self.twin, local_dir.relative_to(self.local).as_posix())
            else:
                dest = posixpath.join(self.workdir, WORKSPACES, workspace_name(str(local_dir)))
            dest = posixpath.normpath(dest)
        else:
            dest = self.transfer_path(remote_dir, "remote_dir")
        if reserved_for_push(self.workdir, dest):
            raise UnsafePath(
                f"remote_dir {remote_dir!r} resolves to {dest}, which holds other workspaces, jobs "
                "or mcp-bifrost's own state; name a folder of your own (leave remote_dir out "
                "to use the workspace's twin)"
            )
        return dest


def reserved_for_push(workdir: str, dest: str) -> bool:
    """True where a push may never write: outside the workdir, the workdir itself, the folder that
    holds every workspace, the jobs folder and anything in it, and push's own state (.push/).
    push checks the lexical path here and the real one (symlinks resolved) after the target lists it."""
    jobs = posixpath.join(workdir, JOBS)
    return (
        not inside(workdir, dest)
        or dest in {workdir, posixpath.join(workdir, WORKSPACES)}
        or inside(jobs, dest)
        or inside(posixpath.join(workdir, PUSH_STATE), dest)
    )


async def open_workspace(target: Target, local: Path, project: str | None = None) -> RemoteWorkspace:
    """Create (if needed) the workdir, its jobs folder and the twin of `local`; one remote call."""
    name = workspace_name(str(local), project)
    done = await run_capture(target, remote.command("workspace", target.workdir, name))
    done.check(f"preparing the workdir {target.workdir} on {target.name}")
    wd = done.stdout.decode().strip().splitlines()[-1]
    target.resolved_workdir = wd
    return RemoteWorkspace(target.name, wd, posixpath.join(wd, WORKSPACES, name), local)


async def workdir(target: Target) -> str:
    """The target's workdir as an absolute path (created on first use, then cached)."""
    if target.resolved_workdir is None:
        done = await run_capture(target, remote.command("workspace", target.workdir, ""))
        done.check(f"creating workdir {target.workdir} on {target.name}")
        target.resolved_workdir = done.stdout.decode().strip().splitlines()[-1]
    return target.resolved_workdir


async def workspace_dir(target: Target, name: str) -> str:
    return posixpath.join(await workdir(target), WORKSPACES, name)
