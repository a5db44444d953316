"""The web UI in a real Chromium (Playwright): log in, find a task among 1,000 by sorting on a
metric column and filtering a tag, open it (scalar chart, artifact preview), compare three
tasks and export the scalar table, edit a draft's hyperparameter; user text stays text, stale
CSRF tokens and other users' edits are refused, unknown ids get a 404 page. Screenshots of
every page land in test-artifacts/ui/."""

from __future__ import annotations

import csv
import gzip
import io
import uuid

import pytest
from tests.ui.conftest import browser_login, bulk_tasks, shot, user_id

from arno.core.schemas import (
    ArtifactCreate,
    ConsoleLineIn,
    DebugSampleIn,
    EventBatch,
    HyperParam,
    PlotIn,
    ScalarSeriesIn,
    TaskCreate,
)
from arno.services.principal import Principal

XSS = "<script>alert('xss')</script>"
PNG = bytes.fromhex(  # 2x2 red PNG
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73000000164944415478"
    "9c63f8cfc0f01f0418181800000dc001e2f3f51d9e0000000049454e44ae426082")


@pytest.fixture(scope="module")
def world(sqlite_server):
    """1,000 tasks in one project; the best of them (lowest loss among tag "even") also has
    reported scalars, an artifact table and image, a plot, a debug sample and console lines."""
    svc = sqlite_server.services
    svc.auth.create_user("bob", password="bob-password", role="user")
    admin_id = user_id(svc, "admin")
    admin = Principal(admin_id, "admin", "admin")
    made = bulk_tasks(svc, "bench/thousand", 1000, admin_id, seed=7)
    even = sorted((t for t in made if "even" in t["tags"]), key=lambda t: t["loss"])
    best = even[0]
    now = 1_700_000_000.0
    its = list(range(300))
    svc.events.ingest(best["id"], EventBatch(
        batch_id=uuid.uuid4().hex,
        scalars=[
            ScalarSeriesIn(metric="loss", variant="train", iterations=its,
                           values=[1 / (i + 1) for i in its], timestamps=[now + i for i in its]),
            ScalarSeriesIn(metric="loss", variant="val", iterations=its,
                           values=[1.5 / (i + 1) for i in its], timestamps=[now + i for i in its]),
            ScalarSeriesIn(metric="acc", variant="val", iterations=its,
                           values=[0.5 + i / 1000 for i in its], timestamps=[now + i for i in its]),
            ScalarSeriesIn(metric=":monitor:machine", variant="cpu_usage", iterations=its[::10],
                           values=[40.0] * 30, timestamps=[now + i for i in its[::10]]),
        ],
        console=[ConsoleLineIn(text=f"epoch {i} done", timestamp=now) for i in range(20)],
        plots=[PlotIn(metric="confusion", variant="val", timestamp=now, figure={
            "data": [{"type": "heatmap", "z": [[5, 1], [2, 7]]}], "layout": {}})],
        debug_samples=[DebugSampleIn(metric="predictions", variant="batch0", iteration=3,
                                     kind="image", hash=svc.store.put_bytes(PNG).hash,
                                     content_type="image/png", timestamp=now)],
    ))
    best["loss"] = 1.5 / 300  # its loss/val series now ends there (still the lowest)
    best["acc"] = max(best["acc"], 0.5 + 299 / 1000)
    table = gzip.compress(b",a,b\n0,1,0.5\n1,2,0.25\n2,3,0.125\n")
    svc.artifacts.register(best["id"], "predictions", ArtifactCreate(
        type="pandas", content_type="application/gzip", file_name="predictions.csv.gz",
        hash=svc.store.put_bytes(table).hash, preview="DataFrame shape=(3, 2)"), admin)
    svc.artifacts.register(best["id"], "sample image", ArtifactCreate(
        type="image", content_type="image/png", file_name="sample.png",
        hash=svc.store.put_bytes(PNG).hash, preview="image 2x2"), admin)
    draft = svc.tasks.create(TaskCreate(
        project="bench/drafts", name="draft to edit",
        hyperparams=[HyperParam(section="General", name="lr", value="0.1")]), admin).id
    evil = svc.tasks.create(TaskCreate(project="bench/evil", name=XSS, tags=[XSS]), admin).id
    svc.events.ingest(evil, EventBatch(batch_id=uuid.uuid4().hex, console=[
        ConsoleLineIn(text=XSS, timestamp=now)]))
    return {"made": made, "even": even, "best": best, "draft": draft, "evil": evil,
            "url": sqlite_server.url}


def _trace_names(page, metric: str) -> list[str]:
    return page.evaluate(
        """(m) => { const box = [...document.querySelectorAll('.chart')]
                      .find(b => b.dataset.metric === m);
                    return box ? box.querySelector('.plot').data.map(t => t.name) : null; }""",
        metric)


