"""Reported events through the live server: non-finite scalars, retried batches, huge and
broken console lines, repeated iterations and the metric summaries."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import LiveServer

API = "/api/v1"


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _task(c: httpx.Client) -> str:
    resp = c.post(f"{API}/tasks", json={"project": "events", "name": uuid.uuid4().hex[:8]})
    assert resp.status_code == 201
    return str(resp.json()["id"])


def _send(c: httpx.Client, task_id: str, batch_id: str | None = None, **events) -> dict:
    """POST a batch the way the SDK does: Python's JSON, where NaN and infinities travel as
    the bare tokens ``NaN``, ``Infinity`` and ``-Infinity``."""
    batch = {"batch_id": batch_id or uuid.uuid4().hex, **events}
    resp = c.post(f"{API}/tasks/{task_id}/events", content=json.dumps(batch).encode(),
                  headers={"content-type": "application/json"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def _series(metric: str, variant: str, points: list[tuple[int, float]]) -> dict:
    return {"metric": metric, "variant": variant,
            "iterations": [i for i, _ in points], "values": [v for _, v in points],
            "timestamps": [1000.0 + i for i, _ in points]}


def _scalars(c: httpx.Client, task_id: str, **params) -> dict[tuple[str, str], dict]:
    resp = c.get(f"{API}/tasks/{task_id}/scalars", params=params)
    assert resp.status_code == 200
    # the reply is strict JSON: no bare NaN tokens
    json.loads(resp.text, parse_constant=lambda tok: pytest.fail(f"bare {tok} in reply"))
    return {(s["metric"], s["variant"]): s for s in resp.json()}


def _summary(c: httpx.Client, task_id: str) -> dict[tuple[str, str], dict]:
    resp = c.get(f"{API}/tasks/{task_id}/metrics")
    assert resp.status_code == 200
    json.loads(resp.text, parse_constant=lambda tok: pytest.fail(f"bare {tok} in reply"))
    return {(m["metric"], m["variant"]): m for m in resp.json()}


def test_non_finite_scalars_round_trip(admin):
    task = _task(admin)
    points = [(0, 1.5), (1, math.nan), (2, math.inf), (3, -math.inf), (4, 0.25)]
    _send(admin, task, scalars=[_series("loss", "train", points)])
    got = _scalars(admin, task)[("loss", "train")]
    assert got["x"] == [0, 1, 2, 3, 4]
    assert got["y"] == [1.5, "NaN", "Infinity", "-Infinity", 0.25]
    assert got["total"] == 5 and got["sampled"] is False


def test_non_finite_as_last_value_and_single_values(admin):
    task = _task(admin)
    _send(admin, task,
          scalars=[_series("a", "nan", [(0, 1.0), (1, math.nan)]),
                   _series("a", "inf", [(0, 1.0), (1, math.inf)]),
                   _series("a", "ninf", [(0, 1.0), (1, -math.inf)])],
          single_values=[{"name": "nan", "value": math.nan, "timestamp": 1.0},
                         {"name": "inf", "value": math.inf, "timestamp": 1.0},
                         {"name": "ninf", "value": -math.inf, "timestamp": 1.0}])
    summary = _summary(admin, task)
    assert summary[("a", "nan")]["last"] == "NaN"
    assert summary[("a", "inf")]["last"] == "Infinity"
    assert summary[("a", "ninf")]["last"] == "-Infinity"
    assert summary[("a", "inf")]["max"] == "Infinity"
    assert summary[("a", "ninf")]["min"] == "-Infinity"
    singles = {v["name"]: v["value"] for v in
               admin.get(f"{API}/tasks/{task}/single_values").json()}
    assert singles == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity"}
    detail = admin.get(f"{API}/tasks/{task}").json()
    assert {(m["metric"], m["variant"]): m["last"] for m in detail["metrics"]}[("a", "nan")] \
        == "NaN"


def test_non_finite_sent_as_strings_are_accepted(admin):
    """Strict-JSON senders (a browser, curl) can use the same strings the server replies with."""
    task = _task(admin)
    batch = {"batch_id": uuid.uuid4().hex, "scalars": [{
        "metric": "s", "variant": "v", "iterations": [0, 1, 2],
        "values": ["NaN", "Infinity", "-Infinity"], "timestamps": [1.0, 2.0, 3.0]}]}
    resp = admin.post(f"{API}/tasks/{task}/events", json=batch)
    assert resp.status_code == 200, resp.text
    assert _scalars(admin, task)[("s", "v")]["y"] == ["NaN", "Infinity", "-Infinity"]


def test_same_batch_twice_is_stored_once(admin):
    task = _task(admin)
    batch_id = uuid.uuid4().hex
    events = {
        "scalars": [_series("loss", "train", [(i, 1 / (i + 1)) for i in range(100)])],
        "console": [{"stream": "stdout", "text": "epoch done", "timestamp": 1.0}],
        "plots": [{"metric": "p", "variant": "v", "figure": {"data": []}, "timestamp": 1.0}],
    }
    first = _send(admin, task, batch_id, **events)
    again = _send(admin, task, batch_id, **events)
    assert first == {"batch_id": batch_id, "duplicate": False, "points": 100}
    assert again["duplicate"] is True
    got = _scalars(admin, task)[("loss", "train")]
    assert got["total"] == 100 and got["x"] == list(range(100))
    assert _summary(admin, task)[("loss", "train")]["count"] == 100
    assert [c["text"] for c in admin.get(f"{API}/tasks/{task}/console").json()] == ["epoch done"]
    assert len(admin.get(f"{API}/tasks/{task}/plots").json()) == 1


def test_batch_id_belongs_to_one_batch_only(admin):
    """A different batch with a new id is stored, even with identical content."""
    task = _task(admin)
    line = {"console": [{"text": "same words", "timestamp": 1.0}]}
    _send(admin, task, **line)
    _send(admin, task, **line)
    assert len(admin.get(f"{API}/tasks/{task}/console").json()) == 2


def test_huge_console_line_is_truncated_with_marker(server, admin):
    limit = server.services.settings.max_console_line
    task = _task(admin)
    text = "x" * (10 * 1024 * 1024)
    _send(admin, task, console=[{"stream": "stdout", "text": text, "timestamp": 1.0},
                                {"stream": "stderr", "text": "next line", "timestamp": 2.0}])
    lines = admin.get(f"{API}/tasks/{task}/console").json()
    assert [line["stream"] for line in lines] == ["stdout", "stderr"]
    stored = lines[0]["text"]
    marker = f" ... [truncated {len(text) - limit} characters]"
    assert stored == "x" * limit + marker
    assert lines[1]["text"] == "next line"


def test_undecodable_output_survives_as_replacement_characters(admin):
    task = _task(admin)
    raw = b"caf\xe9 \xff\xfe progress \xe2\x96\x88\xe2\x96 ok"
    text = raw.decode("utf-8", errors="replace")
    assert "\ufffd" in text
    _send(admin, task, console=[
        {"stream": "stdout", "text": text, "timestamp": 1.0},
        {"stream": "stdout", "text": "emoji \U0001f600 ok", "timestamp": 2.0},
    ])
    lines = [line["text"] for line in admin.get(f"{API}/tasks/{task}/console").json()]
    assert lines == [text, "emoji \U0001f600 ok"]


def test_nul_characters_in_output_do_not_lose_the_batch(admin):
    """Binary garbage on stdout can hold NUL, which PostgreSQL text cannot store: the line is
    kept (NUL replaced) and the rest of the batch with it."""
    task = _task(admin)
    _send(admin, task, console=[{"stream": "stdout", "text": "a\x00b", "timestamp": 1.0}],
          scalars=[_series("m", "v", [(0, 1.0)])])
    (line,) = admin.get(f"{API}/tasks/{task}/console").json()
    assert line["text"].startswith("a") and line["text"].endswith("b")
    assert "\x00" not in line["text"]
    assert _scalars(admin, task)[("m", "v")]["y"] == [1.0]


def test_repeated_iteration_last_value_wins(admin):
    task = _task(admin)
    # within one batch
    _send(admin, task, scalars=[_series("acc", "val", [(0, 0.1), (1, 0.5), (1, 0.9)])])
    got = _scalars(admin, task)[("acc", "val")]
    assert got["x"] == [0, 1] and got["y"] == [0.1, 0.9]
    # across batches
    _send(admin, task, scalars=[_series("acc", "val", [(0, 0.3)])])
    got = _scalars(admin, task)[("acc", "val")]
    assert got["x"] == [0, 1] and got["y"] == [0.3, 0.9]
    summary = _summary(admin, task)[("acc", "val")]
    assert summary["count"] == 2
    assert summary["last"] == 0.9 and summary["last_iteration"] == 1
    assert summary["min"] == 0.3 and summary["max"] == 0.9


def test_overwritten_values_leave_the_summary(admin):
    """Min and max describe the values that are stored, not ones replaced since."""
    task = _task(admin)
    _send(admin, task, scalars=[_series("loss", "v", [(0, 5.0), (1, 100.0), (1, 7.0)])])
    summary = _summary(admin, task)[("loss", "v")]
    assert (summary["min"], summary["max"], summary["last"]) == (5.0, 7.0, 7.0)
    _send(admin, task, scalars=[_series("loss", "v", [(0, 6.0)])])
    summary = _summary(admin, task)[("loss", "v")]
    assert (summary["min"], summary["max"], summary["last"]) == (6.0, 7.0, 7.0)
    assert summary["count"] == 2


def test_summary_last_min_max_ignore_nan(admin):
    task = _task(admin)
    _send(admin, task, scalars=[_series("loss", "train", [(0, 3.0), (1, math.nan), (2, 1.0)])])
    _send(admin, task, scalars=[_series("loss", "train", [(3, 2.0), (4, math.nan)])])
    _send(admin, task, scalars=[_series("loss", "train", [(5, 2.5)])])
    s = _summary(admin, task)[("loss", "train")]
    assert s["last"] == 2.5 and s["last_iteration"] == 5
    assert s["min"] == 1.0 and s["max"] == 3.0
    assert s["count"] == 6
    _send(admin, task, scalars=[_series("loss", "train", [(6, math.nan)])])
    s = _summary(admin, task)[("loss", "train")]
    assert s["last"] == "NaN" and s["min"] == 1.0 and s["max"] == 3.0
    # only NaN so far: no minimum or maximum to speak of
    _send(admin, task, scalars=[_series("only", "nan", [(0, math.nan), (1, math.nan)])])
    s = _summary(admin, task)[("only", "nan")]
    assert s["last"] == "NaN" and s["min"] in ("NaN", None) and s["max"] in ("NaN", None)


def test_late_points_do_not_move_the_last_value(admin):
    task = _task(admin)
    _send(admin, task, scalars=[_series("m", "v", [(10, 1.0)])])
    _send(admin, task, scalars=[_series("m", "v", [(3, 9.0)])])
    s = _summary(admin, task)[("m", "v")]
    assert s["last"] == 1.0 and s["last_iteration"] == 10
    assert s["max"] == 9.0 and s["count"] == 2
    assert _scalars(admin, task)[("m", "v")]["x"] == [3, 10]
    assert admin.get(f"{API}/tasks/{task}").json()["last_iteration"] == 10


def test_long_series_is_sampled_keeping_extremes(admin):
    task = _task(admin)
    points = [(i, float(i % 97)) for i in range(5000)]
    points[2345] = (2345, 1e6)
    _send(admin, task, scalars=[_series("long", "s", points)])
    got = _scalars(admin, task, max_points=300)[("long", "s")]
    assert got["sampled"] is True and got["total"] == 5000
    assert len(got["x"]) <= 400
    assert 1e6 in got["y"]
    assert got["x"] == sorted(got["x"]) and got["x"][0] == 0 and got["x"][-1] == 4999
