"""The model registry pages over plain HTTP with a signed-in session, on SQLite and PostgreSQL:
the table with its filters, sort, metadata columns and pages; bulk publish and archive (CSRF,
rights: all or nothing); a model's page with its lineage links, labels, metadata and the
owner's actions; the task page's Models tab; signed-out visitors go to the login page."""

from __future__ import annotations

import html
import re
import uuid

import httpx
import pytest
from tests.ui.conftest import csrf_of, login_client
from tests.ui.model_world import API, ModelWorld, create_model, make_model_world, ok


@pytest.fixture(scope="module")
def world(server) -> ModelWorld:
    return make_model_world(server)


@pytest.fixture(scope="module")
def c(server) -> httpx.Client:
    client = login_client(server.url, "admin", "admin-password")
    yield client
    client.close()


@pytest.fixture(scope="module")
def owner(server, world) -> httpx.Client:
    client = login_client(server.url, world.owner, f"{world.owner}-password")
    yield client
    client.close()


@pytest.fixture(scope="module")
def other(server, world) -> httpx.Client:
    client = login_client(server.url, world.other, f"{world.other}-password")
    yield client
    client.close()


def _ok(resp: httpx.Response) -> str:
    assert resp.status_code == 200, resp.text[:800]
    assert resp.headers["content-type"].startswith("text/html")
    return resp.text


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr data-model="([^"]+)"', page)


def _form_token(page: str, form_id: str) -> str:
    """The CSRF token the form itself carries (what a browser posts), checked against the
    page's own."""
    form = page[page.index(f'id="{form_id}"'):]
    form = form[:form.index("</form>")]
    token = re.search(r'name="csrf_token" value="([^"]*)"', form)
    assert token and token.group(1) == csrf_of(page), "the form carries no CSRF token"
    return token.group(1)


def _table(c: httpx.Client, world: ModelWorld, **params) -> list[str]:
    return _rows(_ok(c.get("/models", params={"project": world.project, **params})))


def test_signed_out_visitors_are_sent_to_the_login_page(server, world):
    anon = httpx.Client(base_url=server.url, headers={"Accept": "text/html"})
    for url in ("/models", f"/models/{world.model['id']}"):
        resp = anon.get(url)
        assert resp.status_code == 303, url
        assert resp.headers["location"].startswith("/login?next=%2Fmodels")
    resp = anon.post("/models/bulk", data={"action": "publish", "ids": world.draft["id"]})
    assert resp.status_code in (303, 401, 403)
    assert ok(httpx.get(f"{server.url}{API}/models/{world.draft['id']}",
                        auth=(server.admin_key, server.admin_secret)))["published"] is False


def test_table_lists_and_filters(c, world):
    page = _ok(c.get("/models"))
    assert '<a href="/models" class="active">Models</a>' in page
    assert {world.base["id"], world.model["id"], world.draft["id"]} <= set(_rows(page))
    assert _table(c, world) == [world.draft["id"], world.model["id"], world.base["id"]]
    assert _table(c, world, q="RESNET") == [world.model["id"]]
    assert _table(c, world, tag="cheap") == [world.draft["id"]]
    assert _table(c, world, tag="-cheap") == [world.model["id"], world.base["id"]]
    assert _table(c, world, framework="ScikitLearn") == [world.draft["id"]]
    assert _table(c, world, state="published") == [world.base["id"]]
    assert _table(c, world, state="draft") == [world.draft["id"], world.model["id"]]
    assert _table(c, world, archived="1") == []
    empty = _ok(c.get("/models", params={"project": world.project, "q": "nothing-like-it"}))
    assert "No model matches" in empty


