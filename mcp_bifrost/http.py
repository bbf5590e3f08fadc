"""Streamable HTTP transport with the safety rules: a bearer token on every bind, loopback included
(loopback is shared by every user of the machine: without one, another login runs commands as us),
401 and nothing runs without it; DNS-rebinding protection (Host and Origin checks) on every bind;
sessions capped in number and closed when idle, so no client grows the server without bound.

The token comes from $BIFROST_HTTP_TOKEN, else from the file named by $BIFROST_HTTP_TOKEN_FILE (ours,
mode 0600), else it is generated and printed once on stderr.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from mcp_bifrost.config import HttpSettings
from mcp_bifrost.errors import ConfigError

TOKEN_ENV = "BIFROST_HTTP_TOKEN"
TOKEN_FILE_ENV = "BIFROST_HTTP_TOKEN_FILE"
MIN_TOKEN_CHARS = 16
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def bearer_token() -> tuple[str, bool]:
    """The token to require, and whether it was generated here (then the caller prints it once)."""
    token = os.environ.get(TOKEN_ENV)
    if token is None and os.environ.get(TOKEN_FILE_ENV):
        token = _read_token_file(os.environ[TOKEN_FILE_ENV])
    if token is None:
        return secrets.token_urlsafe(32), True
    token = token.strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"the HTTP bearer token is {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
            "random ones (e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return token, False


def _read_token_file(path: str) -> str:
    """The token file must be ours and private (0600): another user who reads it runs commands as us."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the token file {path} ({exc.strerror}); {TOKEN_FILE_ENV} must name "
            "a regular file, not a symlink"
        ) from None
    with os.fdopen(fd, encoding="utf-8") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise ConfigError(
                f"the token file {path} must be a regular file of yours that only you can read: "
                f"run `chmod 600 {path}` (it is {stat.filemode(st.st_mode)})"
            )
        return f.read(4096)


def parse_bind(spec: str) -> tuple[str, int]:
    """HOST:PORT, with an IPv6 address in brackets ([::1]:8765); the host comes back without them."""
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--http expects HOST:PORT (e.g. 127.0.0.1:8765 or [::1]:8765), got {spec!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"--http {spec!r}: write an IPv6 address in brackets, e.g. [::1]:{port}")
    return host or "127.0.0.1", int(port)


def host_header(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowed_hosts(host: str, port: int, extra: list[str] | None = None) -> list[str]:
    """Host header values to accept: the bound address (all three loopback names for a loopback
    bind, since clients say 'localhost' as often as '127.0.0.1'), plus those given with --allow-host."""
    names = LOOPBACK_NAMES if host in LOOPBACK_NAMES else (host,)
    return [*(host_header(n, port) for n in names), *(extra or [])]


class BearerTokenMiddleware:
    """Pure ASGI: reject any HTTP request whose Authorization header is not `Bearer <token>`."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": b"missing or wrong bearer token\n"})
                return
        await self.app(scope, receive, send)


def build_http_app(
    server: MCPServer,
    host: str,
    port: int,
    allowed_hosts_extra: list[str] | None = None,
    settings: HttpSettings | None = None,
    token: str | None = None,
):
    """The ASGI app: token check outermost, then Host/Origin checks, then the SDK's session manager."""
    settings = settings or HttpSettings()
    if token is None:
        token, generated = bearer_token()
        if generated:
            announce_token(token, host, port)
    hosts = allowed_hosts(host, port, allowed_hosts_extra)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")],
    )
    app = server.streamable_http_app(
        host=host,
        transport_security=security,
        max_sessions=settings.max_sessions,
        session_idle_timeout=settings.session_idle_s,
    )
    return BearerTokenMiddleware(app, token)


def announce_token(token: str, host: str, port: int) -> None:
    """Printed once, on stderr: the only place a generated token is ever shown."""
    print(
        f"mcp-bifrost: HTTP bearer token (send it as 'Authorization: Bearer <token>' to "
        f"http://{host_header(host, port)}/mcp; set {TOKEN_ENV} or {TOKEN_FILE_ENV} to choose one): {token}",
        file=sys.stderr,
        flush=True,
    )


def serve_http(app: BearerTokenMiddleware, host: str, port: int) -> None:
    """Serve build_http_app's app on host:port until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
