"""The dataset pages in a real Chromium (Playwright): from the navigation to the list, search
and filter, open a dataset (lineage graph), click through to a version, narrow its files to the
modified ones, open previews (table, image), download a file, see the logger's plot; file names
stay text and unknown versions get the 404 page. Screenshots land in test-artifacts/ui/."""

from __future__ import annotations

import uuid

import pytest
from tests.ui.conftest import browser_login, shot
from tests.ui.dataset_world import XSS_NAME, make_world


@pytest.fixture(scope="module")
def world(sqlite_server):
    return make_world(sqlite_server)


def test_click_from_the_list_to_a_modified_file_and_preview_it(browser, world, sqlite_server):
    url = sqlite_server.url
    page = browser_login(browser, url, "admin", "admin-password")
    page.click("nav.mainnav >> text=Datasets")
    page.wait_for_url(url + "/datasets")
    assert page.locator("table.datasets tbody tr").count() == 3
    shot(page, "datasets-01-list")

    page.fill("input[name=q]", world.name[:10].upper())
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/datasets?q=*")
    rows = page.locator("table.datasets tbody tr")
    assert rows.count() == 1 and world.name in rows.first.inner_text()
    page.goto(url + "/datasets")
    page.select_option("select[name=project]", f"{world.project}/other")  # submits itself
    page.wait_for_url("**project=*")
    assert page.locator("table.datasets tbody tr").count() == 1
    assert world.other in page.inner_text("table.datasets")
    page.goto(url + "/datasets")
    page.select_option("select[name=tag]", "clean")
    page.wait_for_url("**tag=clean*")
    assert page.locator("table.datasets tbody tr").count() == 1

    page.click(f"table.datasets >> text={world.name}")
    page.wait_for_url(f"**/datasets/{world.v1['dataset_id']}")
    assert page.locator("#lineage g.node").count() == 5
    assert page.locator("#lineage path.edge").count() == 4
    assert page.locator("table.versions tbody tr").count() == 4
    shot(page, "datasets-02-dataset-lineage")

    page.click(f"#lineage a[data-version='{world.v2['id']}']")  # a node of the graph
    page.wait_for_url(f"**/datasets/versions/{world.v2['id']}")
    assert page.inner_text("#versionstate") == "final"
    assert f"{world.name} 1.0.1" in page.inner_text("h1")
    assert page.locator("#relations a[data-version]").count() == 3  # v1; the merge, the draft
    shot(page, "datasets-03-version")

    page.click(".statusfilter >> [data-status=modified]")
    page.wait_for_url("**status=modified*")
    assert page.locator("table.files tbody tr").count() == 1
    page.click("table.files >> text=train/")
    page.wait_for_url("**prefix=train*")
    row = page.locator("tr.filerow")
    assert row.count() == 1 and row.get_attribute("data-path") == "train/a.csv"
    assert row.locator(".status").inner_text() == "modified"
    shot(page, "datasets-04-modified-files")

    row.locator("a.file").click()
    page.wait_for_url("**/preview?path=train%2Fa.csv")
    table = page.locator("#preview table.preview")
    assert table.locator("thead th").all_inner_texts() == ["#", "id", "label", "score"]
    assert table.locator("tbody tr").count() == 100
    assert table.locator("tbody tr").first.inner_text().split() == ["1", "0", "b0", "0.0"]
    shot(page, "datasets-05-preview-csv")
    with page.expect_download() as dl:
        page.click("#download")
    assert dl.value.suggested_filename == "a.csv"
    assert open(dl.value.path(), "rb").read() == world.v2_files["train/a.csv"]

    page.click("text=Back to the folder")
    page.wait_for_url("**prefix=train*")
    page.goto(url + f"/datasets/versions/{world.v2['id']}?prefix=img/")
    page.click("table.files >> text=gradient.png")
    page.wait_for_selector("#preview img")
    from playwright.sync_api import expect  # (not wait_for_function: it evals; the CSP refuses)

    expect(page.locator("#preview img").first).to_have_js_property("naturalWidth", 160)
    shot(page, "datasets-06-preview-image")

    page.goto(url + f"/datasets/versions/{world.v2['id']}?prefix=notes/")
    assert page.locator(f"tr.filerow[data-path='{XSS_NAME}'] a.file").inner_text() == \
        XSS_NAME.split("/")[-1]
    page.click(f"tr.filerow[data-path='{XSS_NAME}'] a.file")
    page.wait_for_selector("#preview pre")
    assert page.inner_text("#preview pre") == world.files[XSS_NAME].decode()
    assert page.arno_dialogs == []  # nothing the file held ran
    page.context.close()


def test_plots_tab_draws_the_dataset_loggers_plot(browser, world, sqlite_server):
    url = sqlite_server.url
    page = browser_login(browser, url, "admin", "admin-password")
    page.goto(url + f"/datasets/versions/{world.v2['id']}")
    page.click("nav.tabs >> text=Plots & tables")
    page.wait_for_selector(".chart.plotfig .main-svg")
    assert "class balance / train" in page.inner_text("#plots")
    shot(page, "datasets-07-version-plots")
    page.goto(url + f"/datasets/versions/{world.many['id']}?prefix=many/d1/&page=2")
    assert page.locator("tr.filerow").count() == 50
    assert "page 2 of 2" in page.inner_text("#filepager")
    shot(page, "datasets-08-paged-folder")
    resp = page.goto(url + f"/datasets/versions/{uuid.uuid4().hex}")
    assert resp.status == 404 and page.inner_text("h1") == "Not found"
    resp = page.goto(url + f"/datasets/versions/{world.v1['id']}/preview?path=../etc/passwd")
    assert resp.status == 404 and "has no file" in page.inner_text(".errmsg")
    page.goto(url + f"/datasets/versions/{world.v1['id']}/file?path=img/red.png&inline=1")
    assert page.evaluate("document.images[0].naturalWidth") == 2
    page.context.close()
