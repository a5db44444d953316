"""The CLI's connection to the server: ``ARNO_API_*`` variables, else ``$ARNO_HOME/config.toml``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from arno.client import ApiSession, ClientConfig, load_config
from arno.core.errors import ArnoError, InvalidInput

# A command fails fast when the server is away (a training script's reporter retries longer).
RETRIES = 2


class NotConfigured(ArnoError):
    """No server address or no credentials were found."""

    code = "not_configured"


def check_host(host: str) -> str:
    """``host`` if it is an http(s) URL with a host name, else one clear error."""
    try:
        url = httpx.URL(host)
        valid = url.scheme in ("http", "https") and bool(url.host)
    except (httpx.InvalidURL, ValueError, TypeError):
        valid = False
    if not valid:
        raise InvalidInput(f"{host!r} is not a server URL (like http://127.0.0.1:8080)")
    return host


def client_config() -> ClientConfig:
    return load_config()


def make_session(cfg: ClientConfig | None = None) -> ApiSession:
    cfg = cfg or client_config()
    if not cfg.host:
        raise NotConfigured(
            "no Arno server configured: run `arno up` (local) or `arno login --host URL` "
            "(remote), or set ARNO_API_HOST, ARNO_API_KEY and ARNO_API_SECRET"
        )
    if not cfg.access_key or not cfg.secret_key:
        raise NotConfigured(
            f"no credentials for {cfg.host}: run `arno login --host {cfg.host}`, or set "
            "ARNO_API_KEY and ARNO_API_SECRET"
        )
    return ApiSession(check_host(cfg.host), cfg.access_key, cfg.secret_key, retries=RETRIES)


@contextmanager
def api() -> Iterator[ApiSession]:
    """``with api() as session:`` an ``ApiSession`` closed at the end of the command."""
    session = make_session()
    try:
        yield session
    finally:
        session.close()
