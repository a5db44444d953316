"""ASGI middleware: network allowlist and request body limits."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
