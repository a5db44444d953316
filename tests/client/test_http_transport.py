"""The client's HTTP: the standard-library transport against a real server (kept-alive
connections the server closed, one connection per thread, streamed bodies, errors mapped), the
switch to httpx behind a proxy, and the task client over ``httpx.MockTransport``."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from arno.client import ApiSession, TaskClient
from arno.client._http import HttpxTransport, StdlibTransport, TransportError, open_transport
from arno.core.errors import NotFound, ServerUnavailable


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[int] = set()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).connections.add(id(self.connection))
        if self.path.startswith("/close"):
            body = b"bye"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        body = f"{self.path} {self.headers.get('authorization', '')}".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:  # noqa: N802
        size = int(self.headers["content-length"])
        data = self.rfile.read(size)
        body = str(len(data)).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def plain_server():
    _Handler.connections = set()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_one_kept_alive_connection_per_thread(plain_server):
    http = StdlibTransport(plain_server, auth=("key", "secret"))
    for i in range(5):
        resp = http.request("GET", "/a", params={"i": i, "flag": True, "tags": ["x", "y"]})
        assert resp.status_code == 200
    assert resp.content.startswith(b"/a?i=4&flag=true&tags=x&tags=y Basic ")
    assert len(_Handler.connections) == 1  # the five requests shared one connection
    threads = [threading.Thread(target=http.request, args=("GET", "/b")) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_Handler.connections) == 4
    http.close()


def test_a_connection_the_server_closed_is_reopened(plain_server):
    http = StdlibTransport(plain_server)
    assert http.request("GET", "/close").content == b"bye"
    assert http.request("GET", "/after").content.startswith(b"/after")
    # streamed bodies and file uploads use the same connections
    with http.stream("GET", "/streamed") as resp:
        assert b"".join(resp.iter_bytes(4)).startswith(b"/streamed")
    assert http.request("PUT", "/up", content=b"x" * 100_000).content == b"100000"


def test_an_idle_connection_dropped_by_the_server_is_not_an_error(plain_server):
    http = StdlibTransport(plain_server)
    http.request("GET", "/one")
    conn = http._local.conn
    conn.sock.shutdown(socket.SHUT_RDWR)  # as a server's keep-alive timeout would
    assert http.request("GET", "/two").content.startswith(b"/two")


def test_no_server_is_a_transport_error_and_a_clear_session_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match="cannot connect"):
        StdlibTransport(f"http://127.0.0.1:{port}").request("GET", "/")
    session = ApiSession(f"http://127.0.0.1:{port}", "k", "s", retries=1)
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match="cannot reach the Arno server"):
        session.get("tasks")
    assert time.monotonic() - started < 5


def test_a_proxy_in_the_environment_goes_through_httpx(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    assert isinstance(open_transport("https://arno.example", auth=None, timeout=5,
                                     connect_timeout=5, user_agent="t"), HttpxTransport)
    assert isinstance(open_transport("http://localhost:8008", auth=None, timeout=5,
                                     connect_timeout=5, user_agent="t"), StdlibTransport)
    with pytest.raises(ValueError, match="not an http"):
        StdlibTransport("ftp://arno.example")


def test_the_task_client_over_a_mock_transport():
    """The session protocol lets a test answer the task client's requests in-process."""
    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.raw_path.decode()))
        if request.url.path == "/api/v1/tasks/batch":
            items = json.loads(request.content)["tasks"]
            return httpx.Response(201, json={"tasks": [
                {"id": f"t{i}", **item} for i, item in enumerate(items)]})
        if request.url.path == "/api/v1/tasks/missing":
            return httpx.Response(404, json={"error": {"code": "not_found",
                                                       "message": "no task 'missing'"}})
        return httpx.Response(200, json={"id": "a/b", "status": "created"})

    client = httpx.Client(base_url="http://arno.test", transport=httpx.MockTransport(answer))
    tasks = TaskClient(ApiSession("http://arno.test", "key", "secret", client=client))
    assert tasks.get("a/b")["status"] == "created"
    assert seen[-1] == ("GET", "/api/v1/tasks/a%2Fb")  # an id is one path segment
    made = tasks.create_many([{"name": f"n{i}"} for i in range(2500)])
    assert [m["name"] for m in made[:2]] == ["n0", "n1"] and len(made) == 2500
    assert sum(1 for s in seen if s[1] == "/api/v1/tasks/batch") == 3  # 1000 per request
    with pytest.raises(NotFound, match="no task 'missing'"):
        tasks.get("missing")
