"""ASGI middleware: security headers, network allowlist and request body limits."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
"""The Content-Security-Policy of every HTML page. Pages load scripts only from /static (no
inline script, no eval). Styles allow 'unsafe-inline': Plotly injects its own <style> element
and templates set a few style attributes (indent depth, colour swatches); styles cannot run
code."""

CHART_CSP = PAGE_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'")
"""The CSP of pages that load Plotly: its WebGL traces (scattergl for long series, parcoords,
a user's own figures) compile code with ``new Function``, so these pages also allow eval. Inline
script stays refused there too, so injected markup still cannot run."""

_EVERY_RESPONSE = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
)


def add_security_headers(headers: MutableHeaders) -> None:
    """Set the headers every response carries, and the CSP on HTML, unless the response chose
    its own (a sandboxed debug sample sets its CSP and may be framed by the UI)."""
    for name, value in _EVERY_RESPONSE:
        if name not in headers:
            headers[name] = value
    if (headers.get("content-type", "").startswith("text/html")
            and "content-security-policy" not in headers):
        headers["content-security-policy"] = PAGE_CSP


class SecurityHeaders:
    """Adds the security headers to every response, including those other middleware answer
    on its own (403 outside the allowlist, 413)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", []))
                add_security_headers(MutableHeaders(raw=message["headers"]))
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AllowedNetworks:
    """Refuse (403) any request whose client address is outside the configured CIDRs."""

    def __init__(self, app: ASGIApp, networks: list[str]) -> None:
        self.app = app
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.networks:
            client = scope.get("client")
            try:
                addr: Any = ipaddress.ip_address(client[0]) if client else None
            except ValueError:
                addr = None
            if addr is None or not any(addr in net for net in self.networks):
                await _send_error(send, 403, "forbidden", "your address is not allowed here")
                return
        await self.app(scope, receive, send)


class _TooLarge(HTTPException):
    """An HTTPException so that FastAPI, which turns other errors raised while it reads a
    body into 400, lets it through to the error handler as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


_UPLOADS = ("/api/v1/blobs", "/api/v1/datasets/packs/")


class BodyLimit:
    """413 for bodies over the limit: by Content-Length up front, or while streaming.
    Blob and dataset pack uploads get their own (larger) limit."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.max_upload if path.startswith(_UPLOADS) else self.max_body
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await _send_error(
                        send, 413, "payload_too_large", f"request body over {limit} bytes"
                    )
                    return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_error(
                    send, 413, "payload_too_large", f"request body over {limit} bytes"
                )
