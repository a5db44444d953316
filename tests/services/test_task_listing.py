"""Listing tasks through the live server: every filter, sorting by columns, parameters and
metrics, and cursor pages, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from tests.conftest import LiveServer

API = "/api/v1"


@dataclass
class World:
    root: str
    ids: dict[str, str]
    """short name -> task id"""
    user: str
    user_id: str
    client: httpx.Client

    def names(self, **params) -> list[str]:
        """Short names of the listed tasks, in order (all pages)."""
        params.setdefault("project", self.root)
        params.setdefault("limit", 100)
        resp = self.client.get(f"{API}/tasks", params=params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        assert page["next_cursor"] is None
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[t["id"]] for t in page["items"]]

    def same(self, expected: set[str], **params) -> None:
        assert set(self.names(**params)) == expected, params


def _make(c: httpx.Client, project: str, name: str, *, tags: list[str] = (), status: str = "",
          params: dict[str, str] | None = None,
          metrics: dict[str, list[tuple[int, float]]] | None = None) -> str:
    resp = c.post(f"{API}/tasks", json={
        "project": project, "name": name, "tags": list(tags),
        "hyperparams": [{"section": k.split("/")[0], "name": k.split("/", 1)[1], "value": v}
                        for k, v in (params or {}).items()],
    })
    assert resp.status_code == 201, resp.text
    task_id = resp.json()["id"]
    if metrics:
        scalars = [{"metric": k.split("/")[0], "variant": k.split("/")[1],
                    "iterations": [i for i, _ in pts], "values": [v for _, v in pts],
                    "timestamps": [1.0] * len(pts)} for k, pts in metrics.items()]
        resp = c.post(f"{API}/tasks/{task_id}/events",
                      json={"batch_id": uuid.uuid4().hex, "scalars": scalars})
        assert resp.status_code == 200, resp.text
    for step in {"completed": ["completed"], "in_progress": ["in_progress"],
                 "failed": ["in_progress", "failed"], "": []}[status]:
        resp = c.post(f"{API}/tasks/{task_id}/status", json={"status": step})
        assert resp.status_code == 200, resp.text
    return str(task_id)


@pytest.fixture(scope="module")
def world(server: LiveServer) -> Iterator[World]:
    root = f"q{uuid.uuid4().hex[:8]}"
    user = f"quser{uuid.uuid4().hex[:6]}"
    key, secret = server.user(user)
    with server.client() as admin, server.client(key, secret) as other:
        user_id = other.get(f"{API}/me").json()["user_id"]
        ids = {
            "t1": _make(admin, f"{root}/a", "alpha one", tags=["x", "keep"], status="completed",
                        params={"General/lr": "0.1", "General/opt": "adam"},
                        metrics={"loss/val": [(0, 0.2), (1, 0.3)]}),
            "t2": _make(other, f"{root}/a/sub", "Alpha two", tags=["keep"], status="in_progress",
                        params={"General/lr": "0.001", "General/opt": "sgd"},
                        metrics={"loss/val": [(0, 0.1), (1, 0.7)]}),
            "t3": _make(other, f"{root}/b", "beta", tags=["x"],
                        params={"General/lr": "0.05", "General/opt": "adam"}),
            "t4": _make(admin, f"{root}/b", "gamma 3", status="failed",
                        params={"General/lr": "1e-2", "Args/batch": "32"},
                        metrics={"loss/val": [(0, 0.45)], "acc/val": [(0, 0.9)]}),
        }
        # a look-alike outside the tree, which no filter on the tree may return
        _make(admin, f"{root}-other", "alpha other", tags=["x"], params={"General/lr": "0.5"})
        yield World(root, ids, user, user_id, admin)


def test_project_filter_includes_subprojects(world):
    world.same({"t1", "t2", "t3", "t4"})
    world.same({"t1", "t2"}, project=f"{world.root}/a")
    world.same({"t2"}, project=f"{world.root}/a/sub")
    world.same({"t1"}, project=f"{world.root}/a", include_subprojects=False)
    world.same(set(), project=f"{world.root}/nothing")


def test_status_filter(world):
    world.same({"t1"}, status="completed")
    world.same({"t1", "t4"}, status=["completed", "failed"])
    world.same({"t3"}, status="created")


def test_tag_filters(world):
    world.same({"t1", "t3"}, tag="x")
    world.same({"t2", "t4"}, tag="-x")
    world.same({"t2"}, tag=["keep", "-x"])
    world.same({"t1"}, tag=["keep", "x"])


def test_owner_filter(world):
    world.same({"t2", "t3"}, owner=world.user)
    world.same({"t2", "t3"}, owner=world.user_id)
    world.same({"t1", "t4"}, owner="admin")


def test_name_filters(world):
    world.same({"t1", "t2"}, name="ALPHA")
    world.same({"t4"}, name="mma")
    world.same({"t1"}, name_regex="^alpha")
    world.same({"t1", "t2"}, name_regex="^[aA]lpha")
    world.same({"t4"}, name_regex=r"\d$")


def test_param_filters(world):
    world.same({"t1", "t3"}, param="General/lr>0.01")
    world.same({"t1", "t3", "t4"}, param="General/lr>=0.01")
    world.same({"t2", "t4"}, param="General/lr<=0.01")
    world.same({"t1", "t3"}, param="General/opt=adam")
    world.same({"t2"}, param="General/opt!=adam")
    world.same({"t1"}, param=["General/opt=adam", "General/lr>0.06"])
    world.same({"t4"}, param="Args/batch=32")
    world.same({"t1", "t3"}, param="General/opt~da")


def test_numeric_param_filter_ignores_text_values(world):
    """'adam' is no number: it is neither below nor above one, on either database."""
    world.same(set(), param="General/opt<1")
    world.same(set(), param="General/opt>-1")


def test_metric_filters(world):
    world.same({"t1", "t4"}, metric="loss/val<0.5")
    world.same({"t2"}, metric="loss/val>0.5")
    world.same({"t2"}, metric="loss/val:min<0.15")
    world.same({"t2", "t4"}, metric="loss/val:max>=0.45")
    world.same({"t4"}, metric=["loss/val<0.5", "acc/val>0.5"])


def test_filters_combine(world):
    world.same({"t1"}, tag="x", metric="loss/val<0.5", param="General/opt=adam")
    world.same(set(), tag="x", status="failed")


def test_sort_by_columns(world):
    assert world.names(sort="name") == ["t1", "t2", "t3", "t4"] or \
        world.names(sort="name") == ["t2", "t1", "t3", "t4"]  # collation may put "A" first
    assert world.names(sort="-created_at") == ["t4", "t3", "t2", "t1"]
    assert world.names(sort="created_at") == ["t1", "t2", "t3", "t4"]
    assert world.names(sort=["status", "created_at"]) == ["t1", "t3", "t4", "t2"]
    assert world.names(sort=["project", "-created_at"]) == ["t1", "t2", "t4", "t3"]


def test_sort_by_param_is_numeric(world):
    assert world.names(sort="param:General/lr") == ["t2", "t4", "t3", "t1"]
    assert world.names(sort="-param:General/lr") == ["t1", "t3", "t4", "t2"]
    # tasks without the parameter come last either way
    assert world.names(sort="param:Args/batch")[0] == "t4"
    assert world.names(sort="-param:Args/batch")[0] == "t4"


def test_sort_by_metric_puts_tasks_without_it_last(world):
    assert world.names(sort="metric:loss/val") == ["t1", "t4", "t2", "t3"]
    assert world.names(sort="-metric:loss/val") == ["t2", "t4", "t1", "t3"]
    assert world.names(sort="metric:loss/val:min") == ["t2", "t1", "t4", "t3"]
    assert world.names(sort="-metric:loss/val:min") == ["t4", "t1", "t2", "t3"]
    assert world.names(sort="-metric:loss/val:max") == ["t2", "t4", "t1", "t3"]
    assert world.names(sort="-metric:acc/val")[0] == "t4"


def test_extra_columns(world):
    resp = world.client.get(f"{API}/tasks", params={
        "project": world.root, "column": ["param:General/lr", "metric:loss/val:min"]})
    cols = resp.json()["columns"]
    ids = world.ids
    assert cols["param:General/lr"][ids["t1"]] == "0.1"
    assert cols["metric:loss/val:min"][ids["t2"]] == 0.1
    assert ids["t3"] not in cols["metric:loss/val:min"]


def test_archived_tasks_are_hidden_unless_asked(server, world):
    task = _make(world.client, f"{world.root}/archive", "old")
    world.ids["archived"] = task
    try:
        assert world.client.post(f"{API}/tasks/{task}/archive", json={}).status_code == 200
        assert "archived" not in world.names()
        assert world.names(project=f"{world.root}/archive", archived=True) == ["archived"]
    finally:
        world.client.delete(f"{API}/tasks/{task}")
        del world.ids["archived"]


@pytest.mark.parametrize("sort", [None, "name", "-metric:loss/val", "param:General/lr"])
def test_cursor_walks_every_page_once(server, sort):
    project = f"pages{uuid.uuid4().hex[:8]}"
    with server.client() as c:
        created = {_make(c, project, f"task {i:02d}", params={"General/lr": str(i % 3)},
                         metrics={"loss/val": [(0, float(i % 4))]} if i % 5 else None)
                   for i in range(11)}
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"project": project, "limit": 3}
            if sort:
                params["sort"] = sort
            if cursor:
                params["cursor"] = cursor
            page = c.get(f"{API}/tasks", params=params).json()
            assert page["total"] == 11
            seen += [t["id"] for t in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert len(page["items"]) == 3
    assert pages == 4
    assert len(seen) == len(set(seen)) == 11
    assert set(seen) == created
    with server.client() as c:
        whole = c.get(f"{API}/tasks", params={"project": project, "limit": 100,
                                              **({"sort": sort} if sort else {})}).json()
    assert [t["id"] for t in whole["items"]] == seen


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"sort": "bogus"}, "sort"),
        ({"sort": "metric:loss"}, "loss"),
        ({"sort": "param:nosection"}, "Section/name"),
        ({"cursor": "!!not-a-cursor!!"}, "cursor"),
        ({"cursor": "eyJvIjogLTF9"}, "cursor"),
        ({"name_regex": "(unclosed"}, "regex"),
        ({"status": "sleeping"}, "sleeping"),
        ({"param": "General/lr"}, "op"),
        ({"param": "General/lr>abc"}, "number"),
        ({"metric": "loss/val~1"}, "metric"),
        ({"limit": 0}, "limit"),
        ({"limit": 5000}, "limit"),
        ({"column": "owner"}, "column"),
    ],
)
def test_invalid_query_is_422(world, params, words):
    resp = world.client.get(f"{API}/tasks", params={"project": world.root, **params})
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "invalid_input"
    assert words.lower() in err["message"].lower()
