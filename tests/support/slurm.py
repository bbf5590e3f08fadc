"""A real single-node Slurm on loopback with fake GPUs, two by default. Used by tests and bench/.

Debian's slurmctld, slurmd and munged, each in the foreground under this process, with a plain
slurm.conf in a scratch dir (SLURM_CONF points at it). What it takes to run as root in a container:
- munged with its own key, socket and pid file (`--force`: root, and a socket dir others may enter);
- SlurmUser=root, proctrack/linuxproc and task/none (no cgroup plugin: containers rarely allow it);
- the node named with `slurmd -N`, its address 127.0.0.1, CPUs set by hand (config_overrides);
- "GPUs" whose gres.conf File= lines are /dev/null, /dev/zero, ...: Slurm hands them out and sets
  CUDA_VISIBLE_DEVICES, nothing opens them;
- scheduler tuned so that a job starts at once (batch_sched_delay=0, sched_min_interval=0), and
  KillWait short so that a cancel or a time limit ends a job within seconds.
The login node is a real sshd whose sessions get SLURM_CONF through `SetEnv`, as a cluster's login node
has its /etc/slurm. A plain slurm.conf rather than configless slurmd: the client commands need the file
anyway (configless clients find the controller through DNS SRV records or /run/slurm, both global).
Root is not required: run by another user, SlurmUser is that user and only its jobs run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.sshd import SshServer, free_port, start_sshd

NODE = "bifrost-node"
PARTITION = "gpu"
FAKE_GPUS = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom")  # device files Slurm hands out as GPUs
DAEMONS = ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/srun")


def missing() -> list[str]:
    """The programs this fixture needs that are not installed."""
    return [path for path in DAEMONS if not os.path.exists(path)]


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    munged: subprocess.Popen
    slurmctld: subprocess.Popen
    slurmd: subprocess.Popen | None
    login: SshServer | None = None
    node: str = NODE
    partition: str = PARTITION
    _extra: list[subprocess.Popen] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """This process's environment plus SLURM_CONF: what a shell on the login node has."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)

    def node_state(self) -> str:
        return self.run("sinfo", "-h", "-N", "-n", self.node, "-o", "%T").stdout.strip()

    def wait_node(self, *states: str, timeout: float = 30) -> None:
        """Until the node's state (sinfo %T, '*' = not responding) is one of `states` (default: idle)."""
        states = states or ("idle",)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.node_state() in states:
                return
            time.sleep(0.1)
        jobs = self.run("squeue", "-h", "-t", "all", "-o", "%i %j %T %r %N").stdout
        raise RuntimeError(
            f"node {self.node} not {' or '.join(states)} within {timeout} s (is {self.node_state()!r}); "
            f"jobs:\n{jobs}{self.run('scontrol', 'show', 'node', self.node).stdout}"
            f"logs in {self.root / 'log'}"
        )

    def stop_slurmd(self) -> None:
        if self.slurmd is not None:
            _stop(self.slurmd)
            self.slurmd = None

    def start_slurmd(self) -> None:
        if self.slurmd is None:
            self.slurmd = _daemon(["/usr/sbin/slurmd", "-D", "-N", self.node], self.env)

    def cancel_all(self, timeout: float = 30) -> None:
        """scancel every job and wait until none is left running or ending."""
        self.run("scancel", "--user", _me())
        deadline = time.monotonic() + timeout
        while self.run("squeue", "-h", "-t", "PD,R,CG,CF,S", "-o", "%i").stdout.strip():
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobs left after scancel: {self.run('squeue', '-h', '-t', 'all').stdout}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.cancel_all()
        if self.login is not None:
            self.login.stop()
        self.stop_slurmd()
        _stop(self.slurmctld)
        _stop(self.munged)
        shutil.rmtree(self.root, ignore_errors=True)


def slurm_target(cluster: SlurmCluster, workdir: str, **slurm: object) -> dict[str, object]:
    """A `kind: slurm` target for this cluster's login node, as a config's `targets` entry."""
    login = cluster.login
    assert login is not None
    return {
        "kind": "slurm",
        "host": f"{login.user}@127.0.0.1:{login.port}",
        "identity_file": str(login.client_key),
        "known_hosts": str(login.known_hosts),
        "workdir": workdir,
        "partition": cluster.partition,
        "gres": "gpu:1",
        **slurm,
    }


def _me() -> str:
    return subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()


def _daemon(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _slurm_conf(root: Path, ctld_port: int, slurmd_port: int, cpus: int, gpus: int) -> str:
    host = socket.gethostname()
    user = _me()  # root in CI; an unprivileged user can run it too, for its own jobs only
    return f"""\
ClusterName=bifrost
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
AuthInfo=socket={root / "munge" / "munge.sock"}
CredType=cred/munge
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}/%n
SlurmctldPidFile={root / "slurmctld.pid"}
SlurmdPidFile={root / "slurmd-%n.pid"}
SlurmctldLogFile={root / "log" / "slurmctld.log"}
SlurmdLogFile={root / "log" / "slurmd-%n.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=2
MinJobAge=600
InactiveLimit=0
SlurmdTimeout=5
MessageTimeout=5
NodeName={NODE} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={cpus} Gres=gpu:fake:{gpus} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


def start_slurm(root: Path, *, cpus: int = 16, gpus: int = 2, with_login: bool = True) -> SlurmCluster:
    """munged + slurmctld + slurmd (+ an sshd as the login node) with `gpus` fake GPUs, ready for jobs."""
    if not 1 <= gpus <= len(FAKE_GPUS):
        raise ValueError(f"gpus must be 1..{len(FAKE_GPUS)}")
    if missing():
        raise RuntimeError(
            f"Slurm is not installed ({', '.join(missing())}): "
            "apt-get install slurmctld slurmd slurm-client munge"
        )
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    for sub in ("munge", "spool", "state", "log"):
        (root / sub).mkdir(exist_ok=True)
    os.chmod(root / "munge", 0o755)  # clients (any user) must reach the socket
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(128))
    os.chmod(key, 0o600)
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, free_port(), free_port(), cpus, gpus))
    (root / "gres.conf").write_text(
        "".join(f"NodeName={NODE} Name=gpu Type=fake File={dev}\n" for dev in FAKE_GPUS[:gpus])
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    munged = _daemon(
        [
            "/usr/sbin/munged",
            "-F",
            "--force",
            f"--key-file={key}",
            f"--socket={root / 'munge' / 'munge.sock'}",
            f"--pid-file={root / 'munge' / 'munged.pid'}",
            f"--seed-file={root / 'munge' / 'seed'}",
            f"--log-file={root / 'log' / 'munged.log'}",
        ],
        env,
    )
    _wait_for(lambda: (root / "munge" / "munge.sock").exists(), "munged socket", munged)
    slurmctld = _daemon(["/usr/sbin/slurmctld", "-D", "-i"], env)
    cluster = SlurmCluster(root=root, conf=conf, munged=munged, slurmctld=slurmctld, slurmd=None)
    try:
        _wait_for(lambda: cluster.run("sinfo", "-h", timeout=5).returncode == 0, "slurmctld", slurmctld)
        cluster.start_slurmd()
        cluster.wait_node("idle")
        if with_login:
            cluster.login = start_sshd(root / "sshd", extra_config=f"SetEnv SLURM_CONF={conf}\n")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_for(ready, what: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready within {timeout} s")
