"""One exception tree for the whole client. Messages are written for the reader who must act.

BifrostError
├── ConfigError                 the config file or an argument is wrong
│   └── UnknownTarget
├── TargetError                 a machine could not be reached or used
│   ├── HostKeyUnknown
│   ├── HostKeyMismatch
│   ├── AuthFailed
│   ├── ConnectFailed
│   └── ConnectionLost
├── CommandError                a command could not run as asked
│   ├── PathOutsideWorkdir
│   └── PathNotFound
├── JobError
│   └── JobNotFound
├── TransferError               push / copy_files
│   ├── TransferTooLarge
│   ├── UnsafePath
│   └── TransferIncomplete      the stream broke off; nothing half-written was kept
└── HarnessError                gpu_harness on a target: install, worker, report, profiler
    ├── HarnessInstallFailed
    ├── HarnessProtocolError    a report that is not schema 1 JSON (or no report at all)
    ├── ProfilerUnavailable     no ncu on the target, or no permission to the GPU counters
    └── GpuLockTimeout
"""

from __future__ import annotations

import enum


class BifrostError(Exception):
    """Root of every error mcp-bifrost raises on purpose."""


class ConfigError(BifrostError):
    """The configuration (file, environment or arguments) is invalid."""


class UnknownTarget(ConfigError):
    """A target name that is not in the configuration."""


class TargetError(BifrostError):
    """A target could not be reached or used."""


class HostKeyUnknown(TargetError):
    """The host presented a key that is not in known_hosts."""


class HostKeyMismatch(TargetError):
    """The host presented a key that differs from the one recorded in known_hosts."""


class AuthFailed(TargetError):
    """The host refused every key we offered."""


class ConnectFailed(TargetError):
    """The TCP/SSH connection could not be set up."""


class ConnectionLost(TargetError):
    """A pooled connection died in the middle of an operation."""


class CommandError(BifrostError):
    """A command could not be run as asked."""


class PathOutsideWorkdir(CommandError):
    """A path argument points outside the target's workdir."""


class PathNotFound(CommandError):
    """A folder or file the call names does not exist on the target."""


class JobError(BifrostError):
    """A detached job could not be read or controlled."""


class JobNotFound(JobError):
    """No job with this id exists on the target."""


class TransferError(BifrostError):
    """Moving files between this machine and a target failed."""


class TransferTooLarge(TransferError):
    """A file or a whole transfer is over the configured size cap."""


class UnsafePath(TransferError):
    """A path escapes the folder it must stay in (.., absolute, or a symlink that leaves)."""


class TransferIncomplete(TransferError):
    """The stream broke off (connection lost, remote tar failed); partial files were discarded."""


class HarnessError(BifrostError):
    """gpu_harness could not be installed, started or understood on a target."""


class HarnessInstallFailed(HarnessError):
    """Shipping gpu_harness to the target failed (disk full, no tar, unwritable workdir)."""


class HarnessProtocolError(HarnessError):
    """The target's harness answered with something that is not a schema-1 report."""


class ProfilerUnavailable(HarnessError):
    """Nsight Compute is missing on the target, or may not read the GPU's performance counters."""


class GpuLockTimeout(HarnessError):
    """Another evaluation held the GPU for longer than this call may wait."""


# Exit codes of the remote scripts (mcp_bifrost/remote/*.sh) that mean "our own failure, not the
# user's command". The scripts name them EXIT_<NAME>; one table here, and a test checks that every
# code a script uses is in it under the same name (sysexits.h numbers, clear of a shell's 1, 2, 126-255).
class RemoteExit(enum.IntEnum):
    """Codes of process.sh, workspace.sh, requirements.sh and waiter.sh (64-69; other scripts use 70+)."""

    USAGE = 64
    NO_JOB = 65
    NO_DIR = 66
    CANNOT_CREATE = 67
    ALREADY_DONE = 68
    MISSING_TOOLS = 69
    # harness_install.sh, gpu_lock.sh (the kernel loop)
    HARNESS_DIR = 80
    HARNESS_BUNDLE = 81
    LOCK_FILE = 82
    NO_FLOCK = 83


REMOTE_EXIT_CODES: dict[int, tuple[type[BifrostError], str]] = {
    RemoteExit.USAGE: (CommandError, "a remote script was called with wrong arguments (a bug: please report it)"),
    RemoteExit.NO_JOB: (JobNotFound, "no such job folder on the target"),
    RemoteExit.NO_DIR: (PathNotFound, "the folder does not exist on the target"),
    RemoteExit.MISSING_TOOLS: (TargetError, "the target lacks tools mcp-bifrost needs"),
    RemoteExit.CANNOT_CREATE: (CommandError, "could not create a folder on the target (permissions? disk full?)"),
    RemoteExit.ALREADY_DONE: (JobError, "the command had already finished"),
    RemoteExit.HARNESS_DIR: (HarnessInstallFailed, "could not create the harness folder in the target's workdir"),
    RemoteExit.HARNESS_BUNDLE: (HarnessInstallFailed, "the harness bundle did not arrive whole or could not be unpacked"),
    RemoteExit.LOCK_FILE: (GpuLockTimeout, "could not open the GPU lock file (is /tmp writable?)"),
    RemoteExit.NO_FLOCK: (GpuLockTimeout, "`flock` is missing on the target (util-linux)"),
}


def error_for_exit(code: int, detail: str = "") -> BifrostError | None:
    """The error a remote script's exit code stands for, or None when the code is not one of ours."""
    entry = REMOTE_EXIT_CODES.get(code)
    if entry is None:
        return None
    cls, meaning = entry
    return cls(f"{meaning}: {detail}" if detail else meaning)
