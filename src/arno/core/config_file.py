"""``$ARNO_HOME/config.toml``: where a client finds its server and credentials."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from arno.core.private import private_dir


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}


def write_config(home: Path, api: dict[str, str], extra: dict[str, Any] | None = None) -> Path:
    """Write ``config.toml`` readable by its owner only (0600), keeping other sections."""
    private_dir(home)
    path = home / "config.toml"
    data = read_config_file(path)
    data["api"] = {**data.get("api", {}), **api}
    for key, value in (extra or {}).items():
        data[key] = {**data.get(key, {}), **value}
    tmp = path.with_suffix(".toml.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(data, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
