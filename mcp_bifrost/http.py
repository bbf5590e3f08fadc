"""Streamable HTTP transport with the safety rules: loopback by default, a bearer token for any
other address (401 and nothing runs without it), and DNS-rebinding protection (Host and Origin
checks) on every bind, loopback included.

Token-free addresses are exactly 127.0.0.1, localhost and ::1. Another loopback address
(127.0.0.2) needs a token too: the safe reading, since nothing else about it is promised.
"""

from __future__ import annotations

import hmac
import os

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from mcp_bifrost.errors import ConfigError

TOKEN_ENV = "BIFROST_HTTP_TOKEN"


TOKEN_FREE_HOSTS = ("127.0.0.1", "localhost", "::1")


def needs_token(host: str) -> bool:
    """Every bind but 127.0.0.1, localhost and ::1 needs a bearer token."""
    return host not in TOKEN_FREE_HOSTS


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
    names = TOKEN_FREE_HOSTS if host in TOKEN_FREE_HOSTS else (host,)
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
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": b"missing or wrong bearer token\n"})
                return
        await self.app(scope, receive, send)


def build_http_app(server: MCPServer, host: str, port: int, allowed_hosts_extra: list[str] | None = None):
    token = os.environ.get(TOKEN_ENV)
    if needs_token(host) and not token:
        raise ConfigError(
            f"refusing to serve HTTP on {host}: any address but 127.0.0.1, localhost or ::1 needs a bearer "
            f"token. Set {TOKEN_ENV} to a long random string and send it as 'Authorization: Bearer ...'."
        )
    hosts = allowed_hosts(host, port, allowed_hosts_extra)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")],
    )
    app = server.streamable_http_app(host=host, transport_security=security)
    return BearerTokenMiddleware(app, token) if token else app


def serve_http(server: MCPServer, host: str, port: int, allowed_hosts: list[str] | None = None) -> None:
    import uvicorn

    app = build_http_app(server, host, port, allowed_hosts)
    uvicorn.run(app, host=host, port=port, log_level="warning")
