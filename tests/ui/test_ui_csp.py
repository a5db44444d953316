"""Every main page of the web UI under its Content-Security-Policy, in a real Chromium: no
violation is reported (neither a ``securitypolicyviolation`` event nor a console message) and
the pages still work: charts draw, a sandboxed HTML debug sample shows in its frame."""

from __future__ import annotations

import uuid

import pytest
from tests.ui.conftest import CHROMIUM_ARGS, bulk_tasks, shot, user_id
from tests.ui.dataset_world import make_world

from arno.core.schemas import DebugSampleIn, EventBatch, PlotIn, ScalarSeriesIn

_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' '
                              + (e.sourceFile || '') + ':' + e.lineNumber);
});
"""


@pytest.fixture(scope="module")
def world(sqlite_server):
    svc = sqlite_server.services
    admin_id = user_id(svc, "admin")
    made = bulk_tasks(svc, "csp/tasks", 5, admin_id, seed=3)
    tid = made[0]["id"]
    its = list(range(50))
    html = b"<html><body><p id='s'>sample</p><script>document.title='ran'</script></body></html>"
    svc.events.ingest(tid, EventBatch(
        batch_id=uuid.uuid4().hex,
        scalars=[ScalarSeriesIn(metric="loss", variant="train", iterations=its,
                                values=[1 / (i + 1) for i in its],
                                timestamps=[1.7e9 + i for i in its])],
        plots=[PlotIn(metric="confusion", variant="val", timestamp=1.7e9, figure={
            "data": [{"type": "heatmap", "z": [[5, 1], [2, 7]]}], "layout": {}})],
        debug_samples=[DebugSampleIn(metric="page", variant="html", iteration=1, kind="html",
                                     hash=svc.store.put_bytes(html).hash,
                                     content_type="text/html", timestamp=1.7e9)],
    ))
    return {"tasks": made, "task": tid, "datasets": make_world(sqlite_server)}


def _login(browser, url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.add_init_script(_WATCH)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.csp_console = console
    page.goto(url + "/login")
    _no_violations(page)
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin-password")
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    return page


def _no_violations(page) -> None:
    seen = page.evaluate("window.__cspViolations")
    logged = [m for m in page.csp_console if "Content Security Policy" in m]
    assert seen == [] and logged == [], (page.url, seen, logged)


def test_every_main_page_loads_without_csp_violations(browser, world, sqlite_server):
    assert CHROMIUM_ARGS  # the shared browser fixture, Debian's chromium
    url, tid, ds = sqlite_server.url, world["task"], world["datasets"]
    ids = ",".join(t["id"] for t in world["tasks"][:3])
    page = _login(browser, url)
    pages = [
        ("/", "main"),
        ("/projects", "main"),
        ("/tasks?project=csp/tasks", "#tasktable"),
        (f"/tasks/{tid}?tab=scalars", ".chart[data-metric='loss'] .plot .main-svg"),
        (f"/tasks/{tid}?tab=plots", ".chart.plotfig .main-svg"),
        (f"/tasks/{tid}?tab=debug", ".sample iframe"),
        (f"/tasks/{tid}?tab=configuration", "h3"),
        ("/datasets", "table.datasets"),
        (f"/datasets/{ds.v1['dataset_id']}", "#lineage g.node"),
        (f"/datasets/versions/{ds.v2['id']}?tab=plots", ".main-svg"),
        ("/workers", "main"),
        ("/settings", "main"),
        (f"/compare?ids={ids}", "#comparetable"),
        (f"/compare?ids={ids}&tab=scalars", ".chart .plot .main-svg"),
        (f"/compare?ids={ids}&tab=parallel", "#parcoords .main-svg"),
        ("/tasks/" + "0" * 32, "main"),  # the 404 page
    ]
    for path, selector in pages:
        csp = page.goto(url + path).headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, (path, csp)
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0], (path, csp)
        page.wait_for_selector(selector)
        page.wait_for_load_state("networkidle")
        _no_violations(page)
    # the HTML debug sample is framed by this site (its own sandbox CSP) and its script ran
    page.goto(url + f"/tasks/{tid}?tab=debug")
    frame = page.wait_for_selector(".sample iframe").content_frame()
    frame.wait_for_selector("#s")
    assert frame.evaluate("document.title") == "ran"
    _no_violations(page)
    shot(page, "csp-task-debug-html")
    # an injected inline script is refused, and the refusal is seen
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.__injected = 1';
                             document.body.append(s); }""")
    for _ in range(100):  # (not wait_for_function: it evals, which this CSP refuses)
        if page.evaluate("window.__cspViolations.length"):
            break
        page.wait_for_timeout(50)
    assert any(v.startswith("script-src") for v in page.evaluate("window.__cspViolations"))
    assert page.evaluate("window.__injected") is None
    page.context.close()
