"""Offline mode: a task recorded with no server at all (``ARNO_OFFLINE=1`` or
``Task.init(offline=True)``), packed into ``$ARNO_HOME/offline/<task id>.zip`` and uploaded
later with ``import_offline_task``; the server then holds all of it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from tests.offline_packages import OLD_ID, craft_package

from arno.client import ApiSession, import_offline_task
from arno.core.errors import InvalidInput

OFFLINE_SCRIPT = """
import numpy as np
from arno import Task

task = Task.init(project_name="offline/field", task_name="on the train",
                 tags=["offline"], auto_resource_monitoring=False)
params = task.connect({"lr": 0.1, "layers": {"hidden": 32}})
task.connect_configuration({"scaler": "minmax"}, name="preprocessing")
log = task.get_logger()
for it in range(300):
    log.report_scalar("loss", "train", 1.0 / (it + 1), it)
log.report_single_value("mae", 1.5)
task.upload_artifact("summary", artifact_object={"best": 0.25, "epochs": [1, 2]})
task.upload_artifact("weights", artifact_object=np.arange(6, dtype=np.int64).reshape(2, 3))
print("TASK_ID", task.id)
print("hello from nowhere")
"""


@pytest.fixture
def api_session(sqlite_server):
    session = ApiSession(sqlite_server.url, sqlite_server.admin_key, sqlite_server.admin_secret)
    yield session
    session.close()


def check_uploaded(session: ApiSession, task_id: str, *, console: str | None) -> None:
    task = session.get(f"tasks/{task_id}")
    assert task["project"] == "offline/field"
    assert task["name"] == "on the train"
    assert task["tags"] == ["offline"]
    assert task["status"] == "completed"
    params = {f"{p['section']}/{p['name']}": p["value"] for p in task["hyperparams"]}
    assert params["General/lr"] == "0.1"
    assert params["General/layers/hidden"] == "32"
    configs = {c["name"]: c for c in task["configurations"]}
    assert json.loads(configs["preprocessing"]["value"]) == {"scaler": "minmax"}
    (series,) = session.get(f"tasks/{task_id}/scalars")
    assert (series["metric"], series["variant"]) == ("loss", "train")
    assert series["x"] == list(range(300))
    assert series["y"][-1] == pytest.approx(1 / 300)
    assert session.get(f"tasks/{task_id}/single_values")[0]["value"] == 1.5
    arts = {a["name"]: a for a in session.get(f"tasks/{task_id}/artifacts")}
    assert set(arts) == {"summary", "weights"}
    assert arts["summary"]["type"] == "json"
    assert arts["weights"]["type"] == "numpy"
    if console is not None:
        lines = [c["text"] for c in session.get(f"tasks/{task_id}/console", limit=1000)]
        assert console in lines


def test_a_script_run_with_arno_offline_is_uploaded_whole(sqlite_server, api_session, tmp_path):
    home = tmp_path / "laptop-home"
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(OFFLINE_SCRIPT))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    env.update(ARNO_HOME=str(home), ARNO_OFFLINE="1")  # and no server configured at all
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    offline_id = re.search(r"TASK_ID ([0-9a-f]{32})", proc.stdout).group(1)
    package = home / "offline" / f"{offline_id}.zip"
    assert package.is_file(), sorted(p.name for p in (home / "offline").iterdir())
    assert str(package) in proc.stderr  # the script tells where the recording is
    assert "arno task import" in proc.stderr

    new_id = import_offline_task(api_session, package, tmp_path / "unpacked")
    assert new_id != offline_id
    check_uploaded(api_session, new_id, console="hello from nowhere")

    from arno import Task
    from arno.sdk import set_session

    set_session(api_session)
    try:
        task = Task.get_task(task_id=new_id)
        assert task.artifacts["summary"].get() == {"best": 0.25, "epochs": [1, 2]}
        assert np.array_equal(
            task.artifacts["weights"].get(), np.arange(6, dtype=np.int64).reshape(2, 3)
        )
    finally:
        set_session(None)


def test_init_offline_true_in_process(sqlite_server, api_session, tmp_path, monkeypatch):
    from arno import Task
    from arno.sdk import set_session

    for key in [k for k in os.environ if k.startswith("ARNO_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ARNO_HOME", str(tmp_path / "home"))
    set_session(None)
    try:
        task = Task.init(
            project_name="offline/field",
            task_name="on the train",
            tags=["offline"],
            offline=True,
            auto_connect_streams=False,
            auto_resource_monitoring=False,
            auto_connect_arg_parser=False,  # pytest's own arguments are not the point here
        )
        task.connect({"lr": 0.1, "layers": {"hidden": 32}})
        task.connect_configuration({"scaler": "minmax"}, name="preprocessing")
        for it in range(300):
            task.get_logger().report_scalar("loss", "train", 1.0 / (it + 1), it)
        task.get_logger().report_single_value("mae", 1.5)
        task.upload_artifact("summary", artifact_object={"best": 0.25, "epochs": [1, 2]})
        task.upload_artifact("weights", artifact_object=np.zeros((2, 3)))
        assert task.get_parameters() == {"General/lr": "0.1", "General/layers/hidden": "32"}
        task.close()
    finally:
        set_session(None)
    package = tmp_path / "home" / "offline" / f"{task.id}.zip"
    assert package.is_file()
    new_id = import_offline_task(api_session, package, tmp_path / "unpacked")
    check_uploaded(api_session, new_id, console=None)


@pytest.mark.parametrize("member", ["../escape", "nested/../../escape"])
def test_a_zip_that_writes_outside_its_folder_is_refused(api_session, tmp_path, member):
    package = tmp_path / "evil.zip"
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("meta.json", json.dumps({"format": "arno-offline-task/1"}))
        zf.writestr("task.json", json.dumps({"id": "0" * 32}))
        zf.writestr("calls.jsonl", "")
        zf.writestr(member, "gotcha")
    workdir = tmp_path / "work" / "unpacked"
    workdir.mkdir(parents=True)
    before = api_session.get("tasks", limit=500)["total"]
    with pytest.raises(InvalidInput, match="escape"):
        import_offline_task(api_session, package, workdir)
    assert not (tmp_path / "work" / "escape").exists()
    assert not (tmp_path / "escape").exists()
    assert list(workdir.iterdir()) == []  # nothing extracted at all
    assert api_session.get("tasks", limit=500)["total"] == before


def test_a_file_that_is_not_an_offline_task_is_refused(api_session, tmp_path):
    package = tmp_path / "notes.zip"
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(InvalidInput, match="not an Arno offline task"):
        import_offline_task(api_session, package, tmp_path / "unpacked")
    text = tmp_path / "plain.txt"
    text.write_text("hello")
    with pytest.raises(InvalidInput):
        import_offline_task(api_session, text, tmp_path / "unpacked2")


# ---- a package is data from anywhere: only what the recorder writes is replayed -------------

def server_state(session):
    """What a refused import must leave as it was: users, and every task with its name."""
    users = sorted(u["username"] for u in session.get("users"))
    tasks = sorted((t["id"], t["name"], t["status"])
                   for t in session.get("tasks", limit=500, include_archived="true")["items"])
    return users, tasks


def blake(data: bytes) -> str:
    from blake3 import blake3

    return blake3(data).hexdigest()


def other_task(session):
    return session.post("tasks", {"project": "offline/victims", "name": "someone's"})["id"]


def crafted_cases(victim):
    """(label, calls, words the refusal names) for the calls no offline recorder writes."""
    o = OLD_ID
    return [
        ("create admin", [{"method": "POST", "path": "users",
                           "body": {"username": "mallory", "password": "x" * 12,
                                    "role": "admin"}}], "POST users"),
        ("delete other", [{"method": "DELETE", "path": f"tasks/{victim}", "body": None}],
         f"DELETE tasks/{victim}"),
        ("dot segments", [{"method": "POST", "path": "/api/v1/../users",
                           "body": {"username": "mallory", "role": "admin"}}], "../users"),
        ("dot segments after own id", [{"method": "POST", "path": f"tasks/{o}/../../users",
                                        "body": {"username": "mallory"}}], "../../users"),
        ("patch other", [{"method": "PATCH", "path": f"tasks/{victim}",
                          "body": {"name": "pwned"}}], f"PATCH tasks/{victim}"),
        ("status on other", [{"method": "POST", "path": f"tasks/{victim}/status",
                              "body": {"status": "failed", "force": True}}], victim),
        ("delete own", [{"method": "DELETE", "path": f"tasks/{o}", "body": None}], "DELETE"),
        ("unknown field", [{"method": "PATCH", "path": f"tasks/{o}",
                            "body": {"owner_id": "0" * 32}}], "owner_id"),
        ("invalid params", [{"method": "PUT", "path": f"tasks/{o}/params",
                     "body": {"params": [{"section": "", "name": "x"}]}}], "params"),
        ("second task", [{"method": "POST", "path": "tasks",
                          "body": {"project": "p", "name": "n"}}], "second task"),
        ("blob not in package", [{"method": "PUT", "path": f"tasks/{o}/artifacts/stolen",
                                  "body": {"type": "file", "hash": "c" * 64}}], "not in the"),
        ("external uri", [{"method": "PUT", "path": f"tasks/{o}/artifacts/link",
                           "body": {"uri": "file:///etc/passwd"}}], "link"),
        ("artifact name escapes", [{"method": "PUT", "path": f"tasks/{o}/artifacts/..",
                                    "body": {"hash": "c" * 64}}], "artifact name"),
        ("sample of a foreign blob", [{"method": "POST", "path": f"tasks/{o}/events",
                                       "body": {"batch_id": "b" * 32, "debug_samples": [
                                           {"metric": "m", "variant": "v", "hash": "d" * 64,
                                            "timestamp": 1.0}]}}], "not in the package"),
        ("queued", [{"method": "POST", "path": f"tasks/{o}/status",
                     "body": {"status": "queued"}}], "queued"),
    ]


def test_a_package_replays_only_what_an_offline_task_records(api_session, tmp_path):
    victim = other_task(api_session)
    good_events = {"method": "POST", "path": f"tasks/{OLD_ID}/events",
                   "body": {"batch_id": "a" * 32, "scalars": [
                       {"metric": "loss", "variant": "t", "iterations": [0], "values": [1.0],
                        "timestamps": [1.0]}]}}
    for label, calls, named in crafted_cases(victim):
        before = server_state(api_session)
        # a genuine call first and a harmless one after: still nothing may reach the server
        package = craft_package(tmp_path / f"{label}.zip", [good_events, *calls, good_events])
        with pytest.raises(InvalidInput) as err:
            import_offline_task(api_session, package, tmp_path / label)
        message = str(err.value)
        assert named in message and "nothing was imported" in message, (label, message)
        assert "\n" not in message
        assert server_state(api_session) == before, label
    assert api_session.get(f"tasks/{victim}")["name"] == "someone's"


@pytest.mark.parametrize(("create", "named"), [
    ({"parent_id": "0" * 32}, "parent"),
    ({"status": "queued"}, "created as queued"),
    ({"owner_id": "0" * 32}, "owner_id"),
])
def test_the_task_creation_is_checked_too(api_session, tmp_path, create, named):
    before = server_state(api_session)
    package = craft_package(tmp_path / "c.zip", [], create=create)
    with pytest.raises(InvalidInput, match=named):
        import_offline_task(api_session, package, tmp_path / "u")
    assert server_state(api_session) == before


@pytest.mark.parametrize("member", ["../../x", "/abs/x", "C:/x", "blobs\\..\\..\\x",
                                    "blobs/./x", "blobs//x", "notes.txt", "blobs/sub/x"])
def test_members_outside_the_package_shape_are_refused(api_session, tmp_path, member):
    workdir = tmp_path / "work" / "unpacked"
    workdir.mkdir(parents=True)
    package = craft_package(tmp_path / "evil.zip", [], extra={member: "gotcha"})
    before = server_state(api_session)
    with pytest.raises(InvalidInput, match="member"):
        import_offline_task(api_session, package, workdir)
    assert list(workdir.iterdir()) == []
    assert not (tmp_path / "x").exists() and not (tmp_path / "work" / "x").exists()
    assert server_state(api_session) == before


def test_oversize_members_and_blobs_that_lie_are_refused(api_session, tmp_path):
    from arno.client._offline_package import PackageLimits

    data = b"\0" * 200_000  # compresses to almost nothing: a small zip bomb
    blob = blake(data)
    calls = [{"method": "PUT", "path": f"tasks/{OLD_ID}/artifacts/big",
              "body": {"type": "file", "hash": blob}}]
    package = craft_package(tmp_path / "big.zip", calls, blobs={blob: data})
    assert package.stat().st_size < 10_000
    before = server_state(api_session)
    small = PackageLimits(max_member_bytes=100_000)
    with pytest.raises(InvalidInput, match=f"blobs/{blob}.* is 200000 bytes"):
        import_offline_task(api_session, package, tmp_path / "u1", limits=small)
    with pytest.raises(InvalidInput, match="unpacks to 200"):
        import_offline_task(api_session, package, tmp_path / "u2",
                            limits=PackageLimits(max_total_bytes=150_000))
    with pytest.raises(InvalidInput, match="line 1 is over"):
        import_offline_task(api_session, package, tmp_path / "u3",
                            limits=PackageLimits(max_call_bytes=50))

    # a blob whose name is not the hash of its content: it would stand for another blob
    liar = craft_package(tmp_path / "liar.zip", calls, blobs={blob: b"something else"})
    with pytest.raises(InvalidInput, match="not hold the content"):
        import_offline_task(api_session, liar, tmp_path / "u4")
    assert server_state(api_session) == before

    # within the limits the same package imports, with its blob
    new_id = import_offline_task(api_session, package, tmp_path / "u5")
    (art,) = api_session.get(f"tasks/{new_id}/artifacts")
    assert (art["name"], art["hash"], art["size"]) == ("big", blob, 200_000)


def test_a_package_folder_with_links_is_refused(api_session, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    digest = blake(secret.read_bytes())
    package = craft_package(tmp_path / "p.zip", [
        {"method": "PUT", "path": f"tasks/{OLD_ID}/artifacts/leak",
         "body": {"type": "file", "hash": digest}}])
    folder = tmp_path / "folder"
    with zipfile.ZipFile(package) as zf:
        zf.extractall(folder)
    (folder / "blobs").mkdir()
    (folder / "blobs" / digest).symlink_to(secret)
    before = server_state(api_session)
    with pytest.raises(InvalidInput, match="link"):
        import_offline_task(api_session, folder, tmp_path / "unused")
    assert server_state(api_session) == before


def test_a_genuine_package_with_every_kind_of_call_imports_whole(api_session, tmp_path,
                                                                 monkeypatch):
    from arno import Task
    from arno.sdk import set_session

    for key in [k for k in os.environ if k.startswith("ARNO_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ARNO_HOME", str(tmp_path / "home"))
    set_session(None)
    try:
        task = Task.init(project_name="offline/every", task_name="all calls", offline=True,
                         auto_connect_streams=False, auto_resource_monitoring=False,
                         auto_connect_arg_parser=False)
        task.connect({"lr": 0.1, "drop": 1})
        task.delete_parameter("General/drop")
        task.connect_configuration({"scaler": "minmax"}, name="preprocessing")
        task.set_user_properties(owner_note="kept")
        task.add_tags(["x"])
        task.set_comment("a comment")
        task.set_archived(True)
        task.set_archived(False)
        log = task.get_logger()
        log.report_scalar("loss", "train", 0.5, 0)
        log.report_image("img", "rgb", 0, image=np.zeros((4, 4, 3), dtype=np.uint8))
        task.upload_artifact("summary", artifact_object={"best": 0.25})
        task.close()
    finally:
        set_session(None)
    package = tmp_path / "home" / "offline" / f"{task.id}.zip"
    new_id = import_offline_task(api_session, package, tmp_path / "unpacked")
    got = api_session.get(f"tasks/{new_id}")
    assert got["status"] == "completed" and got["comment"] == "a comment"
    assert "x" in got["tags"] and got["user_properties"]["owner_note"]
    assert [p["name"] for p in got["hyperparams"]] == ["lr"]
    (sample,) = api_session.get(f"tasks/{new_id}/debug_samples")
    assert api_session.blob_exists(sample["hash"])
    assert [a["name"] for a in api_session.get(f"tasks/{new_id}/artifacts")] == ["summary"]
