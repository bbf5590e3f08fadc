"""One exception tree for the whole client. Messages are written for the reader who must act.

BifrostError
├── ConfigError                 the config file or an argument is wrong
│   └── UnknownTarget
├── TargetError                 a machine could not be reached or used
│   ├── HostKeyUnknown
│   ├── HostKeyMismatch
│   ├── AuthFailed
│   ├── ConnectFailed
│   ├── ConnectionLost
│   └── SlurmError              the cluster's scheduler refused or could not run a job
│       ├── SlurmLaunchFailed
│       └── SlurmCannotRun
├── CommandError                a command could not run as asked
│   ├── PathOutsideWorkdir
│   └── PathNotFound
├── JobError
│   └── JobNotFound
├── TransferError               push / copy_files
│   ├── TransferTooLarge
│   ├── UnsafePath
│   ├── TransferIncomplete      the stream broke off; nothing half-written was kept
│   ├── TypeConflict            a file here where the target has a folder it did not get from push
│   ├── PushBusy                another push to the same folder holds its lock
│   └── LocalPathRefused        copy_files may not write there on this machine
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


class RequestLost(ConnectionLost):
    """The connection died after a request reached it: it may have run, so it is never resent."""


class SlurmError(TargetError):
    """Slurm (srun, sbatch, squeue, scancel on the login node) could not run or control a job."""


class SlurmLaunchFailed(SlurmError):
    """srun ended before the command started on a compute node (slurmd unreachable, bad options)."""


class SlurmCannotRun(SlurmError):
    """The job waits for a reason that waiting will not fix (every node down, partition down, ...)."""


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


class TypeConflict(TransferError):
    """A path is a file on one side and a folder on the other, and push did not make the target's."""


class PushBusy(TransferError):
    """Another push to the same remote folder held its lock for longer than the wait allows."""


class LocalPathRefused(TransferError):
    """copy_files was asked to write outside the workspace and the configured copy_roots."""


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
    """Codes of process.sh, workspace.sh, requirements.sh and waiter.sh (64-69), push.sh (80-88) and
    copy_files.sh (90-94), harness_install.sh and gpu_lock.sh (100-104), slurm_run.sh and slurm_job.sh
    (110-112)."""

    USAGE = 64
    NO_JOB = 65
    NO_DIR = 66
    CANNOT_CREATE = 67
    ALREADY_DONE = 68
    MISSING_TOOLS = 69
    PUSH_STAGING = 80
    PUSH_EXTRACT = 81
    PUSH_CUT_SHORT = 82
    PUSH_DEST_MOVED = 83
    PUSH_DELETE = 84
    PUSH_PLACE = 85
    PUSH_MANIFEST = 86
    PUSH_BUSY = 87
    PUSH_DELTA_MISMATCH = 88
    COPY_MISSING = 90
    COPY_UNSAFE = 91
    COPY_TOO_LARGE = 92
    COPY_RESERVED = 93
    COPY_HARDLINK = 94
    # harness_install.sh, gpu_lock.sh (the kernel loop)
    HARNESS_DIR = 100
    HARNESS_BUNDLE = 101
    LOCK_FILE = 102
    NO_FLOCK = 103
    LOCK_DIR_UNSAFE = 104
    # slurm_run.sh (a Slurm target's short calls), slurm_job.sh (its detached jobs)
    SLURM_LAUNCH_FAILED = 110  # srun ended before the command started
    SLURM_CANNOT_RUN = 111  # the job waits for a reason that waiting will not fix
    SLURM_NOT_BATCH = 112  # the job folder holds no Slurm job id: a claimed srun, not an sbatch job


