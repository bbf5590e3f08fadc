"""Targets and settings: a TOML file (from $BIFROST_CONFIG or the platform config dir), validated by pydantic.

With no file, one target `local` exists and is the default, so a newcomer needs no set-up.
"""

from __future__ import annotations

import os
import sys
import typing
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mcp_bifrost.errors import ConfigError, UnknownTarget

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (Ubuntu 22.04, many CUDA images): the same parser, from PyPI
    import tomli as tomllib

CONFIG_ENV = "BIFROST_CONFIG"
LOCAL_TARGET = "local"

# Defaults that code outside this module needs too (a target or helper built without a config file):
# named once here, used by the models below and by targets/ and ops/.
SSH_WORKDIR = "~/.bifrost"
REMOTE_PYTHON = "python3"
CONNECT_TIMEOUT_S = 15.0
KEEPALIVE_S = 15.0
MAX_CHANNELS = 8  # kept below sshd's MaxSessions (10)
SLURM_GRES = "gpu:1"
SLURM_MAX_PARALLEL = 6
PROGRESS_INTERVAL_S = 2.0
KILL_GRACE_S = 2.0
READY_TIMEOUT_S = 180.0  # torch + triton import on a cold host: 4-6 s measured, much more on a busy NFS


def default_config_path() -> Path:
    """Where the config file lives when $BIFROST_CONFIG does not say."""
    return Path(platformdirs.user_config_dir("mcp-bifrost")) / "config.toml"


def default_state_dir() -> Path:
    """Local state: audit log, history database."""
    return Path(os.environ.get("BIFROST_STATE_DIR") or platformdirs.user_state_dir("mcp-bifrost"))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_workdir(workdir: str) -> str:
    """The root of everything we write on a target: absolute (or ~/...), never '/', one plain line.

    An empty workdir made /jobs and /workspaces at the filesystem root; a newline made a relative path."""
    if any(ord(c) < 32 or ord(c) == 127 for c in workdir):
        raise ValueError("workdir may not hold control characters (a newline, a tab): give one absolute path")
    path = workdir.strip()
    if not path:
        raise ValueError(
            "workdir is empty: give an absolute folder such as ~/.bifrost or /scratch/me/bifrost"
        )
    if not (path.startswith("/") or path == "~" or path.startswith("~/")):
        raise ValueError(f"workdir {workdir!r} is relative: give an absolute folder (or one under ~/)")
    if path.rstrip("/") == "":
        raise ValueError("workdir may not be / itself: give a folder of its own such as ~/.bifrost")
    return workdir


class _Workdir(_Strict):
    @field_validator("workdir", check_fields=False)
    @classmethod
    def _plain_workdir(cls, workdir: str) -> str:
        return check_workdir(workdir)


class LocalTargetConfig(_Workdir):
    kind: Literal["local"] = "local"
    workdir: str = Field(default_factory=lambda: str(Path(platformdirs.user_data_dir("mcp-bifrost"))))
    python: str = Field(
        default_factory=lambda: sys.executable or "python3",
        description="default: the interpreter running mcp-bifrost (its venv has the project's torch)",
    )
    gpus: list[int] = Field(default_factory=list)


class SshTargetConfig(_Workdir):
    kind: Literal["ssh"]
    host: str = Field(description="an ~/.ssh/config alias, host, user@host or user@host:port")
    port: int | None = None
    user: str | None = None
    identity_file: str | None = Field(default=None, description="private key; the ssh agent is used too")
    known_hosts: str | None = Field(default=None, description="known_hosts file (default ~/.ssh/known_hosts)")
    ssh_config: str | None = Field(default=None, description="OpenSSH client config (default ~/.ssh/config)")
    workdir: str = SSH_WORKDIR
    python: str = REMOTE_PYTHON
    gpus: list[int] = Field(default_factory=list)
    connect_timeout_s: float = Field(default=CONNECT_TIMEOUT_S, gt=0)
    keepalive_s: float = Field(default=KEEPALIVE_S, gt=0)
    max_channels: int = Field(
        default=MAX_CHANNELS, ge=1, le=64, description="kept below sshd's MaxSessions (10)"
    )


class SlurmTargetConfig(SshTargetConfig):
    """A Slurm cluster: `host` is its login node (an ssh target); GPU work runs as srun / sbatch jobs.

    `workdir` must be on a filesystem the compute nodes share (home or a project dir, usually).
    """

    kind: Literal["slurm"]  # type: ignore[assignment]
    partition: str | None = Field(
        default=None, description="srun/sbatch --partition (default: the cluster's)"
    )
    gres: str | None = Field(default=SLURM_GRES, description="--gres, e.g. gpu:h100:1; empty for none")
    time_limit: str | None = Field(
        default=None, description="--time in Slurm's format (default: from the call's timeout)"
    )
    account: str | None = Field(default=None, description="--account")
    srun_options: list[str] = Field(
        default_factory=list, description="extra srun options, e.g. ['--qos=short']"
    )
    sbatch_options: list[str] = Field(default_factory=list, description="extra sbatch options")
    max_parallel: int = Field(
        default=SLURM_MAX_PARALLEL, ge=1, le=64, description="fan-out: Slurm jobs in flight at once"
    )

    @model_validator(mode="after")
    def _slurm_picks_gpus(self) -> SlurmTargetConfig:
        if self.gpus:
            raise ValueError("gpus cannot be set on a slurm target: Slurm picks the GPU (set gres instead)")
        return self


TargetConfig = Annotated[LocalTargetConfig | SshTargetConfig | SlurmTargetConfig, Field(discriminator="kind")]


