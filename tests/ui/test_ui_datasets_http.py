"""The dataset pages over plain HTTP with a signed-in session, on SQLite and PostgreSQL: the
list with its filters, a dataset's versions and lineage, a version's file browser (folders,
status filters, paging), previews and downloads, and every bad address answered with the
HTML error page."""

from __future__ import annotations

import html
import io
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.services.dataset_helpers import build, publish
from tests.ui.conftest import login_client
from tests.ui.dataset_world import PNG, XSS_NAME, World, make_world

from arno.core.dataset_schemas import DatasetStats, DatasetVersionOut
from arno.server.ui.dataset_views import lineage


@pytest.fixture(scope="module")
def world(server) -> World:
    return make_world(server)


@pytest.fixture(scope="module")
def c(server) -> httpx.Client:
    client = login_client(server.url, "admin", "admin-password")
    yield client
    client.close()


def _ok(resp: httpx.Response) -> str:
    assert resp.status_code == 200, resp.text[:800]
    assert resp.headers["content-type"].startswith("text/html")
    return resp.text


def _rows(page: str, attr: str) -> list[str]:
    return re.findall(rf'<tr {attr}="([^"]+)"', page)


def _paths(page: str) -> list[str]:
    return [html.unescape(p) for p in re.findall(r'<tr data-path="([^"]+)"', page)]


def _statuses(page: str) -> dict[str, str]:
    return {html.unescape(p): s for p, s in
            re.findall(r'<tr data-path="([^"]+)" data-status="([^"]+)"', page)}


# ---- signed out -----------------------------------------------------------------------------


def test_signed_out_visitors_are_sent_to_the_login_page(server, world):
    anon = httpx.Client(base_url=server.url, headers={"Accept": "text/html"})
    for url in ("/datasets", f"/datasets/{world.v1['dataset_id']}",
                f"/datasets/versions/{world.v1['id']}",
                f"/datasets/versions/{world.v1['id']}/file?path=train/a.csv"):
        resp = anon.get(url)
        assert resp.status_code == 303, url
        assert resp.headers["location"].startswith("/login?next=%2Fdatasets")


# ---- the list -------------------------------------------------------------------------------


def test_list_shows_every_dataset_with_its_latest_version(c, world):
    page = _ok(c.get("/datasets"))
    assert '<a href="/datasets" class="active">Datasets</a>' in page
    ids = _rows(page, "data-dataset")
    assert world.v1["dataset_id"] in ids and world.other_v1["dataset_id"] in ids
    row = page[page.index(f'data-dataset="{world.v1["dataset_id"]}"'):]
    row = row[:row.index("</tr>")]
    assert world.name in row and f"{world.project}/images" in row
    assert '<td class="num">4</td>' in row  # v1, v2, the merge, the draft
    assert f'/datasets/versions/{world.draft["id"]}">1.0.3</a>' in row  # the newest one
    assert "st-draft" in row
    assert ">raw<" in row and ">clean<" in row


def test_list_filters_by_name_project_and_tag(c, world):
    found = _rows(_ok(c.get("/datasets", params={"q": world.name.upper()})), "data-dataset")
    assert found == [world.v1["dataset_id"]]
    found = _rows(_ok(c.get("/datasets", params={"project": f"{world.project}/other"})),
                  "data-dataset")
    assert found == [world.other_v1["dataset_id"]]
    found = _rows(_ok(c.get("/datasets", params={"project": world.project})), "data-dataset")
    assert set(found) == {world.v1["dataset_id"], world.other_v1["dataset_id"],
                          world.many["dataset_id"]}
    found = _rows(_ok(c.get("/datasets", params={"tag": "clean", "project": world.project})),
                  "data-dataset")
    assert found == [world.v1["dataset_id"]]
    page = _ok(c.get("/datasets", params={"q": "no such dataset %_"}))
    assert _rows(page, "data-dataset") == [] and "No dataset matches." in page


# ---- a dataset --------------------------------------------------------------------------------


def test_dataset_page_lists_versions_newest_first_with_a_lineage_graph(c, world):
    page = _ok(c.get(f"/datasets/{world.v1['dataset_id']}"))
    assert _rows(page, "data-version") == [world.draft["id"], world.merged["id"],
                                           world.v2["id"], world.v1["id"]]
    svg = page[page.index("<svg"):page.index("</svg>")]
    nodes = re.findall(r'<a href="/datasets/versions/(\w+)" class="nodelink"', svg)
    assert set(nodes) == {world.v1["id"], world.v2["id"], world.merged["id"],
                          world.draft["id"], world.other_v1["id"]}  # the other dataset's too
    assert svg.count('class="edge"') == 4  # v1->v2, v2->merge, other->merge, v2->draft
    assert "outside" in svg and f"{world.other} 1.0.0" in svg
    v2_row = page[page.index(f'<tr data-version="{world.v2["id"]}"'):]
    v2_row = v2_row[:v2_row.index("</tr>")]
    assert "+1</span> / <span" in v2_row and "~1" in v2_row and "−1" in v2_row
    assert ">clean<" in v2_row and ">admin<" in v2_row


