"""How the server listens: the options ``arno up`` and ``arno server`` give uvicorn."""

from __future__ import annotations

from typing import Any

from arno.core.settings import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Forwarded headers are believed only from the proxies the operator names
    (``ARNO_TRUSTED_PROXIES``); by default they are ignored, so ``X-Forwarded-For`` cannot
    move a caller into ``ARNO_ALLOWED_NETWORKS`` or into another rate-limit bucket."""
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "server_header": False,
        "proxy_headers": bool(settings.trusted_proxies),
        # an SDK client sends its next batch as soon as the last is answered; on a saturated
        # event loop a short idle timer can fire before a waiting request is read, and the
        # client sees its connection closed under it (seen once under 200 clients at 5 s)
        "timeout_keep_alive": 30,
    }
    if settings.trusted_proxies:
        options["forwarded_allow_ips"] = list(settings.trusted_proxies)
    return options
