"""``arno model list|show|publish|archive|delete|get`` against a live server: filters, sort and
metadata columns, the lineage summary, actions with their refusals as one error line, and the
weights downloaded byte for byte."""

from __future__ import annotations

import json
import uuid

import pytest
from tests.ui.model_world import API, ModelWorld, create_model, make_model_world, ok


@pytest.fixture(scope="module")
def world(sqlite_server) -> ModelWorld:
    return make_model_world(sqlite_server)


def _ids(result) -> list[str]:
    assert result.exit_code == 0, result.stderr
    return [m["id"] for m in json.loads(result.stdout)]


def test_list_filters_and_sorts(cli, world):
    ids = _ids(cli("model", "list", "--project", world.project, "--json"))
    assert set(ids) == {world.base["id"], world.model["id"], world.draft["id"]}
    assert ids[0] == world.draft["id"]  # newest first

    assert _ids(cli("model", "list", "--project", world.project, "--tag", "best", "--json")
                ) == [world.model["id"]]
    assert _ids(cli("model", "list", "--project", world.project, "--name", "FOREST",
                    "--json")) == [world.draft["id"]]
    assert set(_ids(cli("model", "list", "--project", world.project, "--framework",
                        "PyTorch", "--json"))) == {world.base["id"], world.model["id"]}
    assert _ids(cli("model", "list", "--project", world.project, "--published", "--json")
                ) == [world.base["id"]]
    assert set(_ids(cli("model", "list", "--project", world.project, "--draft", "--json"))
               ) == {world.model["id"], world.draft["id"]}
    assert _ids(cli("model", "list", "--project", world.project, "--sort", "name", "--json")
                ) == [world.base["id"], world.draft["id"], world.model["id"]]
    assert _ids(cli("model", "list", "--project", world.project, "--sort=-meta:accuracy",
                    "--draft", "--json")) == [world.model["id"], world.draft["id"]]
    assert _ids(cli("model", "list", "--project", world.project, "--limit", "1", "--json")
                ) == [world.draft["id"]]


def test_list_table_with_a_metadata_column(cli, world):
    out = cli("model", "list", "--project", world.project, "--column", "meta:accuracy")
    assert out.exit_code == 0, out.stderr
    assert "meta:accuracy" in out.stdout
    row = next(line for line in out.stdout.splitlines() if world.model["id"] in line)
    assert "0.91" in row and "PyTorch" in row and "draft" in row
    row = next(line for line in out.stdout.splitlines() if world.base["id"] in line)
    assert "published" in row
    few = cli("model", "list", "--project", world.project, "--limit", "2")
    assert few.exit_code == 0 and "2 of 3 models shown" in few.stderr
    bad = cli("model", "list", "--column", "accuracy")
    assert "meta:KEY" in cli.one_error_line(bad)


def test_show_with_lineage(cli, world):
    out = cli("model", "show", world.model["id"])
    assert out.exit_code == 0, out.stderr
    text = out.stdout
    for expected in (world.model["name"], world.project, "PyTorch", "the best one", "cat",
                     "dog", "accuracy", "0.91", "owner_note", "created by task",
                     world.task_id, "input dataset", world.dataset["id"], "input model",
                     world.base["id"], "used by task", world.consumer_id, "pretrained",
                     f"arno://models/{world.model['id']}"):
        assert expected in text, expected
    data = json.loads(cli("model", "show", world.model["id"], "--json").stdout)
    assert data["id"] == world.model["id"] and data["labels"] == {"cat": 0, "dog": 1}
    assert data["lineage"]["task"]["id"] == world.task_id
    assert [c["task_id"] for c in data["lineage"]["consumers"]] == [world.consumer_id]
    assert [u["model"]["id"] for u in data["lineage"]["input_models"]] == [world.base["id"]]
    assert world.dataset["id"] in [d["id"] for d in data["lineage"]["datasets"]]


def test_get_downloads_the_weights(cli, world, tmp_path):
    dest = tmp_path / "out"
    got = cli("model", "get", world.model["id"], "--dest", str(dest))
    assert got.exit_code == 0, got.stderr
    path = got.stdout.strip().splitlines()[-1]
    files = [p for p in dest.rglob("*") if p.is_file()]
    assert [p.name for p in files] == ["model.pt"]
    assert files[0].read_bytes() == world.weights["model.pt"]
    assert str(dest) in path
    # default: the cache under ARNO_HOME
    cached = cli("model", "get", world.model["id"])
    assert cached.exit_code == 0, cached.stderr
    assert str(cli.home) in cached.stdout and world.model["weights_hash"] in cached.stdout
    assert open(cached.stdout.strip(), "rb").read() == world.weights["model.pt"]


def test_refusals_are_one_line(cli, world):
    unknown = uuid.uuid4().hex
    assert unknown in cli.one_error_line(cli("model", "show", unknown))
    assert "no weights" in cli.one_error_line(cli("model", "publish", world.draft["id"]))
    assert "no weights" in cli.one_error_line(cli("model", "get", world.draft["id"]))
    line = cli.one_error_line(cli("model", "get", world.base["id"]))
    assert "s3://bucket/base.pt" in line
    # someone else's model
    refused = cli("model", "archive", world.model["id"], key=world.other_key,
                  secret=world.other_secret)
    cli.one_error_line(refused)
    with cli.http() as http:
        assert ok(http.get(f"{API}/models/{world.model['id']}"))["archived"] is False


def test_publish_archive_delete(cli, world):
    with cli.http(world.owner_key, world.owner_secret) as http:
        a = create_model(http, project=world.project, name="to-publish", framework="Keras")
        ok(http.put(f"{API}/models/{a['id']}/weights", json={"uri": "https://example.org/a.h5"}))
        b = create_model(http, project=world.project, name="to-archive")
    as_owner = {"key": world.owner_key, "secret": world.owner_secret}
    out = cli("model", "publish", a["id"], **as_owner)
    assert out.exit_code == 0 and f"published model {a['id']}" in out.stdout
    again = cli("model", "publish", a["id"], **as_owner)  # already published: unchanged
    assert again.exit_code == 0

    out = cli("model", "archive", a["id"], b["id"], **as_owner)
    assert out.exit_code == 0, out.stderr
    assert out.stdout.count("archived model") == 2
    archived = _ids(cli("model", "list", "--project", world.project, "--archived", "--json"))
    assert set(archived) == {a["id"], b["id"]}
    assert cli("model", "archive", b["id"], "--restore", **as_owner).exit_code == 0
    assert b["id"] in _ids(cli("model", "list", "--project", world.project, "--json"))

    line = cli.one_error_line(cli("model", "delete", a["id"], **as_owner))
    assert "published" in line
    assert cli("model", "delete", a["id"], "--force", **as_owner).exit_code == 0
    assert cli("model", "delete", b["id"], **as_owner).exit_code == 0
    with cli.http() as http:
        assert http.get(f"{API}/models/{a['id']}").status_code == 404
        assert http.get(f"{API}/models/{b['id']}").status_code == 404

    # several ids: the good ones are done, each failure is a line, the exit code says so
    with cli.http(world.owner_key, world.owner_secret) as http:
        c = create_model(http, project=world.project, name="one-more")
    mixed = cli("model", "delete", uuid.uuid4().hex, c["id"], **as_owner)
    assert mixed.exit_code == 1
    assert f"deleted model {c['id']}" in mixed.stdout
    assert mixed.stderr.count("error:") == 1
