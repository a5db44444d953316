"""The session the SDK talks through: configured once per process, swappable in tests."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arno.client._config import ClientConfig, load_config
from arno.core.errors import ArnoError

if TYPE_CHECKING:
    from arno.client import OfflineSession

_lock = threading.Lock()
_session: Any = None
_config: ClientConfig | None = None


class NotConfigured(ArnoError):
    """No server address or credentials were found."""

    code = "not_configured"


def config() -> ClientConfig:
    global _config
    with _lock:
        if _config is None:
            _config = load_config()
        return _config


def session() -> Any:
    """The process's ``ApiSession`` (or the one set with :func:`set_session`)."""
    global _session
    with _lock:
        if _session is not None:
            return _session
    cfg = config()
    if not cfg.host or not cfg.access_key or not cfg.secret_key:
        raise NotConfigured(
            "no Arno server configured: run `arno up` (local) or `arno login` (remote), or set "
            "ARNO_API_HOST, ARNO_API_KEY and ARNO_API_SECRET"
        )
    from arno.client import ApiSession

    with _lock:
        if _session is None:
            _session = ApiSession(cfg.host, cfg.access_key, cfg.secret_key)
        return _session


def set_session(new: Any | None) -> None:
    """Use ``new`` (an ``ApiSession``, ``OfflineSession`` or None to reset) from now on."""
    global _session, _config
    with _lock:
        _session = new
        if new is None:
            _config = None


def offline_session() -> OfflineSession:
    from arno.client import OfflineSession
    from arno.core.ids import new_id

    root = config().home / "offline" / new_id()
    return OfflineSession(root)


def home() -> Path:
    return config().home
