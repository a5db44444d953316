"""What a local user of the machine or a caller on the network can reach without credentials:
the install's files are private to Arno's user (a new install, and an old one tightened on
start with a warning), and forwarded headers cannot carry a caller into the allowed
networks unless the operator names the proxy that sends them."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port

from arno.core.config_file import write_config
from arno.core.settings import Settings
from arno.services.container import Services


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_install_is_private_to_its_user(tmp_path):
    home = tmp_path / "arno-home"
    old_umask = os.umask(0o022)  # the usual umask: files would be world-readable
    try:
        services = Services(Settings(home=home))
        services.auth.create_user("someone", password="a-long-password")  # WAL gets written
        services.sessions.secret  # noqa: B018 - the session-signing key is made and stored
        write_config(home, {"host": "http://127.0.0.1:1", "access_key": "K", "secret_key": "S"})
    finally:
        os.umask(old_umask)
    assert _mode(home) == 0o700
    for name in ("arno.db", "arno.db-wal", "config.toml"):
        path = home / name
        if path.exists():
            assert _mode(path) & 0o077 == 0, (name, oct(_mode(path)))
    assert (home / "arno.db").exists() and (home / "arno.db-wal").exists()
    assert services.opened_paths == []


def test_an_open_install_is_tightened_on_start_with_a_warning(tmp_path, caplog):
    home = tmp_path / "old-home"
    Services(Settings(home=home)).auth.create_user("someone", password="a-long-password")
    os.chmod(home, 0o755)
    os.chmod(home / "arno.db", 0o644)
    store = tmp_path / "store-outside-home"
    store.mkdir(mode=0o755)
    os.chmod(store, 0o755)
    with caplog.at_level(logging.WARNING, logger="arno.services"):
        services = Services(Settings(home=home, storage_url=str(store)))
    assert _mode(home) == 0o700
    assert _mode(home / "arno.db") == 0o600
    assert _mode(store) == 0o700
    assert set(services.opened_paths) >= {str(home), str(home / "arno.db"), str(store)}
    assert "now private" in caplog.text and str(home / "arno.db") in caplog.text
    # the data is intact
    assert [u.username for u in services.auth.list_users()] == ["someone"]


def test_arno_up_says_what_it_tightened(tmp_path):
    home = tmp_path / "home"
    Services(Settings(home=home))
    os.chmod(home, 0o755)
    proc, port = _server(home, {}, arno_up=True)
    try:
        _wait_listening(port, proc)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert "made private to your user" in out and str(home) in out
    assert _mode(home) == 0o700


# ---- forwarded headers ---------------------------------------------------------------------
def _server(home: Path, extra: dict[str, str], *, arno_up: bool = False
            ) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    env.update(ARNO_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    cmd = "up" if arno_up else "server"
    args = [sys.executable, "-m", "arno.cli.main", cmd, "--port", str(port)]
    if arno_up:
        args.append("--no-agent")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, port


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read().decode()}")  # type: ignore
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


@pytest.fixture
def server_with(tmp_path) -> Iterator:
    procs: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> str:
        proc, port = _server(tmp_path / f"home-{len(procs)}", extra)
        procs.append(proc)
        _wait_listening(port, proc)
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_forwarded_header_does_not_pass_the_allowlist(server_with):
    url = server_with(ARNO_ALLOWED_NETWORKS="10.0.0.0/8")
    assert httpx.get(f"{url}/health").status_code == 403
    for header in ({"X-Forwarded-For": "10.1.2.3"}, {"X-Real-IP": "10.1.2.3"},
                   {"Forwarded": "for=10.1.2.3"}):
        resp = httpx.get(f"{url}/health", headers=header)
        assert resp.status_code == 403, header
        assert resp.json()["error"]["code"] == "forbidden"


def test_a_named_proxy_is_believed(server_with):
    url = server_with(ARNO_ALLOWED_NETWORKS="10.0.0.0/8", ARNO_TRUSTED_PROXIES="127.0.0.1/32")
    # the proxy itself (127.0.0.1) is not in the allowed networks, the caller it names is
    assert httpx.get(f"{url}/health").status_code == 403
    assert httpx.get(f"{url}/health",
                     headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 200
    assert httpx.get(f"{url}/health",
                     headers={"X-Forwarded-For": "192.168.1.1"}).status_code == 403


def _login(url: str, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=url, headers=headers) as browser:
        page = browser.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        # the login form's cookie is Secure too behind TLS; send it back as the browser would
        cookie = page.headers["set-cookie"].split(";", 1)[0]
        return browser.post("/login", data={"username": "alice", "password": "alice-password",
                                            "csrf_token": token},
                            headers={"cookie": cookie})


def test_behind_a_named_tls_proxy_the_session_cookie_is_secure(tmp_path):
    home = tmp_path / "tls-home"
    Services(Settings(home=home)).auth.create_user("alice", password="alice-password")
    proc, port = _server(home, {"ARNO_TRUSTED_PROXIES": "127.0.0.1/32"})
    try:
        _wait_listening(port, proc)
        url = f"http://127.0.0.1:{port}"
        over_tls = _login(url, {"X-Forwarded-Proto": "https"})
        assert over_tls.status_code == 303, over_tls.text
        session = [c for c in over_tls.headers.get_list("set-cookie")
                   if c.startswith("arno_session=")][0]
        assert "Secure" in session and "HttpOnly" in session
        plain = _login(url, {})
        session = [c for c in plain.headers.get_list("set-cookie")
                   if c.startswith("arno_session=")][0]
        assert "Secure" not in session
    finally:
        proc.terminate()
        proc.wait(timeout=30)
