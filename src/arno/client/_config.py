"""Where the server is and which credentials to use, read once per process.

Environment first (``ARNO_API_HOST``, ``ARNO_API_KEY``, ``ARNO_API_SECRET``), then
``$ARNO_HOME/config.toml`` (``ARNO_HOME`` defaults to ``~/.arno``), which ``arno up`` and
``arno login`` write. ``ARNO_DATASET_CACHE_LIMIT`` caps the local dataset cache (bytes);
``ARNO_MODEL_SNAPSHOTS`` is how many snapshots of an automatically logged model are kept.
An agent running a task sets ``ARNO_TASK_ID`` (the task this process resumes) and
``ARNO_AGENT_CONSOLE=1`` (it records the console itself); they are read here too, so no other
module looks at ``os.environ``.

Six variables do not justify a settings library whose import costs half a second of every
training script's start: they are read with ``os.environ`` and checked here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arno.core.config_file import read_config_file, write_config
from arno.core.errors import InvalidInput
from arno.core.private import private_dir

__all__ = ["ClientConfig", "load_config", "read_config_file", "write_config"]

DATASET_CACHE_LIMIT = 20 << 30
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass
class ClientConfig:
    host: str | None
    access_key: str | None
    secret_key: str | None = field(repr=False)
    home: Path = field(default_factory=lambda: Path.home() / ".arno")
    offline: bool = False
    dataset_cache_limit: int = DATASET_CACHE_LIMIT
    task_id: str | None = None
    """The task an agent started this process for (``ARNO_TASK_ID``)."""
    agent_console: bool = False
    """The agent records this process's console (``ARNO_AGENT_CONSOLE``)."""
    model_snapshots: int = 1
    """Snapshots kept per automatically logged model file (``ARNO_MODEL_SNAPSHOTS``): 1 updates
    the model in place; N > 1 also keeps the last N saves as models of their own."""

    def __post_init__(self) -> None:
        self.host = self.host.rstrip("/") if self.host else None

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def under_agent(self) -> bool:
        return self.task_id is not None


def _flag(name: str, env: dict[str, str]) -> bool:
    text = env.get(name, "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInput(f"{name}={env[name]!r} is not a boolean (use 1 or 0)")


def _size(name: str, env: dict[str, str], default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{name}={text!r} is not a number of bytes") from None


def _count(name: str, env: dict[str, str], default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidInput(f"{name}={text!r} is not a whole number of at least 1")
    return value


def load_config(**overrides: Any) -> ClientConfig:
    env = dict(os.environ)
    home = Path(overrides.get("home") or env.get("ARNO_HOME") or Path.home() / ".arno"
                ).expanduser()
    if not home.exists():
        private_dir(home)  # spools, caches and credentials live here: the user's alone
    host = overrides.get("host") or env.get("ARNO_API_HOST")
    key = overrides.get("access_key") or env.get("ARNO_API_KEY")
    secret = overrides.get("secret_key") or env.get("ARNO_API_SECRET")
    if not (host and key and secret):
        api = read_config_file(home / "config.toml").get("api", {})
        host, key, secret = (host or api.get("host"), key or api.get("access_key"),
                             secret or api.get("secret_key"))
    return ClientConfig(
        host, key, secret, home=home,
        offline=bool(overrides.get("offline") or _flag("ARNO_OFFLINE", env)),
        dataset_cache_limit=int(overrides.get("dataset_cache_limit")
                                or _size("ARNO_DATASET_CACHE_LIMIT", env, DATASET_CACHE_LIMIT)),
        task_id=overrides.get("task_id") or env.get("ARNO_TASK_ID") or None,
        agent_console=_flag("ARNO_AGENT_CONSOLE", env),
        model_snapshots=_count("ARNO_MODEL_SNAPSHOTS", env, 1),
    )
