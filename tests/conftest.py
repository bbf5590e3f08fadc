"""Shared fixtures: a real OpenSSH sshd on loopback, and targets that talk to it or to this machine."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from mcp_bifrost.targets.local import LocalTarget
from mcp_bifrost.targets.slurm import SlurmOptions, SlurmTarget
from mcp_bifrost.targets.ssh import SshTarget
from tests.support.slurm import SlurmCluster, start_slurm
from tests.support.slurm import missing as missing_slurm
from tests.support.sshd import SshServer, start_sshd

NON_ROOT_USER = "bifrost-test"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _users() -> list[str]:
    """The ssh tests run as ourselves, and also as an unprivileged user when one exists (CI makes it)."""
    me = pwd.getpwuid(os.getuid()).pw_name
    users = [me]
    if os.getuid() == 0:
        try:
            pwd.getpwnam(NON_ROOT_USER)
            users.append(NON_ROOT_USER)
        except KeyError:
            pass
    return users


class SshdPool:
    """One sshd per login user, started on first use and stopped at the end of the session."""

    def __init__(self, tmp_path_factory) -> None:
        self._tmp = tmp_path_factory
        self._servers: dict[str, SshServer] = {}
        self._dirs: list[Path] = []

    def get(self, user: str | None = None) -> SshServer:
        user = user or _users()[0]
        if user not in self._servers:
            if not os.path.exists("/usr/sbin/sshd"):
                pytest.fail("openssh-server is not installed: run .ci/run or apt-get install openssh-server")
            # pytest's tmp dirs are 0700; the unprivileged user must reach the keys and workdirs.
            root = Path(tempfile.mkdtemp(prefix=f"bifrost-sshd-{user}-"))
            self._dirs.append(root)
            self._servers[user] = start_sshd(root, user=user)
        return self._servers[user]

    def stop(self) -> None:
        for server in self._servers.values():
            server.stop()
        for root in self._dirs:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd_pool(tmp_path_factory) -> Iterator[SshdPool]:
    pool = SshdPool(tmp_path_factory)
    yield pool
    pool.stop()


@pytest.fixture(scope="session")
def sshd(sshd_pool: SshdPool) -> SshServer:
    """sshd that accepts the current user."""
    return sshd_pool.get()


def make_workdir(tmp_path_factory, user: str) -> str:
    """A fresh workdir on the 'remote' host, writable by the ssh user."""
    path = Path(tempfile.mkdtemp(prefix="bifrost-remote-"))
    os.chmod(path, 0o777)
    if user != pwd.getpwuid(os.getuid()).pw_name:
        subprocess.run(["chown", user, str(path)], check=True)
    return str(path / "wd")


@pytest.fixture
def remote_workdir(sshd: SshServer, tmp_path_factory) -> str:
    return make_workdir(tmp_path_factory, sshd.user)


def login_keywords(sshd: SshServer, workdir: str) -> dict[str, Any]:
    """An ssh target's keywords for logging in to `sshd` as its user, with our key and its host key."""
    return {
        "port": sshd.port,
        "user": sshd.user,
        "identity_file": str(sshd.client_key),
        "known_hosts": str(sshd.known_hosts),
        "workdir": workdir,
    }


def make_ssh_target(sshd: SshServer, workdir: str, name: str = "gpu") -> SshTarget:
    return SshTarget(name, "127.0.0.1", **login_keywords(sshd, workdir))


@pytest.fixture
async def ssh_target(sshd: SshServer, remote_workdir: str) -> AsyncIterator[SshTarget]:
    target = make_ssh_target(sshd, remote_workdir)
    yield target
    await target.close()


@pytest.fixture
async def local_target(tmp_path: Path) -> AsyncIterator[LocalTarget]:
    target = LocalTarget("local", str(tmp_path / "local-workdir"))
    yield target
    await target.close()


@pytest.fixture(params=["local"] + [f"ssh:{u}" for u in _users()])
async def target(request, tmp_path: Path, sshd_pool: SshdPool, tmp_path_factory):
    """Each test that takes `target` runs on the local target and on the real sshd (as each user)."""
    if request.param == "local":
        t = LocalTarget("local", str(tmp_path / "local-workdir"))
    else:
        server = sshd_pool.get(request.param.split(":", 1)[1])
        t = make_ssh_target(server, make_workdir(tmp_path_factory, server.user))
    yield t
    await t.close()


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A real single-node Slurm with two fake GPUs, and an sshd as its login node (tests/support/slurm.py)."""
    if missing_slurm():
        pytest.fail(f"Slurm is not installed ({', '.join(missing_slurm())}): run `make setup-system`")
    cluster = start_slurm(Path(tempfile.mkdtemp(prefix="bifrost-slurm-")))
    yield cluster
    cluster.stop()


def make_slurm_target(cluster: SlurmCluster, workdir: str, name: str = "cluster", **options) -> SlurmTarget:
    login = cluster.login
    assert login is not None
    slurm = SlurmOptions(**{"partition": cluster.partition, "gres": "gpu:1", **options})
    return SlurmTarget(name, "127.0.0.1", slurm=slurm, **login_keywords(login, workdir))


@pytest.fixture
async def slurm_target(slurm_cluster: SlurmCluster, tmp_path_factory) -> AsyncIterator[SlurmTarget]:
    assert slurm_cluster.login is not None
    target = make_slurm_target(slurm_cluster, make_workdir(tmp_path_factory, slurm_cluster.login.user))
    yield target
    await target.close()
    slurm_cluster.cancel_all()
