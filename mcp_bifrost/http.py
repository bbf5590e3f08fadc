"""Streamable HTTP transport with the safety rules: loopback by default, a bearer token for any
other address (401 and nothing runs without it), and the SDK's DNS-rebinding protection kept on."""

from __future__ import annotations

import hmac
import ipaddress
import os

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from mcp_bifrost.errors import ConfigError

TOKEN_ENV = "BIFROST_HTTP_TOKEN"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_bind(spec: str) -> tuple[str, int]:
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--http expects HOST:PORT (e.g. 127.0.0.1:8765), got {spec!r}")
    return host or "127.0.0.1", int(port)


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


def build_http_app(server: MCPServer, host: str, port: int, allowed_hosts: list[str] | None = None):
    token = os.environ.get(TOKEN_ENV)
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"refusing to serve HTTP on {host}: binding a non-loopback address needs a bearer token. "
            f"Set {TOKEN_ENV} to a long random string and send it as 'Authorization: Bearer ...'."
        )
    security = None
    if not is_loopback(host):
        hosts = [f"{host}:{port}", *(allowed_hosts or [])]
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=hosts,
            allowed_origins=[f"http://{h}" for h in hosts],
        )
    app = server.streamable_http_app(host=host, transport_security=security)
    return BearerTokenMiddleware(app, token) if token else app


def serve_http(server: MCPServer, host: str, port: int, allowed_hosts: list[str] | None = None) -> None:
    import uvicorn

    app = build_http_app(server, host, port, allowed_hosts)
    uvicorn.run(app, host=host, port=port, log_level="warning")
