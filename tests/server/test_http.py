"""HTTP transport safety, against a real `mcp-bifrost serve --http` process: loopback by default; any
other address needs a bearer token; a request without it gets 401 and runs nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
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
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def test_non_loopback_bind_without_token_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv("BIFROST_HTTP_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="BIFROST_HTTP_TOKEN"):
        build_http_app(build_server(Config(), tmp_path), "0.0.0.0", 8765)


def test_serve_refuses_to_start_on_a_public_address_without_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "BIFROST_HTTP_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "mcp_bifrost", "serve", "--http", f"0.0.0.0:{free_port()}"],
                          capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 2 and "BIFROST_HTTP_TOKEN" in done.stderr


def test_bad_bind_spec_is_explained():
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_bind("8765x")


def _post(port: int, body: dict, headers: dict) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/mcp", data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def http_server(tmp_path: Path):
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text(f'audit_log = "{tmp_path / "audit.jsonl"}"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_bifrost", "serve", "--http", f"0.0.0.0:{port}", "--allow-host",
         f"127.0.0.1:{port}", "--config", str(config), "--workspace", str(tmp_path)],
        env={**os.environ, "BIFROST_HTTP_TOKEN": TOKEN}, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while _post(port, {}, {})[0] != 401 if _reachable(port) else True:
        assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
        time.sleep(0.1)
    yield port, tmp_path
    proc.terminate()
    proc.wait(10)


def _reachable(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_request_without_or_with_a_wrong_token_gets_401_and_runs_nothing(http_server):
    port, tmp_path = http_server
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "exec", "arguments": {"command": f"touch {tmp_path}/ran"}}}
    for headers in (HEADERS, {**HEADERS, "authorization": "Bearer wrong"}):
        status, _ = _post(port, call, headers)
        assert status == 401
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "audit.jsonl").exists()


def test_request_with_the_token_reaches_the_mcp_server(http_server):
    port, _ = http_server
    status, body = _post(port, INIT, {**HEADERS, "authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "mcp-bifrost" in body


def test_dns_rebinding_protection_stays_on_with_the_token(http_server):
    port, _ = http_server
    status, _ = _post(port, INIT, {**HEADERS, "authorization": f"Bearer {TOKEN}", "host": "evil.example:80"})
    assert status in (403, 421)
