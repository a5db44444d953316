"""One HTTP session to the server: credentials, retries, and the error body mapped back onto
the ``ArnoError`` tree (the only place foreign exceptions are translated)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from blake3 import blake3

from arno.client._http import (
    HttpxTransport,
    Response,
    StdlibTransport,
    Transport,
    TransportError,
    open_transport,
)
from arno.core.errors import (
    ArnoError,
    IntegrityError,
    ServerUnavailable,
    Unauthorized,
    error_from_body,
)

_RETRY_STATUS = {502, 503, 504}
_IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE"}
READ_SIZE = 4 << 20


def hash_file(path: Path) -> tuple[str, int]:
    h = blake3()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(READ_SIZE):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class ApiSession:
    """Talks to ``{host}/api/v1``. Pass ``client`` (any ``httpx.Client``, e.g. FastAPI's
    ``TestClient``) to run against an app in-process; otherwise the standard library's HTTP
    client carries the requests (see :mod:`arno.client._http`)."""

    offline = False

    def __init__(
        self,
        host: str,
        access_key: str | None,
        secret_key: str | None,
        *,
        client: Any = None,
        timeout: float = 60.0,
        retries: int = 3,
    ) -> None:
        self.host = host.rstrip("/")
        self.retries = retries
        auth = (access_key, secret_key) if access_key and secret_key else None
        self.http: Transport
        if client is None:
            self.http = open_transport(self.host, auth=auth, timeout=timeout,
                                       connect_timeout=10.0, user_agent="arno-client")
        else:
            if auth is not None:
                client.auth = auth
            self.http = HttpxTransport(client)
        self.has_credentials = auth is not None

    def close(self) -> None:
        self.http.close()

    # ---- requests ---------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        params: Any = None,
        retry: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send a request and return the response; an error answer raises its ``ArnoError``.
        Connection failures and 502/503/504 are retried (always for idempotent methods)."""
        url = path if path.startswith("/") else f"/api/v1/{path}"
        attempts = 1 + (self.retries if (retry if retry is not None else method in _IDEMPOTENT)
                        else 0)
        hdrs = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            hdrs.setdefault("content-type", "application/json")
        last: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(0.25 * 2**attempt, 4.0))
            try:
                resp = self.http.request(method, url, content=content, params=params, headers=hdrs)
            except TransportError as exc:
                last = exc
                continue
            if resp.status_code in _RETRY_STATUS and attempt + 1 < attempts:
                last = ServerUnavailable(f"server answered {resp.status_code}")
                continue
            if resp.status_code >= 400:
                raise self._error(resp)
            return resp
        raise ServerUnavailable(f"cannot reach the Arno server at {self.host}: {last}") from last

    @staticmethod
    def _error(resp: Response) -> ArnoError:
        try:
            body = resp.json()
        except ValueError:
            body = None
        err = error_from_body(resp.status_code, body)
        if isinstance(err, Unauthorized) and body is None:
            err = Unauthorized("the server refused the credentials (check ARNO_API_KEY)")
        return err

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def post(self, path: str, body: Any = None, *, retry: bool | None = None) -> Any:
        resp = self.request("POST", path, json_body=body if body is not None else {}, retry=retry)
        return resp.json() if resp.content else None

    def put(self, path: str, body: Any) -> Any:
        resp = self.request("PUT", path, json_body=body)
        return resp.json() if resp.content else None

    def patch(self, path: str, body: Any) -> Any:
        resp = self.request("PATCH", path, json_body=body, retry=True)
        return resp.json() if resp.content else None

    def delete(self, path: str, **params: Any) -> None:
        self.request("DELETE", path, params={k: v for k, v in params.items() if v is not None})

    def put_bytes(self, path: str, data: bytes) -> Any:
        """PUT raw bytes (retried: the target is named by its content, so a repeat is harmless)."""
        resp = self.request("PUT", path, content=data, retry=True,
                            headers={"content-type": "application/octet-stream"})
        return resp.json() if resp.content else None

    def get_bytes(self, path: str, start: int | None = None, end: int | None = None
                  ) -> tuple[int, bytes]:
        """GET raw bytes, ``start``..``end`` inclusive when given (an HTTP Range). Returns the
        offset the body starts at (0 when the server sent the whole object) and the body."""
        headers = {"range": f"bytes={start}-{end}"} if start is not None else None
        resp = self.request("GET", path, headers=headers)
        return (start or 0) if resp.status_code == 206 else 0, resp.content

    # ---- blobs ------------------------------------------------------------------------------
    def blob_exists(self, hash_: str) -> bool:
        try:
            self.request("HEAD", f"blobs/{hash_}")
            return True
        except ArnoError as exc:
            if exc.status == 404:
                return False
            raise

    def upload_file(self, path: Path) -> tuple[str, int]:
        """Upload a file by content hash (skipped when the server has it); streamed, retried."""
        hash_, size = hash_file(path)
        if self.blob_exists(hash_):
            return hash_, size
        last: Exception | None = None
        for attempt in range(1 + self.retries):
            if attempt:
                time.sleep(min(0.5 * 2**attempt, 8.0))
            try:
                with path.open("rb") as fh:
                    resp = self.http.request(
                        "PUT", f"/api/v1/blobs/{hash_}",
                        content=fh if isinstance(self.http, StdlibTransport) else _iter_file(fh),
                        headers={"content-type": "application/octet-stream",
                                 "content-length": str(size)},
                    )
            except TransportError as exc:
                last = exc
                continue
            if resp.status_code in _RETRY_STATUS:
                last = ServerUnavailable(f"server answered {resp.status_code}")
                continue
            if resp.status_code >= 400:
                raise self._error(resp)
            return hash_, size
        raise ServerUnavailable(f"upload of {path} failed: {last}") from last

    def upload_bytes(self, data: bytes) -> tuple[str, int]:
        with tempfile.NamedTemporaryFile(delete=False) as fh:
            fh.write(data)
        try:
            return self.upload_file(Path(fh.name))
        finally:
            os.unlink(fh.name)

    def download_blob(
        self, hash_: str, dest: Path, *, progress: Callable[[int], None] | None = None
    ) -> Path:
        """Download to ``dest`` atomically, verifying the content against its hash.
        ``progress`` is called with the size of each chunk written."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".{dest.name}.part")
        h = blake3()
        try:
            with self.http.stream("GET", f"/api/v1/blobs/{hash_}") as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._error(resp)
                with part.open("wb") as out:
                    for chunk in resp.iter_bytes(READ_SIZE):
                        h.update(chunk)
                        out.write(chunk)
                        if progress is not None:
                            progress(len(chunk))
        except TransportError as exc:
            part.unlink(missing_ok=True)
            raise ServerUnavailable(f"download of blob {hash_} failed: {exc}") from exc
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if h.hexdigest() != hash_:
            part.unlink(missing_ok=True)
            raise IntegrityError(f"downloaded blob {hash_} does not match its hash")
        os.replace(part, dest)
        return dest


def _iter_file(fh: Any) -> Iterator[bytes]:
    while chunk := fh.read(1 << 20):
        yield chunk
