"""The installed ``arno`` console script, run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest


def _arno() -> str:
    beside = Path(sys.executable).with_name("arno")
    found = str(beside) if beside.exists() else shutil.which("arno")
    if not found:
        pytest.fail("the `arno` console script is not installed (pip install -e .)")
    return found


def test_console_script(cli, tmp_path):
    tid = cli.task(f"entry-{uuid.uuid4().hex[:6]}", "from a shell")
    env = {**os.environ, "ARNO_HOME": str(tmp_path / "home"), "ARNO_API_HOST": cli.live.url,
           "ARNO_API_KEY": cli.live.admin_key, "ARNO_API_SECRET": cli.live.admin_secret}
    helped = subprocess.run([_arno(), "--help"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert helped.returncode == 0, helped.stderr
    for group in ("up", "login", "user", "key", "project", "task", "artifact"):
        assert group in helped.stdout
    listed = subprocess.run([_arno(), "task", "list", "--json"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert tid in [t["id"] for t in json.loads(listed.stdout)]