def test_sort_columns_and_pages(c, world):
    assert _table(c, world, sort="name") == [world.base["id"], world.draft["id"],
                                             world.model["id"]]
    assert _table(c, world, sort="-name") == [world.model["id"], world.draft["id"],
                                              world.base["id"]]
    page = _ok(c.get("/models", params={"project": world.project, "col": "meta:accuracy",
                                        "sort": "-meta:accuracy"}))
    assert '<th class="sorted desc k-meta">' in page
    cells = re.findall(r'<td class="num" data-col="meta:accuracy">([^<]*)</td>', page)
    assert _rows(page)[:2] == [world.model["id"], world.draft["id"]]
    assert cells[:2] == ["0.91", "0.8"]
    # a metadata filter in the column's cell
    assert _table(c, world, col="meta:accuracy", **{"f.meta:accuracy": ">0.85"}) == [
        world.model["id"]]
    # the column set is remembered for the project
    again = _ok(c.get("/models", params={"project": world.project}))
    assert 'data-col="meta:accuracy"' in again
    _ok(c.get("/models", params={"project": world.project, "col": ""}))
    assert 'data-col="meta:accuracy"' not in _ok(c.get("/models",
                                                       params={"project": world.project}))
    first = _ok(c.get("/models", params={"project": world.project, "limit": "25"}))
    assert 'class="next"' not in first


def test_cursor_pages(server, c, world):
    project = f"{world.project}-pages"
    with server.client() as http:
        made = [create_model(http, project=project, name=f"m{i:02d}")["id"] for i in range(30)]
    page = _ok(c.get("/models", params={"project": project, "limit": "25"}))
    first = _rows(page)
    assert first == made[::-1][:25]
    nxt = re.search(r'<a href="([^"]+)" class="next">', page)
    assert nxt
    second = _rows(_ok(c.get(html.unescape(nxt.group(1)))))
    assert second == made[::-1][25:]


def test_model_page(c, world):
    page = _ok(c.get(f"/models/{world.model['id']}"))
    for expected in (world.model["name"], world.project, "PyTorch", "the best one",
                     f"arno://models/{world.model['id']}", "owner_note", "0.91"):
        assert html.escape(expected) in page, expected
    assert '<span class="status st-draft">draft</span>' in page
    # lineage: links to the dataset, the creating task, the input model, the consumer
    graph = page[page.index('id="lineage"'):page.index("</svg>")]
    assert f'href="/datasets/versions/{world.dataset["id"]}"' in graph
    assert f'href="/tasks/{world.task_id}"' in graph
    assert f'href="/models/{world.base["id"]}"' in graph
    assert f'href="/tasks/{world.consumer_id}"' in graph
    assert graph.count('class="edge"') == 4  # 2 inputs -> task -> model -> 1 consumer
    assert re.search(r'id="labels">.*<td>cat</td><td class="num">0</td>', page, re.S)
    assert "&#34;layers&#34;: 18" in page or "&quot;layers&quot;: 18" in page
    # the creating task's scalars are drawn by the chart script
    assert f'id="scalars" class="charts" data-task="{world.task_id}"' in page
    assert "/static/plotly.min.js" in page and "/static/js/charts.js" in page
    # an admin sees the actions
    assert 'action="/models/' + world.model["id"] + '/action"' in page


def test_unknown_model_is_the_404_page(c):
    resp = c.get(f"/models/{uuid.uuid4().hex}")
    assert resp.status_code == 404 and "text/html" in resp.headers["content-type"]


def test_task_page_models_tab(c, world):
    page = _ok(c.get(f"/tasks/{world.task_id}", params={"tab": "models"}))
    assert 'href="/tasks/' + world.task_id + '?tab=models" class="active">Models</a>' in page
    inputs = page[page.index('id="inputmodels"'):page.index('id="outputmodels"')]
    outputs = page[page.index('id="outputmodels"'):]
    assert f'href="/models/{world.base["id"]}"' in inputs and ">base<" in inputs
    assert f'href="/models/{world.model["id"]}"' in outputs
    consumer = _ok(c.get(f"/tasks/{world.consumer_id}", params={"tab": "models"}))
    assert "pretrained" in consumer and f'/models/{world.model["id"]}' in consumer
    assert "This task created no model." in consumer