class Limits(_Strict):
    default_timeout_s: float = Field(default=600.0, gt=0, description="exec timeout when the call gives none")
    job_timeout_s: float = Field(
        default=24 * 3600.0, gt=0, description="background job timeout when none given"
    )
    call_budget_s: float = Field(default=45.0, gt=0, description="longest a tool call may block the client")
    output_cap_bytes: int = Field(default=16_000, ge=256, description="stdout/stderr kept per stream")
    progress_interval_s: float = Field(default=PROGRESS_INTERVAL_S, gt=0, le=5.0)
    kill_grace_s: float = Field(default=KILL_GRACE_S, ge=0, description="TERM -> KILL delay")
    max_file_bytes: int = Field(default=100 * 2**20, ge=1, description="largest single file push sends")
    max_push_bytes: int = Field(default=1 * 2**30, ge=1, description="most content bytes one push sends")
    max_copy_bytes: int = Field(
        default=2 * 2**30, ge=1, description="most content bytes one copy_files fetches"
    )
    push_lock_wait_s: float = Field(
        default=30.0,
        ge=0,
        description="how long a push waits for another push "
        "to the same remote folder to finish before it gives up",
    )
    copy_roots: list[str] = Field(
        default_factory=list,
        description="local folders copy_files may write into besides the workspace (absolute; ~ allowed)",
    )
    push_roots: list[str] = Field(
        default_factory=list,
        description="local folders push may read besides the workspace (absolute; ~ allowed)",
    )

    @field_validator("copy_roots", "push_roots")
    @classmethod
    def _absolute_roots(cls, roots: list[str]) -> list[str]:
        relative = [r for r in roots if not (r.startswith("/") or r.startswith("~"))]
        if relative:
            raise ValueError(f"these must be absolute paths (or start with ~): {', '.join(relative)}")
        return roots


class HarnessSettings(_Strict):
    worker: bool = Field(
        default=True, description="keep a warm `gpu_harness serve` per target (false: one process per call)"
    )
    ready_timeout_s: float = Field(
        default=READY_TIMEOUT_S, gt=0, description="how long a new worker may take to import torch"
    )
    smoke_timeout_s: float = Field(
        default=300.0, gt=0, description="run_smoke_test's timeout when the call gives none"
    )
    profile_timeout_s: float = Field(
        default=600.0, gt=0, description="profile_ncu's timeout when the call gives none"
    )
    gpu_wait_s: float = Field(
        default=1800.0, gt=0, description="longest a call waits for another's lock on the GPU"
    )


class HttpSettings(_Strict):
    """`serve --http`: how many sessions may be open at once, and how long an idle one lives."""

    max_sessions: int = Field(default=64, ge=1, le=10_000, description="open sessions at once; more get 503")
    session_idle_s: float = Field(
        default=600.0, gt=0, le=7 * 24 * 3600, description="a session with no request for this long is closed"
    )


class Config(_Strict):
    default_target: str = LOCAL_TARGET
    targets: dict[str, TargetConfig] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    audit_log: str | None = Field(default=None, description="JSON-lines audit log (default in the state dir)")
    harness: HarnessSettings = Field(default_factory=HarnessSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    history_db: str | None = Field(
        default=None,
        description="SQLite history of smoke tests and profiles "
        "(default: $BIFROST_HISTORY_DB or the user data dir)",
    )
    project: str | None = Field(
        default=None,
        description="the name of this project's twin on every target "
        "(default: the workspace folder's name and a hash of its path); two folders "
        "with one project name share one twin",
    )

    @field_validator("project")
    @classmethod
    def _plain_project_name(cls, name: str | None) -> str | None:
        if name is not None and (
            not name.strip()
            or name.strip(".") == ""
            or "/" in name
            or any(ord(c) < 32 or ord(c) == 127 for c in name)
        ):
            raise ValueError("project must be a plain folder name: not empty, no '/', no control characters")
        return name

    @model_validator(mode="after")
    def _local_always_exists(self) -> Config:
        self.targets.setdefault(LOCAL_TARGET, LocalTargetConfig())
        if self.default_target not in self.targets:
            raise ValueError(
                f"default_target {self.default_target!r} is not a configured target "
                f"(have: {', '.join(sorted(self.targets))})"
            )
        return self

    def target(self, name: str | None) -> tuple[str, TargetConfig]:
        """The named target's config, or the default's; UnknownTarget names the choices."""
        name = name or self.default_target
        try:
            return name, self.targets[name]
        except KeyError:
            raise UnknownTarget(
                f"no target named {name!r}; configured targets: {', '.join(sorted(self.targets))}. "
                "List them with `mcp-bifrost targets` (the `targets` tool over MCP), or add one to the config file."
            ) from None

    def audit_log_path(self) -> Path:
        return Path(self.audit_log).expanduser() if self.audit_log else default_state_dir() / "audit.jsonl"


def config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    return Path(env).expanduser() if env else default_config_path()


def load_config(path: Path | None = None) -> Config:
    """Read and validate the config; errors name the file, the key and what is expected."""
    explicit = path is not None or CONFIG_ENV in os.environ
    path = path or config_path()
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {path} does not exist (set by ${CONFIG_ENV} or --config)")
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(path, exc)) from exc


def target_kinds() -> list[str]:
    """The `kind` values a target may have, read from the config models themselves."""
    union = typing.get_args(TargetConfig)[0]
    return [typing.get_args(model.model_fields["kind"].annotation)[0] for model in typing.get_args(union)]


def _describe_validation_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid configuration:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] in ("union_tag_not_found", "union_tag_invalid"):
            given = err.get("ctx", {}).get("tag")
            what = f"unknown kind {given!r}" if err["type"] == "union_tag_invalid" else "no `kind`"
            lines.append(f"  {key}: {what}; a target's kind is one of: {', '.join(target_kinds())}")
            continue
        lines.append(
            f"  {key}: {err['msg']}"
            + (f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else "")
        )
    return "\n".join(lines)