REMOTE_EXIT_CODES: dict[int, tuple[type[BifrostError], str]] = {
    RemoteExit.USAGE: (
        CommandError,
        "a remote script was called with wrong arguments (a bug: please report it)",
    ),
    RemoteExit.NO_JOB: (JobNotFound, "no such job folder on the target"),
    RemoteExit.NO_DIR: (PathNotFound, "the folder does not exist on the target"),
    RemoteExit.MISSING_TOOLS: (TargetError, "the target lacks tools mcp-bifrost needs"),
    RemoteExit.CANNOT_CREATE: (
        CommandError,
        "could not create a folder on the target (permissions? disk full?)",
    ),
    RemoteExit.ALREADY_DONE: (JobError, "the command had already finished"),
    # remote/push.sh
    RemoteExit.PUSH_STAGING: (
        TransferError,
        "the target could not make the push's staging folder (disk full? permissions?)",
    ),
    RemoteExit.PUSH_EXTRACT: (
        TransferIncomplete,
        "tar on the target could not extract the push stream; nothing was changed",
    ),
    RemoteExit.PUSH_CUT_SHORT: (
        TransferIncomplete,
        "the push stream ended early; nothing was changed. Push again",
    ),
    RemoteExit.PUSH_DEST_MOVED: (
        UnsafePath,
        "the push destination is not a folder push may write, or it moved during the push",
    ),
    RemoteExit.PUSH_DELETE: (TransferError, "deleting files gone locally failed on the target"),
    RemoteExit.PUSH_PLACE: (TransferError, "moving the pushed files into place failed on the target"),
    RemoteExit.PUSH_MANIFEST: (TransferError, "saving the push manifest failed on the target"),
    RemoteExit.PUSH_BUSY: (
        PushBusy,
        "another push to this remote folder is still running; nothing was changed. "
        "Push again when it has finished, or push to another remote_dir",
    ),
    RemoteExit.PUSH_DELTA_MISMATCH: (
        TransferIncomplete,
        "a big file sent as its changed blocks did not rebuild into "
        "the local file on the target (its copy there changed during the push); nothing "
        "was changed. Push again",
    ),
    # remote/copy_files.sh (ops/copy_files.py words these with the paths it reads from stderr)
    RemoteExit.COPY_MISSING: (TransferError, "a remote path does not exist"),
    RemoteExit.COPY_UNSAFE: (UnsafePath, "a remote path leads outside the target's workdir"),
    RemoteExit.COPY_TOO_LARGE: (
        TransferTooLarge,
        "the remote paths hold more than the copy cap (limits.max_copy_bytes)",
    ),
    RemoteExit.COPY_RESERVED: (
        UnsafePath,
        "a remote path is the workdir itself, the folder of every workspace or "
        "of every job; name a folder inside one",
    ),
    RemoteExit.COPY_HARDLINK: (
        UnsafePath,
        "a remote file has other hard links (one may be outside the workdir)",
    ),
    RemoteExit.HARNESS_DIR: (
        HarnessInstallFailed,
        "could not create the harness folder in the target's workdir",
    ),
    RemoteExit.HARNESS_BUNDLE: (
        HarnessInstallFailed,
        "the harness bundle did not arrive whole or could not be unpacked",
    ),
    RemoteExit.LOCK_FILE: (GpuLockTimeout, "could not open the GPU lock file (is /tmp writable?)"),
    RemoteExit.NO_FLOCK: (GpuLockTimeout, "`flock` is missing on the target (util-linux)"),
    RemoteExit.LOCK_DIR_UNSAFE: (
        GpuLockTimeout,
        "the GPU lock's folder on the target is not private to this user, "
        "so it is not used; remove it (its path follows) and try again",
    ),
    RemoteExit.SLURM_LAUNCH_FAILED: (
        SlurmLaunchFailed,
        "srun could not start the command on a compute node (is "
        "slurmd up on the partition's nodes? `sinfo -N` on the login node shows them; "
        "`mcp-bifrost doctor` checks)",
    ),
    RemoteExit.SLURM_CANNOT_RUN: (
        SlurmCannotRun,
        "the Slurm job cannot start: no node of the partition can run it "
        "now (down, drained, or the request exceeds the partition's limits); check the "
        "target's partition/gres/time_limit and `sinfo`",
    ),
    RemoteExit.SLURM_NOT_BATCH: (
        JobError,
        "the job holds no Slurm job id: it is a claimed srun, a process group "
        "of the login node (ops/slurm/jobs.py reads it like any job)",
    ),
}


def error_for_exit(code: int, detail: str = "") -> BifrostError | None:
    """The error a remote script's exit code stands for, or None when the code is not one of ours."""
    entry = REMOTE_EXIT_CODES.get(code)
    if entry is None:
        return None
    cls, meaning = entry
    return cls(f"{meaning}: {detail}" if detail else meaning)