def test_other_users_see_no_actions_and_are_refused(server, world, other):
    page = _ok(other.get(f"/models/{world.model['id']}"))
    assert "/action" not in page
    token = csrf_of(page)
    for action in ("publish", "archive", "delete"):
        resp = other.post(f"/models/{world.model['id']}/action",
                          data={"action": action, "csrf_token": token})
        assert resp.status_code == 403, action
    with server.client() as http:
        still = ok(http.get(f"{API}/models/{world.model['id']}"))
        assert still["published"] is False and still["archived"] is False
    # bulk: one foreign model among the selection -> nothing changes
    with server.client(*_keys(server, world.other)) as http:
        own = create_model(http, project=world.project, name="bob-own")
        ok(http.put(f"{API}/models/{own['id']}/weights", json={"uri": "s3://b/own.pt"}))
    resp = other.post("/models/bulk", data={"action": "publish", "csrf_token": token,
                                            "ids": [own["id"], world.model["id"]],
                                            "next": "/models"})
    assert resp.status_code == 403
    with server.client() as http:
        assert ok(http.get(f"{API}/models/{world.model['id']}"))["published"] is False
        assert ok(http.get(f"{API}/models/{own['id']}"))["published"] is False
        ok(http.delete(f"{API}/models/{own['id']}", params={"force": "true"}), 204)


def _keys(server, username: str) -> tuple[str, str]:
    key = server.services.auth.create_key(username)
    return key.access_key, key.secret_key


def test_bulk_needs_the_csrf_token(owner, world):
    resp = owner.post("/models/bulk", data={"action": "archive", "ids": world.draft["id"],
                                            "csrf_token": "forged"})
    assert resp.status_code == 403
    assert world.draft["id"] in _table(owner, world)


def test_bulk_publish_and_archive(server, owner, world):
    with server.client(world.owner_key, world.owner_secret) as http:
        a = create_model(http, project=world.project, name="bulk-a")
        b = create_model(http, project=world.project, name="bulk-b")
        for m in (a, b):
            ok(http.put(f"{API}/models/{m['id']}/weights", json={"uri": f"s3://b/{m['id']}"}))
    page = _ok(owner.get("/models", params={"project": world.project}))
    token = _form_token(page, "bulk")
    nxt = f"/models?project={world.project}"
    resp = owner.post("/models/bulk", data={"action": "publish", "csrf_token": token,
                                            "ids": [a["id"], b["id"]], "next": nxt})
    assert resp.status_code == 303
    assert "msg=Published%202%20models" in resp.headers["location"]
    assert {a["id"], b["id"]} <= set(_table(owner, world, state="published"))
    resp = owner.post("/models/bulk", data={"action": "archive", "csrf_token": token,
                                            "ids": [a["id"], b["id"]], "next": nxt})
    assert "msg=Archived%202%20models" in resp.headers["location"]
    assert set(_table(owner, world, archived="1")) == {a["id"], b["id"]}
    resp = owner.post("/models/bulk", data={"action": "unarchive", "csrf_token": token,
                                            "ids": [a["id"]], "next": nxt})
    assert a["id"] in _table(owner, world)
    resp = owner.post("/models/bulk", data={"action": "publish", "csrf_token": token,
                                            "ids": [world.draft["id"]], "next": nxt})
    assert resp.status_code == 303 and "err=" in resp.headers["location"]
    assert "no%20weights" in resp.headers["location"]


def test_owner_actions_on_the_model_page(server, owner, world):
    with server.client(world.owner_key, world.owner_secret) as http:
        m = create_model(http, project=world.project, name="page-actions")
        ok(http.put(f"{API}/models/{m['id']}/weights", json={"uri": "s3://b/p.pt"}))
    page = _ok(owner.get(f"/models/{m['id']}"))
    token = _form_token(page, "modelactions")
    assert 'value="publish"' in page
    resp = owner.post(f"/models/{m['id']}/action", data={"action": "publish",
                                                         "csrf_token": token})
    assert resp.status_code == 303
    page = _ok(owner.get(resp.headers["location"]))
    assert '<span class="status st-published">published</span>' in page
    assert 'value="publish"' not in page
    resp = owner.post(f"/models/{m['id']}/action", data={"action": "delete",
                                                         "csrf_token": token})
    assert resp.status_code == 303
    assert owner.get(f"/models/{m['id']}").status_code == 404
