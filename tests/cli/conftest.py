"""The ``arno`` CLI run in-process with Typer's runner against a live server: the environment
points it at the server the way a user's shell would (ARNO_HOME, ARNO_API_*)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from arno.cli.main import app


@dataclass
class Cli:
    live: Any
    home: Path
    runner: CliRunner

    def __call__(self, *args: str, key: str | None = None, secret: str | None = None,
                 input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
        """Run ``arno ARGS`` as the admin, or as the owner of ``key``/``secret``."""
        extra: dict[str, str | None] = {}
        if key is not None:
            extra = {"ARNO_API_KEY": key, "ARNO_API_SECRET": secret}
        extra.update(env or {})
        return self.runner.invoke(app, list(args), input=input, env=extra,
                                  catch_exceptions=False)

    @staticmethod
    def one_error_line(result: Result) -> str:
        """The command failed the way a user should see it: exit 1, one ``error:`` line on
        stderr, nothing on stdout, no traceback. Returns the line."""
        assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        return lines[0]

    def task(self, project: str, name: str, *, key: str | None = None,
             secret: str | None = None, **kwargs: Any) -> str:
        """A task made over the API, as the admin or as the owner of ``key``."""
        with self.http(key, secret) as http:
            return make_task(http, project, name, **kwargs)

    def http(self, key: str | None = None, secret: str | None = None) -> httpx.Client:
        return self.live.client(key, secret)

    def user(self, prefix: str, role: str = "user") -> tuple[str, str, str]:
        """A fresh user with a key: (username, access_key, secret)."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        key, secret = self.live.user(name, role=role)
        return name, key, secret


@pytest.fixture
def cli(sqlite_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    home = tmp_path / "arno-home"
    monkeypatch.setenv("ARNO_HOME", str(home))
    monkeypatch.setenv("ARNO_API_HOST", sqlite_server.url)
    monkeypatch.setenv("ARNO_API_KEY", sqlite_server.admin_key)
    monkeypatch.setenv("ARNO_API_SECRET", sqlite_server.admin_secret)
    monkeypatch.delenv("ARNO_OFFLINE", raising=False)
    return Cli(sqlite_server, home, CliRunner())


def make_task(http: httpx.Client, project: str, name: str, *, tags: list[str] | None = None,
              params: dict[str, str] | None = None,
              losses: list[float] | None = None, status: str | None = None) -> str:
    """A task made over the API as a training script would: params, a loss curve, a status."""
    body: dict[str, Any] = {"project": project, "name": name, "tags": tags or [],
                            "hyperparams": [{"section": k.split("/")[0],
                                             "name": k.split("/", 1)[1], "value": v}
                                            for k, v in (params or {}).items()]}
    resp = http.post("/api/v1/tasks", json=body)
    resp.raise_for_status()
    tid = resp.json()["id"]
    if losses:
        batch = {"batch_id": uuid.uuid4().hex, "last_iteration": len(losses) - 1,
                 "scalars": [{"metric": "loss", "variant": "train",
                              "iterations": list(range(len(losses))), "values": losses,
                              "timestamps": [time.time()] * len(losses)}]}
        http.post(f"/api/v1/tasks/{tid}/events", json=batch).raise_for_status()
    if status:
        http.post(f"/api/v1/tasks/{tid}/status", json={"status": status}).raise_for_status()
    return tid

