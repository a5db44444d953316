"""Where the server is and which credentials to use.

Environment first (``ARNO_API_HOST``, ``ARNO_API_KEY``, ``ARNO_API_SECRET``), then
``$ARNO_HOME/config.toml`` (``ARNO_HOME`` defaults to ``~/.arno``), which ``arno up`` and
``arno login`` write. ``ARNO_DATASET_CACHE_LIMIT`` caps the local dataset cache (bytes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from arno.core.config_file import read_config_file, write_config
from arno.core.private import private_dir

__all__ = ["ClientConfig", "load_config", "read_config_file", "write_config"]

DATASET_CACHE_LIMIT = 20 << 30


class _Env(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARNO_", extra="ignore")
    home: Path = Field(default_factory=lambda: Path.home() / ".arno")
    api_host: str | None = None
    api_key: str | None = None
    api_secret: str | None = None
    offline: bool = False
    dataset_cache_limit: int = DATASET_CACHE_LIMIT


class ClientConfig:
    def __init__(
        self,
        host: str | None,
        access_key: str | None,
        secret_key: str | None,
        *,
        home: Path,
        offline: bool = False,
        dataset_cache_limit: int = DATASET_CACHE_LIMIT,
    ) -> None:
        self.host = host.rstrip("/") if host else None
        self.access_key = access_key
        self.secret_key = secret_key
        self.home = home
        self.offline = offline
        self.dataset_cache_limit = dataset_cache_limit

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    def __repr__(self) -> str:
        return f"ClientConfig(host={self.host!r}, access_key={self.access_key!r})"


def load_config(**overrides: Any) -> ClientConfig:
    env = _Env()
    home = Path(overrides.get("home") or env.home).expanduser()
    if not home.exists():
        private_dir(home)  # spools, caches and credentials live here: the user's alone
    api = read_config_file(home / "config.toml").get("api", {})
    return ClientConfig(
        overrides.get("host") or env.api_host or api.get("host"),
        overrides.get("access_key") or env.api_key or api.get("access_key"),
        overrides.get("secret_key") or env.api_secret or api.get("secret_key"),
        home=home,
        offline=bool(overrides.get("offline") or env.offline),
        dataset_cache_limit=int(overrides.get("dataset_cache_limit") or env.dataset_cache_limit),
    )
