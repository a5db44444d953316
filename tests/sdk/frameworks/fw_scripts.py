"""Scripts of the automatic-logging tests, run as a user runs them: ``python train.py`` in a
process of its own pointed at the live server by ``ARNO_*`` variables (``ARNO_TASK_ID`` makes
it a run under an agent). What is checked is what the server then holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx


def run_script(live: Any, tmp_path: Path, source: str, *args: str,
               env: dict[str, str] | None = None, timeout: float = 120,
               name: str = "train.py") -> subprocess.CompletedProcess[str]:
    script = tmp_path / name
    script.write_text(textwrap.dedent(source))
    full = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    full.update(ARNO_HOME=str(tmp_path / "client-home"), ARNO_API_HOST=live.url,
                ARNO_API_KEY=live.admin_key, ARNO_API_SECRET=live.admin_secret,
                PYTHONIOENCODING="utf-8")
    full.update(env or {})
    return subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=full,
                          capture_output=True, text=True, errors="replace", timeout=timeout)


def task_id_of(proc: subprocess.CompletedProcess[str]) -> str:
    found = re.search(r"TASK_ID ([0-9a-f]{32})", proc.stdout)
    assert found, f"no task id\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    return found.group(1)


def params_of(api: httpx.Client, task_id: str) -> dict[str, str]:
    resp = api.get(f"/api/v1/tasks/{task_id}/params")
    resp.raise_for_status()
    return {f"{p['section']}/{p['name']}": p["value"] for p in resp.json()}


def scalars_of(api: httpx.Client, task_id: str) -> dict[tuple[str, str], dict[int, float]]:
    """{(title, series): {iteration: value}} of what the task reported."""
    resp = api.get(f"/api/v1/tasks/{task_id}/scalars")
    resp.raise_for_status()
    out: dict[tuple[str, str], dict[int, float]] = {}
    for row in resp.json():
        its = row.get("iterations") or row.get("x") or []
        vals = row.get("values") or row.get("y") or []
        out[(row["metric"], row["variant"])] = dict(zip(its, vals, strict=False))
    return out


def create_task(api: httpx.Client, project: str, name: str,
                params: dict[str, str] | None = None) -> str:
    """A task as a clone edited in the UI would be: the parameters an agent's run must use."""
    rows = [{"section": k.split("/", 1)[0], "name": k.split("/", 1)[1], "value": v}
            for k, v in (params or {}).items()]
    resp = api.post("/api/v1/tasks", json={"project": project, "name": name,
                                            "hyperparams": rows})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])
