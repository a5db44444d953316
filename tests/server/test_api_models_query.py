"""Listing models (``GET /api/v1/models``) with the tasks' query language, against a live
server on SQLite and PostgreSQL: project, tags (with negation), name, regex, search,
framework, owner, task, published and archived filters, metadata filters and sort, field
filters, custom metadata columns, cursor pages, and bad queries refused naming what is wrong."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import LiveServer

API = "/api/v1"


def _ok(resp: httpx.Response, status: int = 200) -> dict:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json()


@pytest.fixture(scope="module")
def world(server: LiveServer) -> Iterator[dict]:
    """Models in one project tree: names, frameworks, tags, metadata and states that the
    filters tell apart."""
    root = f"q{uuid.uuid4().hex[:8]}"
    with server.client() as admin, server.client(*server.user(f"carol{uuid.uuid4().hex[:6]}")
                                                 ) as carol:
        task = _ok(admin.post(f"{API}/tasks", json={"project": root, "name": "t"}), 201)
        specs = [
            (admin, f"{root}", "alpha-net", "PyTorch", ["best", "cv"],
             {"acc": 0.91, "epochs": 10, "arch": "resnet", "frozen": True}, task["id"]),
            (admin, f"{root}", "beta-net", "Keras", ["cv"],
             {"acc": 0.85, "epochs": 2, "arch": "vgg", "frozen": False}, None),
            (admin, f"{root}/sub", "gamma", "PyTorch", ["nlp"],
             {"acc": 0.97, "arch": "bert"}, task["id"]),
            (carol, f"{root}", "delta-net", "XGBoost", [], {"epochs": 100}, None),
            (carol, f"{root}/sub", "epsilon", "", ["best"], {}, None),
        ]
        made = {}
        for client, project, name, framework, tags, meta, tid in specs:
            body = {"project": project, "name": name, "framework": framework, "tags": tags,
                    "metadata": meta, "comment": f"about {name}"}
            if tid:
                body["task_id"] = tid
            made[name] = _ok(client.post(f"{API}/models", json=body), 201)
        for name in ("alpha-net", "gamma"):
            mid = made[name]["id"]
            _ok(admin.put(f"{API}/models/{mid}/weights", json={"uri": f"s3://b/{name}"}))
            _ok(admin.post(f"{API}/models/{mid}/publish"))
        _ok(carol.post(f"{API}/models/{made['epsilon']['id']}/archive",
                       json={"archived": True}))
        yield {"root": root, "task": task, "models": made, "carol": carol,
               "admin": admin}


def _names(client: httpx.Client, world: dict, **params) -> list[str]:
    params.setdefault("project", world["root"])
    page = _ok(client.get(f"{API}/models", params=params))
    return [m["name"] for m in page["items"]]


def test_filters(world):
    c = world["admin"]
    everything = {"alpha-net", "beta-net", "gamma", "delta-net"}
    assert set(_names(c, world)) == everything
    assert set(_names(c, world, include_subprojects=False)) == {"alpha-net", "beta-net",
                                                                "delta-net"}
    assert set(_names(c, world, include_archived=True)) == everything | {"epsilon"}
    assert _names(c, world, archived=True) == ["epsilon"]
    assert set(_names(c, world, tag="cv")) == {"alpha-net", "beta-net"}
    assert _names(c, world, tag=["cv", "best"]) == ["alpha-net"]
    assert set(_names(c, world, tag="-cv")) == {"gamma", "delta-net"}
    assert set(_names(c, world, tag=["best", "-cv"], include_archived=True)) == {"epsilon"}
    assert set(_names(c, world, name="NET")) == {"alpha-net", "beta-net", "delta-net"}
    assert set(_names(c, world, name_regex="^(alpha|gamma)")) == {"alpha-net", "gamma"}
    assert _names(c, world, search="about beta") == ["beta-net"]
    assert _names(c, world, search="nlp") == ["gamma"]
    assert set(_names(c, world, framework="PyTorch")) == {"alpha-net", "gamma"}
    assert set(_names(c, world, framework=["Keras", "XGBoost"])) == {"beta-net", "delta-net"}
    carol_name = _ok(world["carol"].get(f"{API}/me"))["username"]
    assert _names(c, world, owner=carol_name) == ["delta-net"]
    assert set(_names(c, world, task=world["task"]["id"])) == {"alpha-net", "gamma"}
    assert set(_names(c, world, published=True)) == {"alpha-net", "gamma"}
    assert set(_names(c, world, published=False)) == {"beta-net", "delta-net"}
    # field filters, as on tasks
    assert _names(c, world, field="name=gamma") == ["gamma"]
    assert set(_names(c, world, field="framework~tor")) == {"alpha-net", "gamma"}
    assert set(_names(c, world, field=f"project={world['root']}/sub")) == {"gamma"}
    assert _names(c, world, field="created_at<2000-01-01") == []
    assert len(_names(c, world, field="created_at>2000-01-01")) == 4
    assert set(_names(c, world, field="uri~s3://")) == {"alpha-net", "gamma"}


def test_metadata_filters_sort_and_columns(world):
    c = world["admin"]
    assert set(_names(c, world, meta="acc>0.9")) == {"alpha-net", "gamma"}
    assert _names(c, world, meta=["acc>=0.85", "acc<0.9"]) == ["beta-net"]
    assert _names(c, world, meta="arch=vgg") == ["beta-net"]
    assert set(_names(c, world, meta="arch!=vgg")) == {"alpha-net", "gamma"}
    assert _names(c, world, meta="arch~er") == ["gamma"]
    assert set(_names(c, world, meta="epochs>=10")) == {"alpha-net", "delta-net"}
    assert _names(c, world, meta="frozen=true") == ["alpha-net"]
    assert _names(c, world, meta="frozen=false") == ["beta-net"]
    # numbers in numeric order (100 after 10), models without the value last either way
    assert _names(c, world, sort="meta:epochs") == ["beta-net", "alpha-net", "delta-net",
                                                    "gamma"]
    assert _names(c, world, sort="-meta:epochs") == ["delta-net", "alpha-net", "beta-net",
                                                     "gamma"]
    assert _names(c, world, sort=["-meta:acc", "name"]) == ["gamma", "alpha-net", "beta-net",
                                                            "delta-net"]
    # text values in text order
    assert _names(c, world, sort="meta:arch") == ["gamma", "alpha-net", "beta-net",
                                                  "delta-net"]
    assert _names(c, world, sort="name") == ["alpha-net", "beta-net", "delta-net", "gamma"]
    assert _names(c, world, sort="-name")[0] == "gamma"
    assert _names(c, world, sort=["framework", "name"]) == ["beta-net", "alpha-net", "gamma",
                                                            "delta-net"]
    assert _names(c, world, sort=["-published", "name"])[:2] == ["alpha-net", "gamma"]
    assert _names(c, world, sort=["project", "name"])[-1] == "gamma"
    assert len(_names(c, world, sort=["owner", "-updated_at", "iteration"])) == 4
    page = _ok(c.get(f"{API}/models", params={
        "project": world["root"], "column": ["meta:acc", "meta:arch"], "sort": "name"}))
    ids = {m["name"]: m["id"] for m in page["items"]}
    assert page["columns"]["meta:acc"] == {ids["alpha-net"]: 0.91, ids["beta-net"]: 0.85,
                                           ids["gamma"]: 0.97}
    assert page["columns"]["meta:arch"][ids["beta-net"]] == "vgg"
    assert page["total"] == 4 and page["next_cursor"] is None


def test_cursor_pages(world):
    c = world["admin"]
    seen, cursor, totals = [], None, set()
    while True:
        params = {"project": world["root"], "include_archived": True, "limit": 2,
                  "sort": "name"}
        if cursor:
            params["cursor"] = cursor
        page = _ok(c.get(f"{API}/models", params=params))
        seen += [m["name"] for m in page["items"]]
        totals.add(page["total"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["alpha-net", "beta-net", "delta-net", "epsilon", "gamma"]
    assert totals == {5}


def test_any_user_reads_the_list(world):
    assert len(_names(world["carol"], world)) == 4


def test_bad_queries_are_refused_naming_what_is_wrong(world):
    c = world["admin"]
    cases = [
        ({"sort": "size"}, "size"),
        ({"sort": "meta:"}, "metadata key"),
        ({"meta": "acc"}, "acc"),
        ({"meta": "acc>high"}, "high"),
        ({"meta": 'a"b=1'}, "metadata key"),
        ({"field": "weights=1"}, "weights"),
        ({"field": "created_at~x"}, "created_at"),
        ({"field": "created_at>yesterday"}, "yesterday"),
        ({"field": "iteration>lots"}, "lots"),
        ({"column": "param:General/lr"}, "param:General/lr"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"name_regex": "(a"}, "regex"),
        ({"name_regex": "a" * 300}, "name_regex"),
        ({"published": "maybe"}, "published"),
    ]
    for params, word in cases:
        resp = c.get(f"{API}/models", params=params)
        assert resp.status_code == 422, (params, resp.text)
        err = resp.json()["error"]
        assert err["code"] == "invalid_input"
        assert word in err["message"], (params, err)
