"""HTTP transport safety, against a real `mcp-bifrost serve --http` process: a bearer token on every
address but 127.0.0.1/localhost/::1 (401 and nothing runs without it), Host/Origin checks on every
bind (DNS rebinding), and IPv6 loopback."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_bifrost.config import Config
from mcp_bifrost.errors import ConfigError
from mcp_bifrost.http import build_http_app, parse_bind
from mcp_bifrost.server import build_server
from tests.support.sshd import free_port

TOKEN = "s3cret-token-for-tests"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
AUTH = {**HEADERS, "authorization": f"Bearer {TOKEN}"}


def test_non_loopback_bind_without_token_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv("BIFROST_HTTP_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="BIFROST_HTTP_TOKEN"):
        build_http_app(build_server(Config(), tmp_path), "0.0.0.0", 8765)


@pytest.mark.parametrize("host", ["127.0.0.2", "127.1.2.3", "0.0.0.0", "::", "::ffff:127.0.0.1"])
def test_a_loopback_address_other_than_the_three_usual_names_needs_a_token(monkeypatch, tmp_path, host):
    # issue 13.5: 127.0.0.2 counted as loopback, needed no token and had no Host check
    monkeypatch.delenv("BIFROST_HTTP_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="BIFROST_HTTP_TOKEN"):
        build_http_app(build_server(Config(), tmp_path), host, 8765)


def test_serve_refuses_to_start_on_a_public_address_without_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "BIFROST_HTTP_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "mcp_bifrost", "serve", "--http", f"0.0.0.0:{free_port()}"],
                          capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 2 and "BIFROST_HTTP_TOKEN" in done.stderr


def test_bind_specs_are_parsed_with_ipv6_in_brackets():
    assert parse_bind("[::1]:8765") == ("::1", 8765)
    assert parse_bind("127.0.0.1:80") == ("127.0.0.1", 80) and parse_bind(":80") == ("127.0.0.1", 80)
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_bind("8765x")
    with pytest.raises(ConfigError, match="brackets"):
        parse_bind("::1:8765")


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/mcp" if ":" in host else f"http://{host}:{port}/mcp"


def _post(host: str, port: int, body: dict, headers: dict) -> tuple[int, str, dict]:
    request = urllib.request.Request(_url(host, port), data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def exec_over_http(host: str, port: int, headers: dict, command: str) -> list[int]:
    """A whole MCP session as a client runs it: initialize, initialized, tools/call exec. The statuses."""
    status, _, got = _post(host, port, INIT, headers)
    statuses = [status]
    session = {"mcp-session-id": got["mcp-session-id"]} if "mcp-session-id" in got else {}
    session["mcp-protocol-version"] = "2025-06-18"
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "exec", "arguments": {"command": command}}}
    for body in (INITIALIZED, call):
        statuses.append(_post(host, port, body, {**headers, **session})[0])
    return statuses


@contextlib.contextmanager
def http_server(tmp_path: Path, bind: str, *, token: str | None, allow: list[str] = ()) -> Iterator[tuple[str, int]]:
    host, _ = parse_bind(bind + ":0")
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text(f'audit_log = "{tmp_path / "audit.jsonl"}"\n'
                      f'[targets.local]\nkind = "local"\nworkdir = "{tmp_path / "wd"}"\n')
    env = {k: v for k, v in os.environ.items() if k != "BIFROST_HTTP_TOKEN"}
    if token:
        env["BIFROST_HTTP_TOKEN"] = token
    allow_args = [a for h in allow for a in ("--allow-host", h.format(port=port))]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_bifrost", "serve", "--http", f"{bind}:{port}", *allow_args,
         "--config", str(config), "--workspace", str(tmp_path)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not _reachable(host, port):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield host, port
    finally:
        proc.terminate()
        proc.wait(10)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def test_without_or_with_a_wrong_token_a_whole_session_gets_401_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    with http_server(tmp_path, "0.0.0.0", token=TOKEN, allow=["127.0.0.1:{port}"]) as (_, port):
        for headers in (HEADERS, {**HEADERS, "authorization": "Bearer wrong"}):
            assert exec_over_http("127.0.0.1", port, headers, f"touch {marker}") == [401, 401, 401]
        assert not marker.exists()
        # the same session with the token does run it: the check above could have failed
        assert exec_over_http("127.0.0.1", port, AUTH, f"touch {marker}") == [200, 202, 200]
    assert marker.exists()


def test_dns_rebinding_protection_stays_on_with_the_token(tmp_path):
    with http_server(tmp_path, "0.0.0.0", token=TOKEN, allow=["127.0.0.1:{port}"]) as (_, port):
        status, _, _ = _post("127.0.0.1", port, INIT, {**AUTH, "host": "evil.example:80"})
        assert status == 421
        status, _, _ = _post("127.0.0.1", port, INIT, {**AUTH, "origin": "http://evil.example"})
        assert status == 403


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.0.2"])
def test_a_foreign_host_header_runs_nothing_on_a_loopback_bind(tmp_path, bind):
    # issue 13.5: on 127.0.0.2 a request with `Host: evil.example` ran exec (DNS rebinding)
    marker = tmp_path / "ran"
    token = None if bind == "127.0.0.1" else TOKEN
    headers = HEADERS if token is None else AUTH
    with http_server(tmp_path, bind, token=token) as (host, port):
        statuses = exec_over_http(host, port, {**headers, "host": "evil.example"}, f"touch {marker}")
        assert statuses[0] == 421 and not marker.exists()
        assert exec_over_http(host, port, headers, f"touch {marker}") == [200, 202, 200]
    assert marker.exists()


def test_serve_binds_ipv6_loopback_without_a_token(tmp_path):
    # issue 13.5: `--http [::1]:PORT` did not start ("Name or service not known")
    marker = tmp_path / "ran"
    with http_server(tmp_path, "[::1]", token=None) as (host, port):
        assert host == "::1"
        assert exec_over_http(host, port, HEADERS, f"touch {marker}") == [200, 202, 200]
        assert _post(host, port, INIT, {**HEADERS, "host": "evil.example"})[0] == 421
    assert marker.exists()