# ---- a version's files --------------------------------------------------------------------------


def test_version_page_shows_summary_parents_and_top_folder(c, world):
    page = _ok(c.get(f"/datasets/versions/{world.merged['id']}"))
    assert "<b>11</b><span>files</span>" in page and "<b>+0</b>" in page
    relations = page[page.index('id="relations"'):page.index("</table>",
                                                            page.index('id="relations"'))]
    assert f'/datasets/versions/{world.v2["id"]}"' in relations
    assert f"{world.other} " in relations  # a parent from another dataset carries its name
    assert _paths(page) == ["big/", "blob/", "extra/", "img/", "notes/", "train/", "empty.txt"]
    assert re.search(r'data-path="img/"[^<]*>\s*<td[^>]*><a[^>]*>img/</a></td>\s*'
                     r'<td class="muted small">2 files</td>', page)
    assert f'href="/tasks/{world.merged["id"]}"' in page


def test_prefix_navigation_and_status_filters(c, world):
    url = f"/datasets/versions/{world.v2['id']}"
    train = _ok(c.get(url, params={"prefix": "train/"}))
    assert _statuses(train) == {"train/a.csv": "modified", "train/b.tsv": "unchanged",
                                "train/c.csv": "added"}
    assert 'href="/datasets/versions/' in train and "pathcrumbs" in train
    top_modified = _ok(c.get(url, params={"status": "modified"}))
    assert _paths(top_modified) == ["train/"]
    assert _statuses(_ok(c.get(url, params={"status": "modified", "prefix": "train"}))) == {
        "train/a.csv": "modified"}
    assert _statuses(_ok(c.get(url, params={"status": "added", "prefix": "train/"}))) == {
        "train/c.csv": "added"}
    removed = _ok(c.get(url, params={"status": "removed", "prefix": "notes/"}))
    assert _statuses(removed) == {"notes/readme.txt": "removed"}
    # a removed file is previewed in the parent that had it
    assert (f'/datasets/versions/{world.v1["id"]}/preview?path=notes%2Freadme.txt'
            in removed)
    found = _ok(c.get(url, params={"q": "CSV"}))
    assert set(_paths(found)) == {"train/a.csv", "train/c.csv"}  # flat, case-insensitive
    draft = _ok(c.get(f"/datasets/versions/{world.draft['id']}", params={"prefix": "train/"}))
    assert set(_statuses(draft).values()) == {"unchanged"}  # a draft holds its parent's files
    assert "st-draft" in draft
    row = train[train.index('data-path="train/a.csv"'):]
    assert re.search(r"<code title=\"[0-9a-f]{64} \(1 piece\)\">[0-9a-f]{16}…", row)


def test_large_folders_are_paged(c, world):
    url = f"/datasets/versions/{world.many['id']}"
    first = _ok(c.get(url, params={"prefix": "many/d0/"}))
    assert len(_paths(first)) == 200 and "page 1 of 2" in first
    second = _ok(c.get(url, params={"prefix": "many/d0/", "page": 2}))
    assert len(_paths(second)) == 50 and "page 2 of 2" in second
    assert set(_paths(first)).isdisjoint(_paths(second))
    top = _ok(c.get(url, params={"prefix": "many/"}))
    assert _paths(top) == ["many/d0/", "many/d1/", "many/d2/"] and "250 files" in top


def test_file_names_are_escaped(c, world):
    page = _ok(c.get(f"/datasets/versions/{world.v1['id']}", params={"prefix": "notes/"}))
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;.txt" in page
    preview = _ok(c.get(f"/datasets/versions/{world.v1['id']}/preview",
                        params={"path": XSS_NAME}))
    assert "<script>alert(1)</script>" not in preview
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in preview


def test_plots_tab_loads_the_version_task_plots(c, world):
    page = _ok(c.get(f"/datasets/versions/{world.v2['id']}", params={"tab": "plots"}))
    assert f'id="plots" class="charts" data-task="{world.v2["id"]}"' in page
    assert "plotly.min.js" in page and "js/charts.js" in page
    plots = c.get(f"/api/v1/tasks/{world.v2['id']}/plots")
    assert plots.status_code == 200 and plots.json()[0]["metric"] == "class balance"


