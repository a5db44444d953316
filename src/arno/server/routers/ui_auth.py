"""Logging in and out of the web UI, and the settings page (API keys; users for admins)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from arno.core.errors import Forbidden, InvalidInput, TooManyRequests, Unauthorized
from arno.core.schemas import UserCreate
from arno.server.deps import (
    SESSION_COOKIE,
    check_csrf,
    client_address,
    current_principal,
    get_services,
)
from arno.server.ui.render import render
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]
LOGIN_CSRF_COOKIE = "arno_login_csrf"


def safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no "//host")."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(request: Request, next_: str, error: str = "", username: str = "",
                status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", status_code=status, login_csrf=token, next=next_,
                  error=error, username=username)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax",
                    secure=_secure(request), path="/login")
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, svc: Svc, next: str = "/") -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            svc.sessions.verify(token)
            return RedirectResponse(safe_next(next), status_code=303)
        except Unauthorized:
            pass
    return _login_page(request, safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    svc: Svc,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not secrets.compare_digest(expected, csrf_token):
        raise Forbidden("the login form expired: reload the page and try again")
    name = username.strip()
    try:
        token, _session = svc.login_throttle.guard(
            name, client_address(request), lambda: svc.sessions.login(name, password))
    except TooManyRequests as exc:
        resp = _login_page(request, safe_next(next), exc.message, username, status=429)
        resp.headers["retry-after"] = str(exc.retry_after or 1)
        return resp
    except Unauthorized as exc:
        return _login_page(request, safe_next(next), exc.message, username, status=401)
    resp = RedirectResponse(safe_next(next), status_code=303)
    _set_session_cookie(request, svc, resp, token)
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return resp


def _set_session_cookie(request: Request, svc: Services, resp: Response, token: str) -> None:
    resp.set_cookie(SESSION_COOKIE, token, max_age=svc.sessions.max_age, httponly=True,
                    samesite="lax", secure=_secure(request), path="/")


@router.post("/logout")
def logout(request: Request, svc: Svc, who: Who,
           csrf_token: Annotated[str, Form()] = "") -> Response:
    """Ends every browser session of the user, not only this one (a copied cookie too)."""
    check_csrf(request, csrf_token)
    svc.sessions.logout(who.user_id)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


# ---- settings --------------------------------------------------------------------------------


def _settings(request: Request, svc: Services, who: Principal, status: int = 200,
              **extra: Any) -> Response:
    return render(
        request, "settings.html", status_code=status, section="settings",
        keys=svc.auth.list_keys(user_id=who.user_id),
        users=svc.auth.list_users() if who.is_admin else [],
        **extra,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, svc: Svc, who: Who) -> Response:
    return _settings(request, svc, who)


@router.post("/settings/keys", response_class=HTMLResponse)
def create_key(request: Request, svc: Svc, who: Who, label: Annotated[str, Form()] = "",
               csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    created = svc.auth.create_key(who.user_id, label=label.strip()[:256])
    return _settings(request, svc, who, status=201, new_key=created)


@router.post("/settings/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: str, svc: Svc, who: Who,
               csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    found = svc.auth.get_key(key_id)
    if found.user_id != who.user_id:
        who.require_admin()
    svc.auth.revoke_key(key_id)
    return RedirectResponse("/settings?msg=Key+revoked", status_code=303)


@router.post("/settings/password")
def change_password(request: Request, svc: Svc, who: Who,
                    current: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                    csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        svc.login_throttle.guard(who.username, client_address(request),
                                 lambda: svc.auth.authenticate(who.username, current))
    except Unauthorized:
        raise Forbidden("the current password is wrong") from None
    svc.auth.set_password(who.user_id, password)  # ends every browser session of the user
    resp = RedirectResponse("/settings?msg=Password+changed", status_code=303)
    if getattr(request.state, "session_id", None) is not None:  # keep this browser signed in
        token, _session = svc.sessions.issue(who)
        _set_session_cookie(request, svc, resp, token)
    return resp


@router.post("/settings/users")
def create_user(request: Request, svc: Svc, who: Who,
                username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                role: Annotated[str, Form()] = "user",
                csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    who.require_admin()
    try:
        body = UserCreate(username=username.strip(), password=password or None,
                          role="admin" if role == "admin" else "user")
    except ValidationError as exc:
        raise InvalidInput("; ".join(e["msg"] for e in exc.errors())) from None
    svc.auth.create_user(body.username, password=body.password, role=body.role)
    return RedirectResponse("/settings?msg=User+created", status_code=303)


@router.post("/settings/users/{user}/disabled")
def set_disabled(request: Request, user: str, svc: Svc, who: Who,
                 disabled: Annotated[str, Form()] = "1",
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    who.require_admin()
    off = disabled in ("1", "true", "on")
    if off and user in (who.user_id, who.username):
        raise Forbidden("you cannot disable yourself")
    svc.auth.set_disabled(user, off)
    return RedirectResponse("/settings?msg=User+" + ("disabled" if off else "enabled"),
                            status_code=303)
