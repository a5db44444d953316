"""The optional network allowlist (``ARNO_ALLOWED_NETWORKS``): read from the environment, and
applied by a live server to every request, /health included."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import ValidationError
from tests.conftest import LiveServer, start_server

from arno.core.settings import Settings
from arno.services.task_query import TaskQuery


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("10.0.0.0/8", ["10.0.0.0/8"]),
        ("10.0.0.0/8, 192.168.1.0/24,,fd00::/8 ", ["10.0.0.0/8", "192.168.1.0/24", "fd00::/8"]),
        ('["127.0.0.1/32", "::1/128"]', ["127.0.0.1/32", "::1/128"]),
        ("", []),
    ],
)
def test_allowed_networks_from_environment(monkeypatch, tmp_path, raw, parsed):
    monkeypatch.setenv("ARNO_HOME", str(tmp_path))
    monkeypatch.setenv("ARNO_ALLOWED_NETWORKS", raw)
    assert Settings().allowed_networks == parsed


@pytest.mark.parametrize("raw", ["10.0.0.0/33", "not-a-network", "10.0.0.0/8, 300.1.1.1"])
def test_invalid_network_is_refused_at_start(monkeypatch, tmp_path, raw):
    monkeypatch.setenv("ARNO_HOME", str(tmp_path))
    monkeypatch.setenv("ARNO_ALLOWED_NETWORKS", raw)
    with pytest.raises(ValidationError):
        Settings()


@pytest.fixture(scope="module")
def closed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("allowlist-closed")
    yield from start_server(home, None, "sqlite", allowed_networks=["10.0.0.0/8"])


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("allowlist-open")
    yield from start_server(home, None, "sqlite", allowed_networks=["10.0.0.0/8", "127.0.0.0/8"])


@pytest.mark.parametrize("path", ["/health", "/", "/api/v1/me", "/api/v1/tasks",
                                  "/api/v1/openapi.json", "/nowhere"])
def test_address_outside_the_list_is_refused_everywhere(closed_server, path):
    """127.0.0.1 is not in 10.0.0.0/8: even valid credentials and the health check get 403."""
    for auth in (None, (closed_server.admin_key, closed_server.admin_secret)):
        resp = httpx.get(f"{closed_server.url}{path}", auth=auth)
        assert resp.status_code == 403
        assert resp.json() == {"error": {"code": "forbidden",
                                         "message": "your address is not allowed here"}}


def test_writes_are_refused_too(closed_server):
    resp = httpx.post(f"{closed_server.url}/api/v1/tasks", json={"project": "p", "name": "t"},
                      auth=(closed_server.admin_key, closed_server.admin_secret))
    assert resp.status_code == 403
    assert closed_server.services.query.list(TaskQuery()).total == 0


def test_address_inside_the_list_is_served(open_server):
    assert httpx.get(f"{open_server.url}/health").status_code == 200
    with open_server.client() as c:
        assert c.get("/api/v1/me").json()["username"] == "admin"
        resp = c.post("/api/v1/tasks", json={"project": "allowed", "name": "t"})
        assert resp.status_code == 201
    # the allowlist adds to authentication, never replaces it
    assert httpx.get(f"{open_server.url}/api/v1/me").status_code == 401
