"""A real OpenSSH sshd on 127.0.0.1 with throwaway keys. Used by tests and bench/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SshServer:
    port: int
    user: str
    root: Path  # scratch dir holding keys, config, logs
    client_key: Path
    known_hosts: Path
    ssh_config: Path
    proc: subprocess.Popen

    @property
    def alias(self) -> str:
        return "bifrost-test"

    def ssh_argv(self) -> list[str]:
        return ["ssh", "-F", str(self.ssh_config), self.alias]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def kill_all_sessions(self) -> None:
        """SIGKILL this sshd and its per-connection sshd processes (not the commands they started,
        and not other sshds): every connection dies mid-command, as when a host's sshd crashes."""
        table = subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True, text=True).stdout
        children: dict[int, list[tuple[int, str]]] = {}
        for line in table.splitlines():
            pid, ppid, comm = line.split(None, 2)
            children.setdefault(int(ppid), []).append((int(pid), comm.strip()))
        doomed, stack = [self.proc.pid], [self.proc.pid]
        while stack:
            for pid, comm in children.get(stack.pop(), []):
                if comm.startswith("sshd"):
                    doomed.append(pid)
                    stack.append(pid)
        for pid in doomed:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        self.proc.wait(5)

    def restart(self) -> None:
        self.proc = _start_sshd(self.root, self.port)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _start_sshd(root: Path, port: int) -> subprocess.Popen:
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-f", str(root / "sshd_config"), "-E", str(root / "sshd.log")])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(root / 'sshd.log').read_text()}") from None
            time.sleep(0.02)
    raise RuntimeError("sshd did not start listening within 10 s")


def start_sshd(root: Path, user: str | None = None, extra_config: str = "") -> SshServer:
    """Start sshd on a free loopback port that accepts `user` (default: the current user) by key.

    extra_config: more sshd_config lines, e.g. `SetEnv BASH_ENV=...` to give every session's shell
    start-up work or chatter, as a GPU host's ~/.bashrc does (without touching the real one)."""
    if not os.path.exists(SSHD):
        raise RuntimeError("openssh-server is not installed (apt-get install openssh-server)")
    user = (
        user
        or os.environ.get("USER")
        or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    )
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    port = free_port()
    _keygen(root / "host_key")
    _keygen(root / "client_key")
    shutil.copy(root / "client_key.pub", root / "authorized_keys")
    os.chmod(root / "authorized_keys", 0o644)
    (root / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nUsePAM no\nStrictModes no\n"
        f"PidFile {root / 'sshd.pid'}\nSubsystem sftp internal-sftp\nPermitRootLogin yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\nLogLevel INFO\n"
        f"AllowUsers {user}\n{extra_config}"
    )
    host_pub = (root / "host_key.pub").read_text().split()
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (root / "ssh_config").write_text(
        f"Host bifrost-test\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n"
        f"  IdentityFile {root / 'client_key'}\n  UserKnownHostsFile {root / 'known_hosts'}\n"
        "  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n  BatchMode yes\n"
    )
    proc = _start_sshd(root, port)
    return SshServer(
        port=port,
        user=user,
        root=root,
        client_key=root / "client_key",
        known_hosts=root / "known_hosts",
        ssh_config=root / "ssh_config",
        proc=proc,
    )