# ---- previews and downloads ---------------------------------------------------------------------


def _preview(c, vid: str, path: str) -> str:
    return _ok(c.get(f"/datasets/versions/{vid}/preview", params={"path": path}))


def test_csv_and_tsv_previews_are_tables_of_the_first_rows(c, world):
    page = _preview(c, world.v1["id"], "train/a.csv")
    assert 'data-kind="table"' in page and "first 100 rows" in page
    assert "<th>id</th><th>label</th><th>score</th>" in page
    assert "<td>a99</td>" in page and "<td>a100</td>" not in page
    tsv = _preview(c, world.v1["id"], "train/b.tsv")
    assert "<th>x</th><th>y</th>" in tsv and "<td>3</td><td>4</td>" in tsv and "2 rows" in tsv


def test_text_json_image_and_other_previews(c, world):
    text = _preview(c, world.v1["id"], "notes/readme.txt")
    assert 'data-kind="text"' in text and "Read me first.\nLine two." in text
    js = _preview(c, world.v1["id"], "notes/meta.json")
    assert '&#34;classes&#34;: [\n    &#34;cat&#34;' in js  # pretty-printed
    img = _preview(c, world.v1["id"], "img/red.png")
    assert 'data-kind="image"' in img
    assert f'src="/datasets/versions/{world.v1["id"]}/file?path=img%2Fred.png&amp;inline=1"' in img
    assert 'data-kind="binary"' in _preview(c, world.v1["id"], "blob/random.bin")
    assert "An empty file." in _preview(c, world.v1["id"], "empty.txt")
    large = _preview(c, world.v1["id"], "big/large.bin")
    assert "4 pieces" in large and 'id="download"' in large


def test_downloads_and_inline_images_are_the_exact_bytes(c, world):
    base = f"/datasets/versions/{world.v1['id']}/file"
    for path in ("big/large.bin", "train/a.csv", "empty.txt"):
        resp = c.get(base, params={"path": path})
        assert resp.status_code == 200 and resp.content == world.files[path], path
        assert resp.headers["content-type"] == "application/octet-stream"
        name = path.rsplit("/", 1)[-1]
        assert resp.headers["content-disposition"] == f"attachment; filename*=UTF-8''{name}"
    img = c.get(base, params={"path": "img/red.png", "inline": "1"})
    assert img.status_code == 200 and img.content == PNG
    assert img.headers["content-type"] == "image/png"
    assert img.headers["content-security-policy"] == "sandbox"
    assert img.headers["content-disposition"].startswith("inline")
    refused = c.get(base, params={"path": "notes/readme.txt", "inline": "1"})
    assert refused.status_code == 422 and "can only be downloaded" in refused.text


# ---- bad addresses ---------------------------------------------------------------------------


def _error_page(resp: httpx.Response, status: int, text: str) -> None:
    assert resp.status_code == status, resp.text[:500]
    assert resp.headers["content-type"].startswith("text/html")
    assert 'class="errorpage"' in resp.text and text in html.unescape(resp.text)
    assert "Traceback" not in resp.text


def test_unknown_datasets_versions_and_paths_get_the_404_page(c, world):
    missing = "0" * 32
    _error_page(c.get(f"/datasets/{missing}"), 404, f"no dataset '{missing}'")
    _error_page(c.get("/datasets/not-an-id"), 404, "no dataset")
    _error_page(c.get(f"/datasets/versions/{missing}"), 404, "no dataset version")
    _error_page(c.get(f"/datasets/versions/{missing}/preview", params={"path": "a"}), 404,
                "no dataset version")
    vid = world.v1["id"]
    for path in ("nope.csv", "../train/a.csv", "/train/a.csv", "train/../train/a.csv",
                 "train", "train/", "notes%2Freadme.txt"):
        _error_page(c.get(f"/datasets/versions/{vid}/preview", params={"path": path}), 404,
                    f"has no file {path!r}")
        _error_page(c.get(f"/datasets/versions/{vid}/file", params={"path": path}), 404,
                    "has no file")
    # in the parent, not in this version
    _error_page(c.get(f"/datasets/versions/{world.v2['id']}/preview",
                      params={"path": "notes/readme.txt"}), 404, "has no file")
    _error_page(c.get(f"/datasets/versions/{vid}/preview"), 422, "path")
    _error_page(c.get(f"/datasets/versions/{vid}", params={"status": "gone"}), 422,
                "unknown file status 'gone'")
    _error_page(c.get(f"/datasets/versions/{vid}", params={"page": "x"}), 422, "page")


