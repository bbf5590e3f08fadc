"""HTTP transport safety, against a real `mcp-bifrost serve --http` process: a bearer token on every
bind, loopback included (401 and nothing runs without it; another login on the machine is refused),
Host/Origin checks on every bind (DNS rebinding), IPv6 loopback, and sessions capped and expired."""

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
from typing import Any

import pytest

from mcp_bifrost.config import Config
from mcp_bifrost.errors import ConfigError
from mcp_bifrost.http import BearerTokenMiddleware, bearer_token, build_http_app, parse_bind
from mcp_bifrost.server import build_server
from tests.support.sshd import free_port
from tests.support.unprivileged import call_as_user

TOKEN = "s3cret-token-for-tests"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
AUTH = {**HEADERS, "authorization": f"Bearer {TOKEN}"}


def test_without_a_configured_token_one_is_generated_and_printed_once_on_stderr(
    monkeypatch, tmp_path, capsys
):
    # issue 19.2: loopback needed no token, so another user of the machine ran commands as us
    monkeypatch.delenv("BIFROST_HTTP_TOKEN", raising=False)
    monkeypatch.delenv("BIFROST_HTTP_TOKEN_FILE", raising=False)
    app = build_http_app(build_server(Config(), tmp_path), "127.0.0.1", 8765)
    printed = capsys.readouterr().err
    assert isinstance(app, BearerTokenMiddleware) and app.expected.decode().split()[1] in printed
    assert printed.count("Bearer") == 1


def test_a_token_file_must_be_private_and_ours(monkeypatch, tmp_path):
    monkeypatch.delenv("BIFROST_HTTP_TOKEN", raising=False)
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    monkeypatch.setenv("BIFROST_HTTP_TOKEN_FILE", str(path))
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        bearer_token()
    path.chmod(0o600)
    assert bearer_token() == (TOKEN, False)
    link = tmp_path / "link"
    link.symlink_to(path)
    monkeypatch.setenv("BIFROST_HTTP_TOKEN_FILE", str(link))
    with pytest.raises(ConfigError, match="symlink"):
        bearer_token()
    monkeypatch.setenv("BIFROST_HTTP_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 16"):
        bearer_token()


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
    request = urllib.request.Request(
        _url(host, port), data=json.dumps(body).encode(), headers=headers, method="POST"
    )
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
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "exec", "arguments": {"command": command}},
    }
    for body in (INITIALIZED, call):
        statuses.append(_post(host, port, body, {**headers, **session})[0])
    return statuses


def _serve(
    tmp_path: Path, bind: str, *args: str, token: str | None = None, extra_config: str = "", **popen: Any
) -> subprocess.Popen:
    """`mcp-bifrost serve --http BIND` over a config with the one target `local`; the environment's
    BIFROST_HTTP_TOKEN* left out, and BIFROST_HTTP_TOKEN set to `token` when one is given."""
    config = tmp_path / "c.toml"
    config.write_text(
        f'audit_log = "{tmp_path / "audit.jsonl"}"\n{extra_config}'
        f'[targets.local]\nkind = "local"\nworkdir = "{tmp_path / "wd"}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIFROST_HTTP_TOKEN")}
    if token:
        env["BIFROST_HTTP_TOKEN"] = token
    serve = ["serve", "--http", bind, *args, "--config", str(config), "--workspace", str(tmp_path)]
    return subprocess.Popen([sys.executable, "-m", "mcp_bifrost", *serve], env=env, **popen)


@contextlib.contextmanager
def http_server(
    tmp_path: Path, bind: str, *, token: str | None = TOKEN, allow: list[str] = (), extra_config: str = ""
) -> Iterator[tuple[str, int]]:
    host, _ = parse_bind(bind + ":0")
    port = free_port()
    allow_args = [a for h in allow for a in ("--allow-host", h.format(port=port))]
    log = tmp_path / "serve.log"  # a file, not a pipe nobody reads: 1,000 refusals log more than a pipe holds
    proc = _serve(
        tmp_path, f"{bind}:{port}", *allow_args, token=token, extra_config=extra_config, stderr=log.open("wb")
    )
    try:
        deadline = time.monotonic() + 20
        while not _reachable(host, port):
            assert proc.poll() is None, log.read_text()[-2000:]
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
    with http_server(tmp_path, bind) as (host, port):
        statuses = exec_over_http(host, port, {**AUTH, "host": "evil.example"}, f"touch {marker}")
        assert statuses[0] == 421 and not marker.exists()
        assert exec_over_http(host, port, AUTH, f"touch {marker}") == [200, 202, 200]
    assert marker.exists()


def test_serve_binds_ipv6_loopback(tmp_path):
    # issue 13.5: `--http [::1]:PORT` did not start ("Name or service not known")
    marker = tmp_path / "ran"
    with http_server(tmp_path, "[::1]") as (host, port):
        assert host == "::1"
        assert exec_over_http(host, port, HEADERS, f"touch {marker}")[0] == 401
        assert exec_over_http(host, port, AUTH, f"touch {marker}") == [200, 202, 200]
        assert _post(host, port, INIT, {**AUTH, "host": "evil.example"})[0] == 421
    assert marker.exists()


@pytest.mark.parametrize("bind", ["127.0.0.1", "localhost", "[::1]"])
def test_another_login_on_the_machine_gets_401_on_a_loopback_bind_and_runs_nothing(tmp_path, bind):
    # issue 19.2: `serve --http 127.0.0.1:PORT` needed no token; another user ran `exec("id -un")` as us
    marker = tmp_path / "ran"
    with http_server(tmp_path, bind) as (host, port):
        for headers in (HEADERS, {**HEADERS, "authorization": "Bearer wrong"}):
            assert call_as_user(exec_over_http, host, port, headers, f"touch {marker}") == [401, 401, 401]
        assert not marker.exists()
        assert exec_over_http(host, port, AUTH, f"touch {marker}") == [200, 202, 200]
    assert marker.exists()


def test_serve_without_a_configured_token_prints_the_one_it_made_and_wants_it(tmp_path):
    port = free_port()
    proc = _serve(tmp_path, f"127.0.0.1:{port}", stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "Bearer" not in line:
            line = proc.stderr.readline()
            assert line, "serve ended without printing a token"
        token = line.rsplit(" ", 1)[1].strip()
        deadline = time.monotonic() + 20
        while not _reachable("127.0.0.1", port):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert _post("127.0.0.1", port, INIT, HEADERS)[0] == 401
        assert _post("127.0.0.1", port, INIT, {**HEADERS, "authorization": f"Bearer {token}"})[0] == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_thousand_initializes_leave_at_most_the_cap_open_and_idle_sessions_expire(tmp_path):
    # issue 20.7: 1,000 initialize requests left 1,000 live sessions; any client could grow the server
    settings = "[http]\nmax_sessions = 64\nsession_idle_s = 3\n"
    with http_server(tmp_path, "127.0.0.1", extra_config=settings) as (host, port):
        statuses = [_post(host, port, INIT, AUTH)[0] for _ in range(1000)]
        assert statuses.count(200) <= 64 and statuses.count(200) + statuses.count(503) == 1000, set(statuses)
        assert statuses[-1] == 503 or statuses.count(200) < 64  # the cap is reached, not dodged by slowness
        time.sleep(4.5)  # idle sessions expire: room for new ones
        assert _post(host, port, INIT, AUTH)[0] == 200
