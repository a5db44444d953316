"""Fixtures of the web UI tests: tasks made in bulk, a signed-in HTTP client, and a real
Chromium driven by Playwright (skipped, saying why, where the browser is absent; failed instead
when the ``CI`` variable is set)."""

from __future__ import annotations

import os
import random
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from sqlalchemy import insert

from arno.core.ids import utcnow
from arno.db.models import HyperParamRow, SeriesRow, TaskRow, TaskTagRow
from arno.services.container import Services
from arno.services.projects import ensure_project

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


def bulk_tasks(svc: Services, project: str, n: int, owner_id: str, *, seed: int = 0,
               tags: Any = None) -> list[dict[str, Any]]:
    """``n`` completed tasks in one transaction, each with hyperparameters (General/lr,
    General/batch) and last/min/max summaries of ``loss/val`` and ``acc/val``; returns what was
    stored so tests know the right answers."""
    rng = random.Random(seed)
    now = utcnow()
    made: list[dict[str, Any]] = []
    tasks, tag_rows, params, series = [], [], [], []
    with svc.db.write() as s:
        pid = ensure_project(s, project, owner_id).id
        for i in range(n):
            tid = uuid.uuid4().hex
            loss = round(rng.uniform(0.1, 5.0), 6)
            acc = round(rng.uniform(0.2, 0.99), 6)
            tlist = list(tags(i)) if tags else (["even"] if i % 2 == 0 else ["odd"])
            started = now - timedelta(minutes=n - i + 5)
            tasks.append({
                "id": tid, "project_id": pid, "name": f"trial {i:04d}", "type": "training",
                "status": "completed", "status_message": "", "tags": tlist, "comment": "",
                "archived": False, "owner_id": owner_id, "created_at": started,
                "started_at": started, "completed_at": started + timedelta(seconds=30 + i),
                "updated_at": started, "last_iteration": 99, "script": {},
                "user_properties": {}, "runtime": {}, "abort_requested": False, "attempt": 0,
                "max_retries": 0,
            })
            tag_rows += [{"task_id": tid, "tag": t} for t in tlist]
            params += [
                {"task_id": tid, "section": "General", "name": "lr",
                 "value": str(10 ** -(1 + i % 4)), "type": "float", "description": ""},
                {"task_id": tid, "section": "General", "name": "batch",
                 "value": str(16 * (1 + i % 3)), "type": "int", "description": ""},
            ]
            series += [
                {"task_id": tid, "metric": "loss", "variant": "val", "last_value": loss,
                 "last_iteration": 99, "min_value": loss, "max_value": loss + 1, "count": 100},
                {"task_id": tid, "metric": "acc", "variant": "val", "last_value": acc,
                 "last_iteration": 99, "min_value": acc - 0.1, "max_value": acc, "count": 100},
            ]
            made.append({"id": tid, "name": f"trial {i:04d}", "loss": loss, "acc": acc,
                         "tags": tlist})
        s.execute(insert(TaskRow), tasks)
        s.execute(insert(TaskTagRow), tag_rows)
        s.execute(insert(HyperParamRow), params)
        s.execute(insert(SeriesRow), series)
    return made


def user_id(svc: Services, name: str) -> str:
    return next(u.id for u in svc.auth.list_users() if u.username == name)


def login_client(url: str, username: str, password: str) -> httpx.Client:
    """An HTTP client that logged in through the login form, as a browser does."""
    c = httpx.Client(base_url=url, timeout=60, headers={"Accept": "text/html"})
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    resp = c.post("/login", data={"username": username, "password": password,
                                  "csrf_token": token.group(1), "next": "/"})
    assert resp.status_code == 303, resp.text[:500]
    return c


def csrf_of(html: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]*)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


# ---- the browser ---------------------------------------------------------------------------


def no_browser(reason: str) -> NoReturn:
    """Skip a browser test, saying why; under CI (``CI`` set, as ``.ci/run`` does) fail
    instead, so that a run without the browser cannot pass as if the UI had been tested."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        no_browser(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium)"
                   " to run the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        no_browser("playwright is not installed (pip install playwright; never `playwright "
                   "install`: the tests use Debian's chromium)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(page: Any, name: str) -> None:
    """Save a screenshot under test-artifacts/ui/ (look at them when the UI changes)."""
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def browser_login(browser: Any, url: str, username: str, password: str) -> Any:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    dialogs: list[str] = []
    page.arno_dialogs = dialogs  # alert()/confirm() seen; an injected script would show here
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    return page