def test_damaged_bytes_are_reported_not_served(server, c):
    data = b"label\n" + b"cat\n" * 500
    content = build({"d.csv": data})
    with server.client() as api:
        v = publish(api, "damaged", content.files, content.pack, project="uidata-damage")
    path = server.services.store.local_path(content.pack.hash)
    raw = bytearray(path.read_bytes())
    raw[3] ^= 0xFF  # inside the only member
    path.chmod(0o644)
    path.write_bytes(bytes(raw))
    page = c.get(f"/datasets/versions/{v['id']}/preview", params={"path": "d.csv"})
    assert page.status_code == 500 and 'id="previewerror"' in page.text
    assert "d.csv: piece" in page.text and "Traceback" not in page.text
    _error_page(c.get(f"/datasets/versions/{v['id']}/file", params={"path": "d.csv"}), 500,
                "d.csv: piece")
    path.unlink()
    _error_page(c.get(f"/datasets/versions/{v['id']}/file", params={"path": "d.csv"}), 500,
                "is missing from storage")


# ---- made with the SDK -------------------------------------------------------------------------


def test_a_version_made_with_the_sdk_shows_its_files_and_logger_table(server, sdk, c, tmp_path):
    from arno import Dataset

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x,y\n1,2\n3,4\n")
    (tmp_path / "readme.md").write_text("# hello\n")
    ds = Dataset.create(dataset_name="from-sdk", dataset_project="uidata-sdk",
                        dataset_tags=["sdk"])
    ds.add_files(str(tmp_path))
    ds.get_logger().report_table("stats", "summary", table_plot=[["col", "n"], ["x", 2]])
    ds.upload()
    ds.finalize()
    top = _ok(c.get(f"/datasets/versions/{ds.id}"))
    assert _paths(top) == ["data/", "readme.md"] and ">sdk<" in top
    preview = _preview(c, ds.id, "data/a.csv")
    assert "<th>x</th><th>y</th>" in preview and "<td>3</td><td>4</td>" in preview
    assert "# hello" in _preview(c, ds.id, "readme.md")
    deadline = time.monotonic() + 15
    while not (plots := c.get(f"/api/v1/tasks/{ds.id}/plots").json()):
        assert time.monotonic() < deadline, "the logger's table never arrived"
        time.sleep(0.2)
    assert plots[0]["figure"]["data"][0]["type"] == "table"
    listed = _ok(c.get("/datasets", params={"tag": "sdk"}))
    assert len(_rows(listed, "data-dataset")) == 1 and "from-sdk" in listed


# ---- the lineage layout and Parquet -------------------------------------------------------------


def _version(vid: str, parents: list[str], i: int) -> DatasetVersionOut:
    return DatasetVersionOut(
        id=vid, dataset_id="d" * 32, name="ds", project="p", project_id="p" * 32,
        version=f"1.0.{i}", state="final", parents=parents, tags=[], description="",
        owner_id=None, owner=None, manifest_hash=None,
        created_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i), finalized_at=None,
        stats=DatasetStats())


def test_lineage_puts_each_version_right_of_all_its_parents():
    a, b, c_, m = (_version("a", [], 0), _version("b", ["a"], 1), _version("c", [], 2),
                   _version("m", ["b", "c"], 3))
    graph = lineage([m, c_, b, a], {})
    x = {n.id: n.x for n in graph.nodes}
    assert x["a"] == x["c"] < x["b"] < x["m"]  # the merge sits right of its furthest parent
    assert len(graph.edges) == 3
    chain = [_version(f"v{i}", [f"v{i - 1}"] if i else [], i) for i in range(3000)]
    long = lineage(chain, {})  # no recursion limit, however long the lineage
    assert len({n.x for n in long.nodes}) == 3000 and long.height < 100


def test_parquet_preview_is_a_table_or_says_what_it_needs(server, c):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        data, expected = b"PAR1 not really PAR1", "previewing Parquet needs pyarrow"
    else:
        import pandas as pd

        buf = io.BytesIO()
        pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}).to_parquet(buf)
        data, expected = buf.getvalue(), "<th>x</th><th>y</th>"
    content = build({"t.parquet": data})
    with server.client() as api:
        v = publish(api, "parquet", content.files, content.pack, project="uidata-parquet")
    assert expected in _preview(c, v["id"], "t.parquet")
