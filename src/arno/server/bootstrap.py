"""First start: a local admin whose credentials land in ``$ARNO_HOME/config.toml`` (0600), so
scripts and the CLI on this machine just work."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from arno.core.config_file import read_config_file, write_config
from arno.services.container import Services


@dataclass
class Bootstrap:
    created: bool
    config_path: Path
    username: str | None = None
    password: str | None = None


def ensure_local_admin(services: Services, api_url: str) -> Bootstrap:
    home = services.settings.home
    path = home / "config.toml"
    if services.auth.count_users() > 0:
        current = read_config_file(path).get("api", {})
        if current.get("access_key") and current.get("host") != api_url:
            write_config(home, {"host": api_url})
        return Bootstrap(False, path)
    password = secrets.token_urlsafe(12)
    services.auth.create_user("admin", password=password, role="admin")
    key = services.auth.create_key("admin", label="created by arno up")
    write_config(
        home,
        {"host": api_url, "access_key": key.access_key, "secret_key": key.secret_key},
        {"web": {"username": "admin", "password": password}},
    )
    return Bootstrap(True, path, "admin", password)
