"""The model registry in a real Chromium (Playwright): from the navigation to the models table,
filter it, add a metadata column, open a model, follow the lineage graph's links, publish the
model and see it published. Screenshots land in test-artifacts/ui/."""

from __future__ import annotations

import pytest
from tests.ui.conftest import browser_login, shot
from tests.ui.model_world import API, make_model_world, ok


@pytest.fixture(scope="module")
def world(sqlite_server):
    w = make_model_world(sqlite_server)
    with w.owner_client(sqlite_server) as c:  # weights are there: the model can be published
        assert ok(c.get(f"{API}/models/{w.model['id']}"))["weights_size"] > 0
    return w


def test_filter_open_follow_lineage_and_publish(browser, world, sqlite_server):
    url = sqlite_server.url
    page = browser_login(browser, url, world.owner, f"{world.owner}-password")
    page.click("nav.mainnav >> text=Models")
    page.wait_for_url(url + "/models")
    assert page.locator("#modeltable tbody tr[data-model]").count() >= 3
    shot(page, "models-01-table")

    page.fill("#filters input[name=project]", world.project)
    page.fill("#filters input[name=q]", "resnet")
    page.press("#filters input[name=q]", "Enter")
    page.wait_for_url(lambda u: "q=resnet" in u)
    rows = page.locator("#modeltable tbody tr[data-model]")
    assert rows.count() == 1 and rows.first.get_attribute("data-model") == world.model["id"]

    page.goto(f"{url}/models?project={world.project}")
    page.select_option("select[name=state]", "draft")  # submits itself
    page.wait_for_url(lambda u: "state=draft" in u)
    assert page.locator("#modeltable tbody tr[data-model]").count() == 2
    page.click(".colpicker summary")
    page.fill("#coladd", "meta:accuracy")
    page.click("#colform button[type=submit]")
    page.wait_for_url(lambda u: "col=meta" in u)
    cell = page.locator(f"tr[data-model='{world.model['id']}'] td[data-col='meta:accuracy']")
    assert cell.inner_text() == "0.91"
    shot(page, "models-02-filtered-with-column")

    page.click(f"#modeltable >> text={world.model['name']}")
    page.wait_for_url(f"**/models/{world.model['id']}")
    assert page.inner_text("#modelstate") == "draft"
    links = page.locator("#lineage a.nodelink")
    assert links.count() == 5
    kinds = sorted(links.nth(i).get_attribute("data-kind") for i in range(5))
    assert kinds == ["consumer", "dataset", "input_model", "model", "task"]
    assert page.locator("#lineage path.edge").count() == 4
    page.wait_for_selector("#scalars .chart")  # the creating task's loss curve
    shot(page, "models-03-model")

    page.click("#lineage a[data-kind=task]")
    page.wait_for_url(f"**/tasks/{world.task_id}")
    page.click("nav.tabs >> text=Models")
    page.wait_for_url(lambda u: u.endswith("tab=models"))
    assert page.locator(f"#outputmodels a[href='/models/{world.model['id']}']").count() == 1
    page.click(f"#outputmodels a[href='/models/{world.model['id']}']")
    page.wait_for_url(f"**/models/{world.model['id']}")

    page.click("#modelactions button[value=publish]")  # confirm() is accepted
    page.wait_for_url(lambda u: "msg=Published" in u)
    assert page.inner_text("#modelstate") == "published"
    assert page.locator("#modelactions button[value=publish]").count() == 0
    assert any("Publish?" in d for d in page.arno_dialogs)
    shot(page, "models-04-published")
    with world.owner_client(sqlite_server) as c:
        assert ok(c.get(f"{API}/models/{world.model['id']}"))["published"] is True
    page.context.close()
