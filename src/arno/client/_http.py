"""HTTP for the client: what a training script's ``import arno`` and ``Task.init`` can afford.

The usual HTTP libraries take 0.2 to 0.6 s to import on a small machine, longer than
``Task.init`` may take as a whole. The client therefore speaks HTTP/1.1 through the standard
library's :mod:`http.client` (about 40 ms to import): one keep-alive connection per thread,
reopened when the server closed it while idle. ``httpx`` remains for what the standard library
does not do: an outgoing proxy (``HTTPS_PROXY``...), or an ``httpx.Client`` handed in (an app
served in-process by a test). Both sides offer the same small interface, :class:`Transport`.
"""

from __future__ import annotations

import base64
import http.client
import json
import select
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

BLOCK_SIZE = 1 << 20


class TransportError(Exception):
    """The request did not get an answer: no connection, a dropped connection, a timeout."""


class Response(Protocol):
    status_code: int

    @property
    def headers(self) -> Any: ...

    @property
    def content(self) -> bytes: ...

    def json(self) -> Any: ...


class StreamedResponse(Response, Protocol):
    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]: ...

    def read(self) -> bytes: ...


class Transport(Protocol):
    """What :class:`~arno.client.ApiSession` needs from an HTTP client."""

    def request(self, method: str, url: str, *, content: bytes | Iterable[bytes] | Any = None,
                params: Any = None, headers: dict[str, str] | None = None) -> Response: ...

    def stream(self, method: str, url: str, *, headers: dict[str, str] | None = None
               ) -> AbstractContextManager[StreamedResponse]: ...

    def close(self) -> None: ...


def open_transport(base_url: str, *, auth: tuple[str, str] | None, timeout: float,
                   connect_timeout: float, user_agent: str) -> Transport:
    """The standard library's client, or httpx when a proxy applies to ``base_url``."""
    host = urlsplit(base_url).hostname or ""
    proxies = getproxies()
    if proxies and not proxy_bypass(host):
        import httpx

        client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout,
                                                                        connect=connect_timeout),
                              headers={"user-agent": user_agent}, auth=auth)
        return HttpxTransport(client)
    return StdlibTransport(base_url, auth=auth, timeout=timeout,
                           connect_timeout=connect_timeout, user_agent=user_agent)


# ---- the standard library's client ----------------------------------------------------------
class _Answer:
    """A whole answer, read off the connection."""

    def __init__(self, status: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)


class _Streamed(_Answer):
    def __init__(self, raw: http.client.HTTPResponse) -> None:
        super().__init__(raw.status, {k.lower(): v for k, v in raw.getheaders()}, b"")
        self._raw = raw
        self._done = False

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        try:
            while chunk := self._raw.read(chunk_size or BLOCK_SIZE):
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc
        self._done = True

    def read(self) -> bytes:
        if not self._done:
            self.content = b"".join(self.iter_bytes())
        return self.content


