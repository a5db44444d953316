"""One place that turns errors into the JSON error body (or a bare 500), and into an HTML
error page (or a redirect to the login page) for the web UI's pages."""

from __future__ import annotations

import errno
import logging
import os
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from arno.core.errors import ArnoError, TooManyRequests, Unauthorized
from arno.server.middleware import add_security_headers

log = logging.getLogger("arno.server")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


def error_response(status: int, code: str, message: str, **details: object) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = details
    headers = {"WWW-Authenticate": 'Basic realm="arno"'} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def is_page(request: Request) -> bool:
    """A web UI page (HTML errors) rather than the API, health or a JSON helper."""
    path = request.url.path
    return not (
        path.startswith(("/api/", "/static/")) or path == "/health" or path.endswith(".json")
    )


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _page_error(request: Request, status: int, message: str) -> Response:
    from arno.server.ui.render import error_page

    return error_page(request, status, message)


async def _unauthenticated(request: Request) -> ArnoError | None:
    """The credential error of an API request refused before its credentials were looked at.
    FastAPI reads and validates a body before it runs the route's dependencies, so without
    this a malformed body would answer 422 (and tell what the route expects) to a caller who
    gave no credentials at all; every API route requires them, so they are checked first."""
    if not request.url.path.startswith("/api/") or getattr(request.state, "principal", None):
        return None
    from arno.server.deps import current_principal

    try:
        await run_in_threadpool(current_principal, request)
    except ArnoError as exc:
        return exc
    return None


def database_unavailable(exc: DBAPIError) -> bool:
    """Whether a database error means "not now" (a lost or refused connection, a database
    shutting down or starting, SQLite locked) rather than a fault in the request or the code."""
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if type(exc.orig).__module__.startswith("sqlite3"):
        return "locked" in str(exc.orig) or "busy" in str(exc.orig)
    return isinstance(exc, OperationalError)  # PostgreSQL: connection and server state


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _storage_full(request: Request, reason: str) -> Response:
    """507: the server's disk (store, upload folder or database) is full. Nothing was stored;
    the same request succeeds once space is freed."""
    log.error("out of storage space on %s %s: %s", request.method, request.url.path, reason)
    message = f"the server is out of storage space ({reason}); free some and try again"
    if is_page(request):
        return _page_error(request, 507, message)
    return error_response(507, "insufficient_storage", message)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ArnoError)
    async def _arno_error(request: Request, exc: ArnoError) -> Response:
        if isinstance(exc, Unauthorized):
            if is_page(request) and _wants_html(request):  # a browser: to the login page
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
            return error_response(401, exc.code, exc.message)
        resp = (_page_error(request, exc.status, exc.message) if is_page(request)
                else JSONResponse(exc.to_body(), status_code=exc.status))
        if isinstance(exc, TooManyRequests) and exc.retry_after:
            resp.headers["retry-after"] = str(exc.retry_after)
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        denied = await _unauthenticated(request)
        if denied is not None:
            return await _arno_error(request, denied)
        if is_page(request):
            return _page_error(request, 422, _describe_validation(exc))
        errors = [
            {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()[:20]
        ]
        return error_response(422, "invalid_input", _describe_validation(exc), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (400, 404, 405):  # an unreadable body, no such route or method
            denied = await _unauthenticated(request)
            if denied is not None:
                return await _arno_error(request, denied)
        if is_page(request) and exc.status_code >= 400:
            message = "There is no page at this address." if exc.status_code == 404 else str(
                exc.detail)
            return _page_error(request, exc.status_code, message)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> Response:
        # e.g. a NUL character PostgreSQL cannot store: the transaction was rolled back
        log.info("refused by the database: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        message = "the database refused a value (e.g. a NUL character in text)"
        if is_page(request):
            return _page_error(request, 422, message)
        return error_response(422, "invalid_input", message)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_error(request: Request, exc: DBAPIError) -> Response:
        # The database is away (restarting, unreachable, locked): 503, which clients retry or
        # spool, rather than a 500 they take as a final refusal.
        if "disk is full" in str(exc.orig):  # SQLite on a full disk
            return _storage_full(request, "the database's disk is full")
        if not database_unavailable(exc):
            return await _unexpected(request, exc)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                    str(exc.orig).splitlines()[0] if exc.orig else exc)
        message = "the database is unavailable; try again shortly"
        if is_page(request):
            return _page_error(request, 503, message)
        response = error_response(503, "unavailable", message)
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(OSError)
    async def _os_error(request: Request, exc: OSError) -> Response:
        if exc.errno not in _NO_SPACE:
            return await _unexpected(request, exc)
        return _storage_full(request, os.strerror(exc.errno or errno.ENOSPC))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        # answered outside the middleware stack (by Starlette's outermost error middleware)
        if is_page(request):
            resp: Response = _page_error(request, 500, "internal server error")
        else:
            resp = error_response(500, "internal_error", "internal server error")
        add_security_headers(resp.headers)
        return resp
