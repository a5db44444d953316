"""The data behind the UI's charts: long series come back thinned to about ``max_points`` with
every bucket's minimum and maximum (spikes survive), drawn from block summaries kept at ingest,
and stay right when points arrive out of order or are reported again."""

from __future__ import annotations

import json
import math
import uuid

from arno.core.schemas import TaskCreate
from arno.services.principal import Principal


def _send(client, tid, its, values, metric="loss", variant="train"):
    body = {"batch_id": uuid.uuid4().hex, "scalars": [{
        "metric": metric, "variant": variant, "iterations": its, "values": values,
        "timestamps": [1000.0 + i for i in its]}]}
    resp = client.post(f"/api/v1/tasks/{tid}/events", content=json.dumps(body),  # NaN literal
                       headers={"content-type": "application/json"})
    assert resp.status_code == 200, resp.text


def _series(client, tid, **params):
    resp = client.get(f"/api/v1/tasks/{tid}/scalars", params={"timestamps": "true", **params})
    assert resp.status_code == 200
    return {(s["metric"], s["variant"]): s for s in resp.json()}


def _task(server) -> str:
    admin = next(u for u in server.services.auth.list_users() if u.username == "admin")
    who = Principal(admin.id, "admin", "admin")
    return server.services.tasks.create(TaskCreate(project="ui/charts", name="long"), who).id


def test_long_series_keep_their_extremes_when_thinned(server):
    tid = _task(server)
    n = 60_000
    values = [math.sin(i / 500) for i in range(n)]
    values[12_345] = 50.0  # a spike
    values[40_001] = -30.0  # a dip
    values[777] = math.nan
    with server.client() as c:
        for start in range(0, n, 7_000):  # batches that cut blocks in the middle
            its = list(range(start, min(n, start + 7_000)))
            _send(c, tid, its, [values[i] for i in its])
        s = _series(c, tid, max_points=2000)[("loss", "train")]
        full = _series(c, tid)[("loss", "train")]
    assert full["total"] == n and len(full["x"]) == n and not full["sampled"]
    assert s["sampled"] and s["total"] == n
    assert 500 <= len(s["x"]) <= 2100
    assert s["x"] == sorted(s["x"]) and len(set(s["x"])) == len(s["x"])
    pts = dict(zip(s["x"], s["y"], strict=True))
    assert pts[12_345] == 50.0 and pts[40_001] == -30.0
    assert s["x"][0] == 0 and s["x"][-1] == n - 1
    assert len(s["timestamps"]) == len(s["x"]) and s["timestamps"][0] == 1000.0
    for x, y in pts.items():  # every point drawn is a real point of the series
        assert y == (values[x] if not math.isnan(values[x]) else "NaN")


def test_points_sent_out_of_order_or_again_are_summarised_right(server):
    tid = _task(server)
    with server.client() as c:
        _send(c, tid, list(range(0, 20_000)), [1.0] * 20_000)
        _send(c, tid, list(range(30_000, 50_000)), [2.0] * 20_000)
        _send(c, tid, list(range(20_000, 30_000)), [3.0] * 10_000)  # fills the gap late
        _send(c, tid, [5], [99.0])  # an earlier iteration reported again
        s = _series(c, tid, max_points=900)[("loss", "train")]
        m = c.get(f"/api/v1/tasks/{tid}/metrics").json()[0]
    pts = dict(zip(s["x"], s["y"], strict=True))
    assert s["total"] == 50_000 and m["count"] == 50_000
    assert pts[5] == 99.0 and m["max"] == 99.0
    assert {1.0, 2.0, 3.0} <= set(pts.values())
    assert max(pts) == 49_999 and pts[49_999] == 2.0
    for x, y in pts.items():
        expected = 99.0 if x == 5 else 1.0 if x < 20_000 else 3.0 if x < 30_000 else 2.0
        assert y == expected, x


def test_short_series_come_back_whole(server):
    tid = _task(server)
    with server.client() as c:
        _send(c, tid, list(range(100)), [float(i) for i in range(100)], metric="acc")
        s = _series(c, tid, max_points=2000)[("acc", "train")]
    assert s["x"] == list(range(100)) and s["y"] == [float(i) for i in range(100)]
    assert not s["sampled"]
