"""The web UI over plain HTTP, on SQLite and PostgreSQL: sessions, CSRF, error pages, escaping,
rights, the experiment table's query string, settings, editing and compare."""

from __future__ import annotations

import csv
import io
import re
import uuid

import httpx
import pytest
from tests.ui.conftest import bulk_tasks, csrf_of, login_client, user_id

from arno.core.schemas import (
    ArtifactCreate,
    ConsoleLineIn,
    EventBatch,
    HyperParam,
    ScalarSeriesIn,
    TaskCreate,
)
from arno.services.principal import Principal

XSS = "<script>alert('pwned')</script>"


def _principal(server, name: str) -> Principal:
    u = next(u for u in server.services.auth.list_users() if u.username == name)
    return Principal(u.id, u.username, u.role)


@pytest.fixture(scope="module")
def bob(server):
    server.user("bob")
    return _principal(server, "bob")


@pytest.fixture(scope="module")
def admin(server):
    return _principal(server, "admin")


def _task(server, who, **kw) -> str:
    body = {"project": "ui/http", "name": "a task", **kw}
    return server.services.tasks.create(TaskCreate(**body), who).id


# ---- sessions --------------------------------------------------------------------------------


def test_login_sets_a_safe_session_cookie_and_logout_ends_it(server):
    c = httpx.Client(base_url=server.url, headers={"Accept": "text/html"})
    page = c.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    resp = c.post("/login", data={"username": "admin", "password": "admin-password",
                                  "csrf_token": token, "next": "/tasks?q=x"})
    assert resp.status_code == 303 and resp.headers["location"] == "/tasks?q=x"
    cookie = next(h for h in resp.headers.get_list("set-cookie") if h.startswith("arno_session="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    home = c.get("/")
    assert home.status_code == 200 and "Dashboard" in home.text
    out = c.post("/logout", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert c.get("/").status_code == 303  # signed out: back to the login page


def test_login_refuses_a_wrong_password_an_api_key_and_an_offsite_next(server):
    c = httpx.Client(base_url=server.url, headers={"Accept": "text/html"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    bad = c.post("/login", data={"username": "admin", "password": "nope", "csrf_token": token})
    assert bad.status_code == 401 and "invalid username or password" in bad.text
    assert "www-authenticate" not in bad.headers  # no browser password popup
    token = re.search(r'name="csrf_token" value="([^"]+)"', bad.text).group(1)
    key = c.post("/login", data={"username": server.admin_key, "password": server.admin_secret,
                                 "csrf_token": token})
    assert key.status_code == 401  # API keys do not open browser sessions
    token = re.search(r'name="csrf_token" value="([^"]+)"', key.text).group(1)
    ok = c.post("/login", data={"username": "admin", "password": "admin-password",
                                "csrf_token": token, "next": "//evil.example/"})
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    # the login form itself is CSRF protected
    fresh = httpx.Client(base_url=server.url)
    assert fresh.post("/login", data={"username": "admin", "password": "admin-password",
                                      "csrf_token": "forged"}).status_code == 403


def test_browsers_go_to_login_and_the_api_keeps_answering_401_json(server):
    page = httpx.get(f"{server.url}/tasks?q=abc", headers={"Accept": "text/html"})
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Ftasks%3Fq%3Dabc"
    api = httpx.get(f"{server.url}/api/v1/tasks", headers={"Accept": "text/html"})
    assert api.status_code == 401 and api.json()["error"]["code"] == "unauthorized"
    # HTTP Basic still opens the pages (scripts, the README's check)
    basic = httpx.get(f"{server.url}/tasks", auth=("admin", "admin-password"))
    assert basic.status_code == 200


def test_the_cookie_reads_the_api_and_writes_need_the_csrf_header(server, admin):
    c = login_client(server.url, "admin", "admin-password")
    tid = _task(server, admin)
    assert c.get(f"/api/v1/tasks/{tid}").json()["id"] == tid
    patch = c.patch(f"/api/v1/tasks/{tid}", json={"comment": "x"})
    assert patch.status_code == 403 and patch.json()["error"]["code"] == "forbidden"
    token = csrf_of(c.get("/").text)
    ok = c.patch(f"/api/v1/tasks/{tid}", json={"comment": "x"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and ok.json()["comment"] == "x"


def test_a_stale_or_forged_csrf_token_is_refused(server, admin):
    tid = _task(server, admin, tags=["keep"])
    first = login_client(server.url, "admin", "admin-password")
    old_token = csrf_of(first.get("/").text)
    first.post("/logout", data={"csrf_token": old_token})
    second = login_client(server.url, "admin", "admin-password")  # a new session
    for token in (old_token, "forged", ""):
        resp = second.post(f"/tasks/{tid}/edit", data={"name": "renamed", "tags": "",
                                                       "comment": "", "csrf_token": token})
        assert resp.status_code == 403, token
        assert "text/html" in resp.headers["content-type"] and "CSRF" in resp.text
    assert server.services.tasks.get(tid).name == "a task"
    good = csrf_of(second.get("/").text)
    resp = second.post(f"/tasks/{tid}/edit", data={"name": "renamed", "tags": "keep",
                                                   "comment": "", "csrf_token": good})
    assert resp.status_code == 303
    assert server.services.tasks.get(tid).name == "renamed"


def test_unknown_ids_and_pages_give_html_404_and_the_api_keeps_json(server):
    c = login_client(server.url, "admin", "admin-password")
    missing = uuid.uuid4().hex
    for path in (f"/tasks/{missing}", f"/tasks/{missing}?tab=scalars", "/tasks/not-an-id",
                 f"/compare?ids={missing}", "/no/such/page",
                 f"/tasks/{missing}/artifact-file?name=x"):
        resp = c.get(path)
        assert resp.status_code == 404, path
        assert resp.headers["content-type"].startswith("text/html"), path
        assert "Not found" in resp.text and "errorpage" in resp.text, path
    api = c.get(f"/api/v1/tasks/{missing}")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


# ---- escaping and rights -------------------------------------------------------------------


def test_user_text_renders_as_text_everywhere(server, admin):
    svc = server.services
    tid = svc.tasks.create(TaskCreate(
        project=f"ui/{XSS}", name=XSS, tags=[XSS], comment=XSS,
        hyperparams=[HyperParam(section="General", name=XSS, value=XSS)],
        user_properties={XSS: XSS}), admin).id
    svc.events.ingest(tid, EventBatch(
        batch_id=uuid.uuid4().hex,
        console=[ConsoleLineIn(text=XSS, stream="stderr", timestamp=1.0)],
        scalars=[ScalarSeriesIn(metric=XSS, variant=XSS, iterations=[0], values=[1.0],
                                timestamps=[1.0])]))
    info = svc.store.put_bytes(b"x")
    svc.artifacts.register(tid, XSS, ArtifactCreate(hash=info.hash, preview=XSS), admin)
    c = login_client(server.url, "admin", "admin-password")
    pages = [f"/tasks/{tid}?tab={t}" for t in ("execution", "configuration", "artifacts",
                                                "info", "console", "scalars")]
    pages += ["/", "/projects", "/tasks", f"/tasks?q={XSS}",
              f"/compare?ids={tid}", f"/compare?tab=table&ids={tid}",
              f"/compare?tab=parallel&ids={tid}"]
    for path in pages:
        html = c.get(path).text
        assert XSS not in html, path
        assert "&lt;script&gt;" in html or "\\u003cscript" in html, path
    assert c.get(f"/tasks/{tid}?tab=console").text.count("&lt;script&gt;alert(") >= 1


def test_a_non_owner_sees_no_edit_controls_and_is_refused_anyway(server, admin, bob):
    tid = _task(server, admin, hyperparams=[HyperParam(section="General", name="lr",
                                                        value="0.1")])
    owner = login_client(server.url, "admin", "admin-password")
    html = owner.get(f"/tasks/{tid}?tab=configuration").text
    assert 'name="value"' in html and 'value="enqueue"' in html and 'value="delete"' in html
    other = login_client(server.url, "bob", "bob-password")
    html = other.get(f"/tasks/{tid}?tab=configuration").text
    assert 'name="value"' not in html and 'value="enqueue"' not in html
    assert 'value="delete"' not in html and 'value="archive"' not in html
    assert "0.1" in html  # still readable
    token = csrf_of(html)
    forced = [
        (f"/tasks/{tid}/params", {"section": "General", "name": "lr", "value": "9"}),
        (f"/tasks/{tid}/action", {"action": "delete"}),
        (f"/tasks/{tid}/action", {"action": "enqueue", "queue": "default"}),
        (f"/tasks/{tid}/edit", {"name": "mine now"}),
        (f"/tasks/{tid}/properties", {"key": "k", "value": "v"}),
        ("/tasks/bulk", {"action": "archive", "ids": tid}),
        ("/settings/users", {"username": "eve", "password": "eve-password-1"}),
    ]
    for path, data in forced:
        resp = other.post(path, data={**data, "csrf_token": token})
        assert resp.status_code == 403, (path, resp.status_code)
    assert server.services.tasks.get_params(tid)[0].value == "0.1"
    assert server.services.tasks.get(tid).name == "a task"


# ---- the experiment table --------------------------------------------------------------------


@pytest.fixture(scope="module")
def table_tasks(server, admin):
    return bulk_tasks(server.services, "ui/table", 300, admin.user_id, seed=4)


def _names(html: str) -> list[str]:
    return re.findall(r'class="tasklink"[^>]*>([^<]+)</a>', html)


def test_table_sorts_by_a_metric_filters_a_tag_and_pages(server, table_tasks):
    c = login_client(server.url, "admin", "admin-password")
    best = sorted((t for t in table_tasks if "even" in t["tags"]), key=lambda t: t["loss"])
    resp = c.get("/tasks", params=[("project", "ui/table"), ("sort", "metric:loss/val"),
                                   ("tag", "even"), ("col", "metric:loss/val"),
                                   ("col", "param:General/lr"), ("limit", "25")])
    assert resp.status_code == 200
    names = _names(resp.text)
    assert names == [t["name"] for t in best[:25]]
    assert f"{best[0]['loss']:.6g}" in resp.text
    assert "150 tasks" in resp.text
    nxt = re.search(r'href="([^"]+)" class="next"', resp.text).group(1).replace("&amp;", "&")
    page2 = c.get(nxt)
    assert _names(page2.text) == [t["name"] for t in best[25:50]]
    assert "26–50 of 150" in page2.text
    # descending, and a filter on the metric and on a hyperparameter column
    desc = c.get("/tasks", params=[("project", "ui/table"), ("sort", "-metric:acc/val"),
                                   ("f.metric:loss/val", "<1"), ("f.param:General/lr", "0.01"),
                                   ("col", "metric:acc/val")])
    expect = sorted((t for t in table_tasks if t["loss"] < 1
                     and table_tasks.index(t) % 4 == 1), key=lambda t: -t["acc"])
    assert _names(desc.text) == [t["name"] for t in expect][:50]


def test_table_filters_on_builtin_columns_and_searches(server, table_tasks):
    c = login_client(server.url, "admin", "admin-password")
    by_name = c.get("/tasks", params={"project": "ui/table", "f.name": "trial 012"})
    assert sorted(_names(by_name.text)) == [f"trial 012{i}" for i in range(10)]
    by_q = c.get("/tasks", params={"project": "ui/table", "q": "trial 0299"})
    assert _names(by_q.text) == ["trial 0299"]
    longest = c.get("/tasks", params={"project": "ui/table", "sort": "-duration",
                                      "f.duration": ">290.5s", "limit": "25"})
    assert _names(longest.text)[0] == "trial 0299"  # trial i ran 30 + i seconds
    assert "39 tasks" in longest.text  # 30 + i > 290.5 for i >= 261
    none = c.get("/tasks", params={"project": "ui/table", "status": "failed"})
    assert "No tasks match" in none.text
    bad = c.get("/tasks", params={"project": "ui/table", "f.metric:loss/val": "<abc"})
    assert bad.status_code == 422 and "not a number" in bad.text


def test_table_remembers_the_column_set_per_project(server, table_tasks):
    c = login_client(server.url, "admin", "admin-password")
    c.get("/tasks", params=[("project", "ui/table"), ("col", "param:General/batch")])
    again = c.get("/tasks", params={"project": "ui/table"})
    assert "General/batch" in again.text
    other = c.get("/tasks", params={"project": "ui/http"})
    assert "General/batch" not in other.text
    cleared = c.get("/tasks", params={"project": "ui/table", "col": ""})
    assert "General/batch" not in cleared.text
    keys = c.get("/tasks/columns.json", params={"project": "ui/table"}).json()["columns"]
    assert {"param:General/lr", "metric:loss/val", "metric:loss/val:min"} <= set(keys)


def test_bulk_archive_tag_and_delete(server, admin):
    svc = server.services
    made = bulk_tasks(svc, "ui/bulk", 6, admin.user_id, seed=1)
    ids = [t["id"] for t in made]
    c = login_client(server.url, "admin", "admin-password")
    token = csrf_of(c.get("/tasks?project=ui/bulk").text)

    def post(action: str, sel: list[str], **extra: str) -> httpx.Response:
        return c.post("/tasks/bulk", data={"action": action, "ids": sel, "csrf_token": token,
                                           "next": "/tasks?project=ui/bulk", **extra})

    resp = post("tag", ids[:3], tag="best")
    assert resp.status_code == 303 and "msg=Tagged%203%20tasks" in resp.headers["location"]
    assert all("best" in svc.tasks.get(i).tags for i in ids[:3])
    post("untag", ids[:1], tag="best")
    assert "best" not in svc.tasks.get(ids[0]).tags
    post("archive", ids[3:5])
    assert svc.tasks.get(ids[3]).archived and not svc.tasks.get(ids[2]).archived
    listed = c.get("/tasks?project=ui/bulk").text
    assert made[3]["name"] not in listed and made[2]["name"] in listed
    assert made[3]["name"] in c.get("/tasks?project=ui/bulk&archived=1").text
    post("delete", ids[5:])
    assert c.get(f"/tasks/{ids[5]}").status_code == 404


# ---- settings ---------------------------------------------------------------------------------


def test_settings_make_and_revoke_keys_and_admins_manage_users(server, bob):
    c = login_client(server.url, "bob", "bob-password")
    page = c.get("/settings")
    assert "Your API keys" in page.text and "Create user" not in page.text
    made = c.post("/settings/keys", data={"label": "laptop", "csrf_token": csrf_of(page.text)})
    assert made.status_code == 201 and "shown only once" in made.text
    key = re.search(r'id="newaccess">([^<]+)<', made.text).group(1)
    secret = re.search(r'id="newsecret">([^<]+)<', made.text).group(1)
    assert httpx.get(f"{server.url}/api/v1/me", auth=(key, secret)).json()["username"] == "bob"
    again = c.get("/settings")
    assert secret not in again.text and key in again.text
    kid = next(k.id for k in server.services.auth.list_keys() if k.access_key == key)
    c.post(f"/settings/keys/{kid}/revoke", data={"csrf_token": csrf_of(again.text)})
    assert httpx.get(f"{server.url}/api/v1/me", auth=(key, secret)).status_code == 401

    a = login_client(server.url, "admin", "admin-password")
    page = a.get("/settings")
    assert "Create user" in page.text
    token = csrf_of(page.text)
    created = a.post("/settings/users", data={"username": "carol", "password": "carol-pass-1",
                                              "role": "user", "csrf_token": token})
    assert created.status_code == 303
    login_client(server.url, "carol", "carol-pass-1")
    bad = a.post("/settings/users", data={"username": "bad name!", "password": "xxxxxxxx1",
                                          "csrf_token": token})
    assert bad.status_code == 422
    carol = user_id(server.services, "carol")
    a.post(f"/settings/users/{carol}/disabled", data={"disabled": "1", "csrf_token": token})
    with pytest.raises(AssertionError):
        login_client(server.url, "carol", "carol-pass-1")


# ---- editing and comparing ---------------------------------------------------------------


def test_a_drafts_inputs_are_edited_from_its_page(server, admin):
    svc = server.services
    tid = svc.tasks.create(TaskCreate(
        project="ui/edit", name="draft",
        hyperparams=[HyperParam(section="General", name="lr", value="0.1"),
                     HyperParam(section="General", name="drop", value="x")],
        configurations=[{"name": "prep", "value": "a: 1"}]), admin).id
    c = login_client(server.url, "admin", "admin-password")
    token = csrf_of(c.get(f"/tasks/{tid}?tab=configuration").text)
    resp = c.post(f"/tasks/{tid}/params", data={
        "section": ["General", "General"], "name": ["lr", "drop"], "value": ["0.02", "x"],
        "delete": ["General/drop"], "new_section": "Args", "new_name": "seed",
        "new_value": "7", "csrf_token": token})
    assert resp.status_code == 303
    params = {f"{p.section}/{p.name}": p.value for p in svc.tasks.get_params(tid)}
    assert params == {"General/lr": "0.02", "Args/seed": "7"}
    c.post(f"/tasks/{tid}/configs", data={"name": "prep", "value": "a: 2\r\n",
                                          "csrf_token": token})
    assert svc.tasks.get_configs(tid)[0].value == "a: 2\n"
    c.post(f"/tasks/{tid}/properties", data={"key": ["note"], "value": ["hello"],
                                             "csrf_token": token})
    assert svc.tasks.get(tid).user_properties["note"] == "hello"
    # once it ran, inputs are frozen: no form, and the server refuses
    from arno.core.schemas import StatusChange

    svc.tasks.set_status(tid, StatusChange(status="in_progress"), admin)
    assert 'name="value" value="0.02"' not in c.get(f"/tasks/{tid}?tab=configuration").text
    late = c.post(f"/tasks/{tid}/params", data={"section": "General", "name": "lr",
                                                "value": "5", "csrf_token": token})
    assert late.status_code == 409


def test_compare_shows_differences_and_exports_the_scalar_table(server, admin):
    svc = server.services
    ids = []
    for i, (lr, losses) in enumerate([("0.1", [3.0, 1.0, 2.0]), ("0.1", [4.0, 0.5, 0.7]),
                                      ("0.3", [2.0, 2.5, 1.5])]):
        tid = svc.tasks.create(TaskCreate(project="ui/cmp", name=f"cmp {i}", hyperparams=[
            HyperParam(section="General", name="lr", value=lr),
            HyperParam(section="General", name="seed", value="1")]), admin).id
        svc.events.ingest(tid, EventBatch(batch_id=uuid.uuid4().hex, scalars=[ScalarSeriesIn(
            metric="loss", variant="val", iterations=[0, 1, 2], values=losses,
            timestamps=[1.0, 2.0, 3.0])]))
        ids.append(tid)
    c = login_client(server.url, "admin", "admin-password")
    html = c.get("/compare", params={"ids": ",".join(ids)}).text
    row = re.search(r'<tr class="(\w+)" data-key="General/lr">', html)
    assert row and row.group(1) == "diff"
    assert re.search(r'<tr class="same" data-key="General/seed">', html)
    table = c.get("/compare", params={"ids": ",".join(ids), "tab": "table"}).text
    assert 'class="num best">0.7<' in table  # lowest last loss
    text = c.get("/compare/scalars.csv", params={"ids": ",".join(ids)}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    got = {r["task_id"]: (float(r["last"]), float(r["min"]), float(r["max"])) for r in rows}
    assert got == {ids[0]: (2.0, 1.0, 3.0), ids[1]: (0.7, 0.5, 4.0), ids[2]: (1.5, 1.5, 2.5)}
    par = c.get("/compare", params={"ids": ",".join(ids), "tab": "parallel",
                                    "p": "General/lr", "m": "loss/val|min"}).text
    assert "parcoords" in par and "General/lr" in par


def test_pages_load_and_plotly_is_served_locally(server):
    c = login_client(server.url, "admin", "admin-password")
    for path in ("/", "/projects", "/tasks", "/workers", "/settings"):
        resp = c.get(path)
        assert resp.status_code == 200, path
        # nothing loaded from another host (a random key id may contain the letters "cdn")
        assert not re.search(r'(src|href)="(https?:)?//', resp.text), path
        assert "cdn." not in resp.text.lower(), path
    js = c.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert c.get("/static/js/arno.js").status_code == 200
    assert "parcoords" in js.text[:5_000_000]


# ---- actions, workers and queues ---------------------------------------------------------


def test_task_actions_from_its_page(server, admin):
    from arno.core.schemas import StatusChange, WorkerRegister

    svc = server.services
    tid = _task(server, admin, name="runner")
    c = login_client(server.url, "admin", "admin-password")
    token = csrf_of(c.get(f"/tasks/{tid}").text)

    def act(action: str, task: str = tid, **extra: str) -> httpx.Response:
        return c.post(f"/tasks/{task}/action", data={"action": action, "csrf_token": token,
                                                     **extra})

    assert act("enqueue", queue="default").status_code == 303
    assert svc.tasks.get(tid).status == "queued"
    # the workers page shows the queue with the task waiting, and a worker with its stats
    svc.queues.register(WorkerRegister(id="gpu-box-1", host="gpu-box", queues=["default"]),
                        admin)
    svc.queues.heartbeat("gpu-box-1", {"cpu_percent": 37.5, "memory_percent": 61.0}, [])
    page = c.get("/workers").text
    assert "gpu-box-1" in page and "37.5" in page and "runner" in page
    assert act("dequeue").status_code == 303 and svc.tasks.get(tid).status == "created"
    act("enqueue", queue="default")
    back = act("abort", next="/workers")
    assert back.headers["location"].startswith("/workers?msg=")
    assert svc.tasks.get(tid).status == "stopped"
    reset = act("reset")
    assert reset.status_code == 303 and svc.tasks.get(tid).status == "created"
    svc.tasks.set_status(tid, StatusChange(status="completed"), admin)
    act("publish")
    assert svc.tasks.get(tid).status == "published"
    clone = act("clone")
    new_id = clone.headers["location"].split("/tasks/")[1].split("?")[0]
    assert new_id != tid and svc.tasks.get(new_id).status == "created"
    act("archive", task=new_id)
    assert svc.tasks.get(new_id).archived
    gone = act("delete", task=new_id)
    assert gone.status_code == 303 and "msg=Deleted" in gone.headers["location"]
    assert c.get(f"/tasks/{new_id}").status_code == 404
    conflict = act("enqueue", queue="default")  # a published task cannot run again
    assert conflict.status_code == 409 and "text/html" in conflict.headers["content-type"]


def test_live_json_and_full_resolution_view(server, admin):
    from arno.core.schemas import StatusChange

    svc = server.services
    tid = _task(server, admin, name="live one")
    svc.tasks.set_status(tid, StatusChange(status="in_progress"), admin)
    c = login_client(server.url, "admin", "admin-password")
    page = c.get(f"/tasks/{tid}?tab=console").text
    assert 'data-live="1"' in page and 'id="follow"' in page
    data = c.get("/tasks/live.json", params={"ids": f"{tid},nonsense"}).json()["tasks"]
    assert [(t["id"], t["status"]) for t in data] == [(tid, "in_progress")]
    full = c.get(f"/tasks/{tid}", params={"tab": "scalars", "full": "loss"}).text
    assert 'data-full="loss"' in full and 'data-maxpoints="0"' in full


def test_a_metric_sort_pages_through_tasks_without_the_metric_last(server, admin):
    svc = server.services
    values = [5.0, 1.0, 3.0, float("nan"), 2.0, 4.0, 0.5]
    with_metric = []
    for i, v in enumerate(values):
        tid = svc.tasks.create(TaskCreate(project="ui/mixed", name=f"m{i}"), admin).id
        svc.events.ingest(tid, EventBatch(batch_id=uuid.uuid4().hex, scalars=[ScalarSeriesIn(
            metric="score", variant="x", iterations=[0], values=[v], timestamps=[1.0])]))
        with_metric.append((v, f"m{i}"))
    for i in range(3):
        svc.tasks.create(TaskCreate(project="ui/mixed", name=f"none{i}"), admin)
    c = login_client(server.url, "admin", "admin-password")

    def pages(sort: str) -> list[str]:
        names, cursor = [], None
        while True:
            params = {"project": "ui/mixed", "sort": [sort, "name"], "limit": 4}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/api/v1/tasks", params=params).json()
            names += [t["name"] for t in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return names

    finite = sorted((v, n) for v, n in with_metric if v == v)
    last = ["m3", "none0", "none1", "none2"]  # NaN and missing values, by name
    assert pages("metric:score/x") == [n for _, n in finite] + last
    assert pages("-metric:score/x") == [n for _, n in reversed(finite)] + last
