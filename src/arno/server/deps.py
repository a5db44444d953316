"""Request dependencies: the services container and the authenticated caller.

A caller proves who it is with HTTP Basic (API key and secret, or username and password), the
``X-Arno-Key``/``X-Arno-Secret`` headers, or the web UI's session cookie. Requests that change
something with the cookie must also carry the session's CSRF token (the ``X-CSRF-Token`` header
for the API, a ``csrf_token`` form field for the pages), so another site cannot make a signed-in
browser act on its behalf. Failed secrets are throttled per login name and client address
(``services.throttle``).
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from arno.core.errors import Forbidden, Unauthorized
from arno.services.container import Services
from arno.services.principal import Principal

SESSION_COOKIE = "arno_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Authorization header") from None
        login, sep, secret = decoded.partition(":")
        if sep and login and secret:
            return login, secret
        raise Unauthorized("credentials required: HTTP Basic with an API key and secret")
    header_key = request.headers.get("x-arno-key")
    header_secret = request.headers.get("x-arno-secret")
    if header_key and header_secret:
        return header_key, header_secret
    return None


def client_address(request: Request) -> str | None:
    """The caller's address, for throttling failed logins (behind a proxy named in
    ARNO_TRUSTED_PROXIES, uvicorn takes it from X-Forwarded-For)."""
    return request.client.host if request.client else None


def current_principal(request: Request) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    svc = get_services(request)
    creds = _credentials(request)
    if creds is not None:
        login, secret = creds
        principal = svc.login_throttle.guard(login, client_address(request),
                                             lambda: svc.auth.authenticate(login, secret),
                                             svc.auth.is_access_key)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise Unauthorized("credentials required: HTTP Basic with an API key and secret")
        session = svc.sessions.verify(token)
        request.state.session_id = session.sid
        principal = session.principal
        if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            if not svc.sessions.check_csrf(session.sid, request.headers.get(CSRF_HEADER)):
                raise Forbidden("CSRF token missing or stale: reload the page and try again")
    request.state.principal = principal
    return principal


def csrf_token(request: Request) -> str:
    """The token the signed-in caller's forms carry (call after ``current_principal``)."""
    svc = get_services(request)
    sid = getattr(request.state, "session_id", None)
    if sid is None:  # signed in with HTTP Basic: a token bound to the user
        sid = "basic:" + current_principal(request).user_id
    return svc.sessions.csrf_token(sid)


def check_csrf(request: Request, token: str | None) -> None:
    """Refuse (403) a form whose token is missing, forged or from another session."""
    svc = get_services(request)
    sid = getattr(request.state, "session_id", None)
    if sid is None:
        sid = "basic:" + current_principal(request).user_id
    if not svc.sessions.check_csrf(sid, token):
        raise Forbidden("CSRF token missing or stale: reload the page and try again")