def test_find_a_task_among_a_thousand_then_open_it(browser, world):
    url, best = world["url"], world["best"]
    page = browser_login(browser, url, "admin", "admin-password")
    shot(page, "01-dashboard")
    page.goto(url + "/tasks?project=bench/thousand")
    page.wait_for_selector("#tasktable")
    assert "1000 tasks" in page.inner_text(".pagehead")
    shot(page, "02-table")
    # add the metric column with the column picker, then sort on it
    page.click(".colpicker summary")
    page.wait_for_selector("#colkeys option[value='metric:loss/val']", state="attached")
    page.fill("#coladd", "metric:loss/val")
    page.click("#colform button[type=submit]")
    page.wait_for_selector("th.k-metric")
    page.click("th.k-metric >> text=loss/val")  # ascending: best first
    page.wait_for_url("**sort=metric*")
    # filter the tag with the column's filter box
    page.fill('input[name="tag"][form="filters"]', "even")
    page.press('input[name="tag"][form="filters"]', "Enter")
    page.wait_for_url("**tag=even*")
    assert "500 tasks" in page.inner_text(".pagehead")
    first = page.locator("#tasktable tbody tr").first
    assert first.locator(".tasklink").inner_text() == best["name"]
    assert f"{best['loss']:.6g}" in first.inner_text()
    shot(page, "03-table-sorted-filtered")
    # the URL carries the whole view: a fresh page with it shows the same thing
    shared = page.url
    page.goto(url + "/")
    page.goto(shared)
    assert page.locator("#tasktable tbody tr .tasklink").first.inner_text() == best["name"]

    first.locator(".tasklink").click()
    page.wait_for_url(f"**/tasks/{best['id']}*")
    page.wait_for_selector(".chart[data-metric='loss'] .plot .main-svg")
    assert sorted(_trace_names(page, "loss")) == ["train", "val"]
    assert _trace_names(page, ":monitor:machine") == ["cpu_usage"]
    assert page.locator(".chartgroup.machine").inner_text() == "Machine stats"
    shot(page, "04-task-scalars")
    page.select_option("#xaxis", "rel")
    page.fill("#smooth", "0.6")
    page.dispatch_event("#smooth", "input")
    page.check("#logy")
    assert page.evaluate("document.querySelector('.chart[data-metric=\"loss\"] .plot')"
                         ".layout.yaxis.type") == "log"
    shot(page, "05-task-scalars-smoothed-log")

    page.click("nav.tabs >> text=Artifacts")
    page.wait_for_selector("table.preview")
    assert page.locator("table.preview thead").inner_text().split() == ["a", "b"]
    assert "0.125" in page.locator("table.preview tbody").inner_text()
    from playwright.sync_api import expect  # (not wait_for_function: it evals; the CSP refuses)

    expect(page.locator("img.thumb").first).to_have_js_property("naturalWidth", 2)
    shot(page, "06-task-artifacts")

    for tab, selector, name in (("Execution", "table.kv", "07-task-execution"),
                                ("Configuration", "h3", "08-task-configuration"),
                                ("Info", "table.kv", "09-task-info"),
                                ("Console", "#console", "10-task-console"),
                                ("Plots", ".chart.plotfig .main-svg", "11-task-plots"),
                                ("Debug samples", ".sample img", "12-task-debug")):
        page.click(f"nav.tabs >> text={tab}")
        page.wait_for_selector(selector)
        shot(page, name)
    assert "epoch 19 done" in page.goto(url + f"/tasks/{best['id']}?tab=console").text()
    assert page.arno_dialogs == []
    page.context.close()


def test_compare_three_and_export_the_scalar_table(browser, world):
    url = world["url"]
    picks = world["even"][:3]
    page = browser_login(browser, url, "admin", "admin-password")
    page.goto(url + "/tasks?project=bench/thousand&tag=even&sort=metric:loss/val"
                    "&col=metric:loss/val")
    for t in picks:
        page.check(f"tr[data-task='{t['id']}'] input[name=ids]")
    assert page.inner_text("#selcount") == "3 selected"
    page.click("button.js-compare")
    page.wait_for_url("**/compare?ids=*")
    assert page.locator(".cmptask").count() == 3
    page.check("#onlydiff")
    assert page.locator("#comparetable tr.same").first.is_hidden()
    shot(page, "13-compare-details")
    page.click("nav.tabs >> text=Scalar table")
    page.wait_for_selector("#scalartable")
    shot(page, "14-compare-table")
    with page.expect_download() as dl:
        page.click("#csvlink")
    rows = list(csv.DictReader(io.StringIO(open(dl.value.path()).read())))
    loss = {r["task_id"]: float(r["last"]) for r in rows if r["metric"] == "loss"}
    acc = {r["task_id"]: float(r["max"]) for r in rows if r["metric"] == "acc"}
    assert loss == {t["id"]: t["loss"] for t in picks}
    assert acc == {t["id"]: t["acc"] for t in picks}
    page.click("nav.tabs >> text=Scalars")
    page.wait_for_selector(".chart .plot .main-svg")
    shot(page, "15-compare-scalars")
    page.click("nav.tabs >> text=Parallel coordinates")
    page.wait_for_selector("#parcoords .main-svg")
    shot(page, "16-compare-parallel")
    page.context.close()


