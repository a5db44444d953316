"""One settings object, read from ARNO_* environment variables once and passed down."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def default_home() -> Path:
    return Path.home() / ".arno"


class Settings(BaseSettings):
    """Server-side settings. Every field maps to ``ARNO_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="ARNO_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    """SQLAlchemy URL; default is SQLite in WAL mode at ``$ARNO_HOME/arno.db``."""
    storage_url: str | None = None
    """fsspec URL of the blob store (``s3://bucket/prefix``); default ``$ARNO_HOME/files``."""
    storage_options: dict[str, Any] = Field(default_factory=dict)
    """Extra fsspec options as JSON, e.g. ``{"endpoint_url": "http://minio:9000"}``."""
    host: str = "127.0.0.1"
    port: int = 8080
    allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """CIDRs allowed to call the server; empty means any."""
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Addresses (CIDRs) of reverse proxies whose ``X-Forwarded-For``/``-Proto`` headers are
    believed. Empty (the default): those headers are ignored, so no caller can pose as
    another address to pass ``allowed_networks``."""
    max_body_bytes: int = 64 * 1024 * 1024
    """Largest JSON request body accepted (413 beyond)."""
    max_upload_bytes: int = 100 * 1024**3
    """Largest single artifact or file upload."""
    max_console_line: int = 1024 * 1024
    """Console lines longer than this are truncated with a marker."""
    auth_cache_seconds: int = 300
    login_failures_per_user: int = 10
    """Failed logins (web form, HTTP Basic, API key) one login name may make within
    ``login_failure_window`` before further attempts get 429 (per server process)."""
    login_failures_per_address: int = 100
    """Failed logins one client address may make within ``login_failure_window``."""
    login_failure_window: float = 300.0
    """Seconds over which failed logins are counted."""
    lease_seconds: float = 60.0
    """How long a running task stays leased to its agent without a heartbeat."""
    worker_timeout: float = 300.0
    """A worker silent this long is forgotten."""
    reaper_interval: float = 5.0
    """How often expired leases are looked for."""
    dataset_gc_grace_seconds: float = 3600.0
    """A dataset pack no version refers to is deleted only once it is this old, so a pack
    uploaded moments ago, not yet named by a manifest, survives garbage collection."""
    dataset_gc_interval: float = 3600.0
    """How often the server looks for dataset packs nothing refers to (0: only on request)."""

    @field_validator("allowed_networks", "trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)  # a JSON list (NoDecode: pydantic will not parse it)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("allowed_networks", "trusted_proxies")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'arno.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or str(self.home / "files")
