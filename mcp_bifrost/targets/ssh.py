"""The `ssh` target: asyncssh, one pooled connection per host, pre-warmed exec channels.

Why pre-warmed: sshd spends ~100 ms setting up each exec session (measured on loopback), which is
most of a warm `exec("true")`. We keep spare channels whose shell has already started and waits
for a command line on stdin; taking one costs one write (~3 ms). Its shell prints its pid on stdout
after a marker (never on stderr, where rc files chatter): sshd made it a session leader, so that pid
is the process group we kill on timeout or cancel. One channel is kept back from the calls
(`reserved=True`): the kill and claim paths use it, so they never wait for a channel a call holds.

Every asyncssh error is translated to our own in `translated()` (ssh_process.py, with SshProcess), the
one place that knows asyncssh's; ssh_host.py holds the host spec, the connect options, the host-key words.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path

from mcp_bifrost import remote
from mcp_bifrost.config import CONNECT_TIMEOUT_S, KEEPALIVE_S, MAX_CHANNELS, REMOTE_PYTHON, SSH_WORKDIR
from mcp_bifrost.errors import (
    AuthFailed,
    ConnectFailed,
    ConnectionLost,
    RequestLost,
    TargetError,
)
from mcp_bifrost.targets.base import Process, Target
from mcp_bifrost.targets.dispatch import DispatchLink
from mcp_bifrost.targets.ssh_host import host_key_error, ssh_options
from mcp_bifrost.targets.ssh_host import known_hosts_key as known_hosts_key
from mcp_bifrost.targets.ssh_host import parse_host as parse_host
from mcp_bifrost.targets.ssh_process import PID_MARKER, RC_NOISE_LIMIT, SshProcess, translated
from mcp_bifrost.targets.sshlib import asyncssh

log = logging.getLogger(__name__)

# The waiting shell (remote/waiter.sh), run by the login shell once a channel opens.
_WAITER_COMMAND = remote.command("waiter")
# Two spares: a push takes one for its listing and an exec right after finds the other ready
# (a spare takes 100-400 ms to come up, longer than a no-change push).
SPARE_CHANNELS = 2


class SshTarget(Target):
    kind = "ssh"

    def __init__(
        self,
        name: str,
        host: str,
        *,
        workdir: str = SSH_WORKDIR,
        python: str = REMOTE_PYTHON,
        port: int | None = None,
        user: str | None = None,
        identity_file: str | None = None,
        known_hosts: str | None = None,
        ssh_config: str | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        keepalive_s: float = KEEPALIVE_S,
        max_channels: int = MAX_CHANNELS,
    ) -> None:
        super().__init__(name, workdir, python)
        spec_user, self.host, spec_port = parse_host(host)
        self.port = port or spec_port
        self.user = user or spec_user
        self.identity_file = identity_file
        self.known_hosts = known_hosts
        self.ssh_config = ssh_config
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        # one channel is kept back for the kill and claim paths (reserved=True)
        self._channels = asyncio.Semaphore(max(1, max_channels - 1))
        self._reserved = asyncio.Semaphore(1)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._connect_lock = asyncio.Lock()
        self._spares: list[asyncio.Task[tuple[asyncssh.SSHClientProcess, int]]] = []
        # the dispatcher (targets/dispatch.py): one more long-lived channel, outside the counts above
        self._link: DispatchLink | None = None
        self._link_conn: asyncssh.SSHClientConnection | None = None
        self._no_link_conn: asyncssh.SSHClientConnection | None = None
        self._link_lock = asyncio.Lock()

    # -- connection -------------------------------------------------------------------------
    def _options(self, *, verify_host: bool = True) -> dict:
        return ssh_options(self, verify_host=verify_host)

    async def _connect(self) -> asyncssh.SSHClientConnection:
        try:
            return await asyncssh.connect(self.host, **self._options())
        except asyncssh.HostKeyNotVerifiable as exc:
            raise host_key_error(self.describe(), self.name, self.host, self.port, self.known_hosts) from exc
        except asyncssh.PermissionDenied as exc:
            raise AuthFailed(
                f"{self.describe()}: the host refused our keys ({exc.reason}). Set identity_file in the "
                "target's config, or pass SSH_AUTH_SOCK through the MCP client's `env` (stdio servers "
                "do not inherit it)."
            ) from exc
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            raise ConnectFailed(f"{self.describe()}: cannot connect to {self.host}: {exc}") from exc

    async def connection(self) -> asyncssh.SSHClientConnection:
        async with self._connect_lock:
            if self._conn is None or self._conn.is_closed():
                self._drop_spares()
                self._conn = await self._connect()
            return self._conn

    def _drop_spares(self) -> None:
        spares, self._spares = self._spares, []
        for spare in spares:
            if not spare.done():
                spare.cancel()  # _spare_waiter gives its channel slot back
            elif not spare.cancelled() and spare.exception() is None:
                spare.result()[0].close()
                self._channels.release()

    async def _open_waiter(self, conn: asyncssh.SSHClientConnection) -> tuple[asyncssh.SSHClientProcess, int]:
        with translated():
            proc = await conn.create_process(_WAITER_COMMAND, encoding=None)
            seen = b""
            while len(seen) < RC_NOISE_LIMIT:
                line = await proc.stdout.readline()
                if line.startswith(PID_MARKER) or not line:
                    break
                seen += line
        try:
            return proc, int(line[len(PID_MARKER) :].strip())
        except ValueError:
            proc.close()
            raise TargetError(
                f"{self.describe()}: the remote shell did not report its pid (its output began "
                f"{(seen + line)[:200]!r}); does the login shell exit or exec another program in its rc files?"
            ) from None

    async def _spare_waiter(
        self, conn: asyncssh.SSHClientConnection, slots: asyncio.Semaphore | None = None
    ) -> tuple[asyncssh.SSHClientProcess, int]:
        """Open a waiting shell holding one channel slot; the slot is given back if this fails."""
        slots = slots or self._channels
        await slots.acquire()
        try:
            return await self._open_waiter(conn)
        except BaseException:
            slots.release()
            raise

    async def _take_waiter(self) -> tuple[asyncssh.SSHClientProcess, int]:
        conn = await self.connection()
        while self._spares:
            # a ready spare first, else the one that started earliest
            spare = next((t for t in self._spares if t.done()), self._spares[0])
            self._spares.remove(spare)
            try:
                proc, pid = await spare
            except TargetError:
                continue
            if not proc.is_closing():
                return proc, pid
            proc.close()
            self._channels.release()
        return await self._spare_waiter(conn)

    def _prewarm(self) -> None:
        conn = self._conn
        if conn is None or conn.is_closed():
            return
        while len(self._spares) < SPARE_CHANNELS:
            spare = asyncio.ensure_future(self._spare_waiter(conn))
            spare.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._spares.append(spare)

    async def _dispatcher(self) -> DispatchLink | None:
        """The connection's dispatcher, started on first use; None where it cannot run (no python)."""
        conn = await self.connection()
        async with self._link_lock:
            if self._link is not None and self._link.alive and self._link_conn is conn:
                return self._link
            if self._no_link_conn is conn:
                return None
            if self._link is not None:
                self._link.close()
            try:
                self._link = await DispatchLink.open(conn, self.python, self.connect_timeout_s)
            except TargetError as exc:
                log.warning(
                    "%s: no dispatcher (%s); each command opens a channel instead", self.describe(), exc
                )
                self._link, self._no_link_conn = None, conn
                return None
            self._link_conn = conn
            return self._link

    async def start(
        self, command: str, *, stdin: bool = False, reserved: bool = False, bulk: bool = False
    ) -> Process:
        """Start through the dispatcher; bulk transfers (and targets without one) get a channel."""
        if not bulk:
            for attempt in (1, 2):
                link = await self._dispatcher()
                if link is None:
                    break
                try:
                    return await link.start(command, stdin=stdin)
                except RequestLost:
                    raise  # it may have run or ended the dispatcher: the next call starts a new one
                except ConnectionLost:
                    if attempt == 2:
                        raise
                    log.info("%s: the dispatcher's connection died; reconnecting once", self.describe())
                    await self._reset()
        return await self._start_on_channel(command, stdin=stdin, reserved=reserved)

    async def _start_on_channel(self, command: str, *, stdin: bool, reserved: bool) -> Process:
        """Run on a pre-warmed channel (or the reserved one); reconnect once if the connection died."""
        slots = self._reserved if reserved else self._channels
        for attempt in (1, 2):
            proc = None
            try:
                if reserved:
                    proc, pgid = await self._spare_waiter(await self.connection(), slots)
                else:
                    proc, pgid = await self._take_waiter()
                payload = base64.b64encode(command.encode()).decode()
                with translated():
                    proc.stdin.write(f"{1 if stdin else 0}\n{payload}\n".encode())
                    await proc.stdin.drain()
                    if not stdin:
                        proc.stdin.write_eof()
                break
            except ConnectionLost:
                if proc is not None:  # give its channel slot back
                    proc.close()
                    slots.release()
                if attempt == 2:
                    raise
                log.info("%s: pooled connection died; reconnecting once", self.describe())
                await self._reset()
        self._prewarm()
        assert proc is not None  # the loop breaks only once a process was taken
        return SshProcess(proc, pgid, slots)

    async def _reset(self) -> None:
        async with self._connect_lock:
            if self._link is not None:
                self._link.close()
                self._link = None
            self._drop_spares()
            if self._conn is not None:
                self._conn.abort()
                self._conn = None

    async def close(self) -> None:
        await self._reset()

    # -- trust --------------------------------------------------------------------------------
    async def fetch_host_key(self) -> asyncssh.SSHKey:
        """The key the host presents, without verifying it (for `mcp-bifrost trust`)."""
        opts = {k: v for k, v in self._options().items() if k in ("port", "config")}
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(self.host, **opts), self.connect_timeout_s
            )
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            raise ConnectFailed(f"{self.describe()}: cannot reach {self.host}: {exc}") from exc
        if key is None:
            raise ConnectFailed(f"{self.describe()}: {self.host} presented no host key")
        return key

    def known_hosts_path(self) -> Path:
        return Path(self.known_hosts or "~/.ssh/known_hosts").expanduser()

    def record_host_key(self, key: asyncssh.SSHKey) -> Path:
        path = self.known_hosts_path()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = f"{known_hosts_key(self.host, self.port)} {key.export_public_key().decode().strip()}\n"
        with path.open("a", encoding="utf-8") as f:
            f.write(line)
        return path