def test_edit_a_drafts_hyperparameter(browser, world, sqlite_server):
    url, draft = world["url"], world["draft"]
    page = browser_login(browser, url, "admin", "admin-password")
    page.goto(url + f"/tasks/{draft}?tab=configuration")
    page.fill("input[data-key='General/lr']", "0.003")
    page.click("text=Save hyperparameters")
    page.wait_for_selector(".flash")
    assert page.input_value("input[data-key='General/lr']") == "0.003"
    assert sqlite_server.services.tasks.get_params(draft)[0].value == "0.003"
    shot(page, "17-draft-configuration")
    page.context.close()


def test_user_text_is_text_and_unknown_ids_get_a_404_page(browser, world):
    url, evil = world["url"], world["evil"]
    page = browser_login(browser, url, "admin", "admin-password")
    page.goto(url + f"/tasks/{evil}?tab=console")
    assert page.inner_text("h1.taskname") == XSS
    assert page.locator(".titlerow .tag").first.inner_text() == XSS
    assert XSS in page.inner_text("#console")
    page.goto(url + "/tasks?project=bench/evil")
    assert page.locator(".tasklink").first.inner_text() == XSS
    shot(page, "18-escaped-text")
    assert page.arno_dialogs == []
    resp = page.goto(url + f"/tasks/{uuid.uuid4().hex}")
    assert resp.status == 404 and page.inner_text("h1") == "Not found"
    shot(page, "19-not-found")
    page.context.close()


def test_stale_csrf_and_other_users_edits_are_refused(browser, world, sqlite_server):
    url, draft = world["url"], world["draft"]
    page = browser_login(browser, url, "admin", "admin-password")
    page.goto(url + f"/tasks/{draft}?tab=info")
    stale = page.get_attribute("meta[name=csrf-token]", "content")
    page.click("text=Log out")
    page.wait_for_url("**/login")
    shot(page, "20-login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin-password")
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    resp = page.request.post(url + f"/tasks/{draft}/edit",
                             form={"name": "hijacked", "csrf_token": stale})
    assert resp.status == 403
    assert sqlite_server.services.tasks.get(draft).name == "draft to edit"
    page.context.close()

    bob = browser_login(browser, url, "bob", "bob-password")
    bob.goto(url + f"/tasks/{draft}?tab=configuration")
    assert bob.locator("input[data-key='General/lr']").count() == 0
    assert bob.locator("button[value=enqueue], button[value=delete]").count() == 0
    assert "0.003" in bob.inner_text("table.params") or "0.1" in bob.inner_text("table.params")
    shot(bob, "21-non-owner-view")
    token = bob.get_attribute("meta[name=csrf-token]", "content")
    resp = bob.request.post(url + f"/tasks/{draft}/params", form={
        "section": "General", "name": "lr", "value": "9", "csrf_token": token})
    assert resp.status == 403
    assert sqlite_server.services.tasks.get_params(draft)[0].value != "9"
    bob.goto(url + "/settings")
    shot(bob, "22-settings")
    bob.goto(url + "/projects")
    shot(bob, "23-projects")
    bob.goto(url + "/workers")
    shot(bob, "24-workers")
    bob.context.close()


def test_a_running_task_updates_live(browser, world, sqlite_server):
    from arno.core.schemas import StatusChange

    svc = sqlite_server.services
    admin = Principal(user_id(svc, "admin"), "admin", "admin")
    tid = svc.tasks.create(TaskCreate(project="bench/live", name="live run",
                                      status="in_progress"), admin).id

    def report(start: int, n: int) -> None:
        its = list(range(start, start + n))
        svc.events.ingest(tid, EventBatch(
            batch_id=uuid.uuid4().hex,
            scalars=[ScalarSeriesIn(metric="loss", variant="train", iterations=its,
                                    values=[1 / (i + 1) for i in its],
                                    timestamps=[1.7e9 + i for i in its])],
            console=[ConsoleLineIn(text=f"step {i}", timestamp=1.7e9 + i) for i in its]))

    report(0, 5)
    page = browser_login(browser, world["url"], "admin", "admin-password")
    page.goto(world["url"] + f"/tasks/{tid}?tab=console")
    page.wait_for_selector("#console >> text=step 4")
    report(5, 5)
    page.wait_for_selector("#console >> text=step 9", timeout=15_000)
    from playwright.sync_api import expect  # (not wait_for_function: it evals; the CSP refuses)

    expect(page.locator("#taskiter")).to_have_text("9", timeout=15_000)
    page.goto(world["url"] + f"/tasks/{tid}?tab=scalars")
    page.wait_for_selector(".chart[data-metric='loss'] .plot .main-svg")
    report(10, 20)
    page.wait_for_function(
        "document.querySelector('.chart[data-metric=\"loss\"] .plot').data[0].x.length === 30",
        timeout=20_000)
    svc.tasks.set_status(tid, StatusChange(status="completed"), admin)
    page.wait_for_selector("#taskstatus [data-status='completed']", timeout=15_000)
    shot(page, "25-live-run-finished")
    page.context.close()