class StdlibTransport:
    """HTTP/1.1 over :mod:`http.client`, one keep-alive connection per thread."""

    def __init__(self, base_url: str, *, auth: tuple[str, str] | None = None,
                 timeout: float = 60.0, connect_timeout: float = 10.0,
                 user_agent: str = "arno-client") -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._headers = {"user-agent": user_agent, "accept-encoding": "identity"}
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self._headers["authorization"] = f"Basic {token}"
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    # ---- connections ----------------------------------------------------------------------
    def _new_connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._https:
            import ssl

            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout,
                context=ssl.create_default_context(), blocksize=BLOCK_SIZE)
        else:
            conn = http.client.HTTPConnection(self._host, self._port,
                                              timeout=self._connect_timeout,
                                              blocksize=BLOCK_SIZE)
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(self._timeout)
        with self._lock:
            self._all.append(conn)
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, and whether it served a request before."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and (conn.sock is None or _closed_by_peer(conn.sock)):
            self._drop(conn)
            conn = None
        if conn is None:
            conn = self._new_connection()
            self._local.conn = conn
            return conn, False
        return conn, True

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()

    # ---- requests -------------------------------------------------------------------------
    def _url(self, url: str, params: Any) -> str:
        path = url if url.startswith("/") else f"/{url}"
        if params:
            items = params.items() if isinstance(params, dict) else params
            pairs = [(k, _query_value(v)) for k, v in items if v is not None]
            flat: list[tuple[str, str]] = []
            for k, v in pairs:
                if isinstance(v, list):
                    flat.extend((k, _query_value(x)) for x in v)
                else:
                    flat.append((k, v))
            if flat:
                path += ("&" if "?" in path else "?") + urlencode(flat)
        return self._prefix + path

    def _send(self, method: str, url: str, content: Any, headers: dict[str, str] | None,
              params: Any = None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        target = self._url(url, params)
        hdrs = {**self._headers, **(headers or {})}
        if isinstance(content, bytes | bytearray):
            hdrs["content-length"] = str(len(content))
        elif content is None and method in ("POST", "PUT", "PATCH"):
            hdrs["content-length"] = "0"
        replayable = content is None or isinstance(content, bytes | bytearray)
        for attempt in (0, 1):
            try:
                conn, reused = self._connection()
            except (OSError, http.client.HTTPException) as exc:
                raise TransportError(f"cannot connect: {exc}") from exc
            try:
                conn.request(method, target, body=content, headers=hdrs)
                return conn, conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                self._drop(conn)
                # A kept-alive connection the server closed just as we sent: send once more on
                # a new one (nothing was processed: no answer came back).
                dropped = isinstance(exc, http.client.RemoteDisconnected | ConnectionResetError
                                     | BrokenPipeError)
                if attempt == 0 and reused and dropped and replayable:
                    continue
                raise TransportError(str(exc) or type(exc).__name__) from exc
        raise AssertionError("unreachable")

    def request(self, method: str, url: str, *, content: Any = None, params: Any = None,
                headers: dict[str, str] | None = None) -> _Answer:
        conn, raw = self._send(method, url, content, headers, params)
        try:
            body = raw.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop(conn)
            raise TransportError(str(exc) or type(exc).__name__) from exc
        if raw.will_close:
            self._drop(conn)
        return _Answer(raw.status, {k.lower(): v for k, v in raw.getheaders()}, body)

    @contextmanager
    def stream(self, method: str, url: str, *, headers: dict[str, str] | None = None
               ) -> Iterator[_Streamed]:
        conn, raw = self._send(method, url, None, headers)
        answer = _Streamed(raw)
        try:
            yield answer
        finally:
            if answer._done and not raw.will_close:
                raw.close()
            else:  # an unread rest cannot be skipped cheaply: start afresh next time
                self._drop(conn)


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_query_value(v) for v in value]
    return str(value)


def _closed_by_peer(sock: Any) -> bool:
    """An idle kept-alive socket is readable only when the server closed it (or sent junk)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


# ---- httpx ------------------------------------------------------------------------------------
class HttpxTransport:
    """An ``httpx.Client`` behind the same interface (its errors become TransportError)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def request(self, method: str, url: str, *, content: Any = None, params: Any = None,
                headers: dict[str, str] | None = None) -> Any:
        import httpx

        try:
            return self.client.request(method, url, content=content, params=params,
                                       headers=headers)
        except httpx.TransportError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc

    @contextmanager
    def stream(self, method: str, url: str, *, headers: dict[str, str] | None = None
               ) -> Iterator[Any]:
        import httpx

        try:
            with self.client.stream(method, url, headers=headers) as resp:
                yield _HttpxStreamed(resp)
        except httpx.TransportError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        self.client.close()


class _HttpxStreamed:
    def __init__(self, resp: Any) -> None:
        self._resp = resp
        self.status_code = resp.status_code
        self.headers = resp.headers

    @property
    def content(self) -> bytes:
        return bytes(self._resp.content)

    def json(self) -> Any:
        return self._resp.json()

    def read(self) -> bytes:
        return bytes(self._resp.read())

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        import httpx

        try:
            yield from self._resp.iter_bytes(chunk_size)
        except httpx.TransportError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc
