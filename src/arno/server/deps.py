"""Request dependencies: the services container and the authenticated caller."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from arno.core.errors import Unauthorized
from arno.services.container import Services
from arno.services.principal import Principal


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _credentials(request: Request) -> tuple[str, str]:
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
    key = request.headers.get("x-arno-key")
    secret = request.headers.get("x-arno-secret")
    if key and secret:
        return key, secret
    raise Unauthorized("credentials required: HTTP Basic with an API key and secret")


def current_principal(request: Request) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    login, secret = _credentials(request)
    principal = get_services(request).auth.authenticate(login, secret)
    request.state.principal = principal
    return principal
