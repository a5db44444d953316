"""Model files saved by the libraries a script calls become output models of its task.

The end-to-end tests run a training script in a process of its own (``Task.init``, then the
library's own save) against the live server and check what the server holds: one model per
file name, the framework recorded, the iteration of the reporting context, weights that
download back equal to the file the script left on disk. The uploader's ordering (coalesced
saves, a bounded wait at close, a file removed before its turn) is tested in this process
with a sender standing in for the server."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.sdk.test_user_scripts import run_script

from arno.sdk._frameworks import models

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _have(*names: str) -> bool:
    return all(importlib.util.find_spec(n) is not None for n in names)


# ---- the uploader, in this process ---------------------------------------------------------
def _save(task_id: str, path: Path, iteration: int) -> models.Save:
    return models.Save(SimpleNamespace(id=task_id), "PyTorch", path, iteration)  # type: ignore[arg-type]


def test_saves_of_one_file_coalesce_and_the_last_one_goes(tmp_path):
    gate = threading.Event()
    sent: list[tuple[str, int | None]] = []

    def sender(save: models.Save) -> None:
        gate.wait(10)
        sent.append((save.name, save.iteration))

    up = models.Uploader(sender)
    first, other = tmp_path / "model.pt", tmp_path / "other.pt"
    up.submit(_save("t1", first, 1))
    deadline = time.monotonic() + 5
    while up.pending("t1") and up._running is None and time.monotonic() < deadline:
        time.sleep(0.01)
    for it in (2, 3, 4):  # while the first is on its way: one queued entry, the newest save
        up.submit(_save("t1", first, it))
    up.submit(_save("t1", other, 4))
    assert up.pending("t1") == ["model.pt", "model.pt", "other.pt"]
    gate.set()
    assert up.wait("t1", 10) == []
    assert sent == [("model.pt", 1), ("model.pt", 4), ("other.pt", 4)]


def test_close_waits_a_bounded_time_and_names_what_did_not_go(tmp_path):
    release = threading.Event()
    up = models.Uploader(lambda save: release.wait(10))
    up.submit(_save("t2", tmp_path / "a.pt", 0))
    up.submit(_save("t2", tmp_path / "b.pt", 0))
    up.submit(_save("other-task", tmp_path / "c.pt", 0))
    started = time.monotonic()
    assert up.wait("t2", 0.3) == ["a.pt", "b.pt"]
    assert time.monotonic() - started < 2
    assert up.pending("t2") == ["a.pt"]  # still sending; b.pt dropped
    assert "c.pt" in up.pending("other-task")
    release.set()


def test_a_file_removed_before_its_upload_is_skipped_with_a_warning(tmp_path, monkeypatch,
                                                                     caplog):
    def no_server() -> None:
        raise AssertionError("nothing is sent for a missing file")

    monkeypatch.setattr(models, "_model_api", no_server)
    with caplog.at_level(logging.WARNING, logger="arno.frameworks"):
        models.send(_save("t3", tmp_path / "gone.pt", 1))
    assert "gone.pt was removed before its upload" in caplog.text


class _FakeModels:
    """Stands in for arno.sdk._model: records what the uploader asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.removed: list[str] = []
        fake = self

        class OutputModel:
            count = 0

            def __init__(self, task, name, framework, tags=None):
                OutputModel.count += 1
                self.id = f"m{OutputModel.count}"
                self.name, self.tags = name, tags or []
                fake.calls.append(("create", name, framework, tuple(self.tags)))

            def update_weights(self, weights_filename, iteration, auto_delete_file):
                assert auto_delete_file is False
                fake.calls.append(("weights", self.name, iteration))
                return f"arno://models/{self.id}"

        class Model:
            @staticmethod
            def remove(model_id, delete_weights_file=True, force=False):
                fake.removed.append(model_id)

        self.OutputModel, self.Model = OutputModel, Model


def test_snapshots_per_iteration_and_the_oldest_removed(tmp_path, monkeypatch):
    fake = _FakeModels()
    monkeypatch.setattr(models, "_model_api", lambda: fake)
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"w")
    task = SimpleNamespace(id="t4")
    for it in (1, 1, 2, 3):
        models.send(models.Save(task, "PyTorch", path, it, snapshots=2))  # type: ignore[arg-type]
    creates = [c[1:] for c in fake.calls if c[0] == "create"]
    assert creates == [("ckpt.pt", "PyTorch", ()),
                       ("ckpt.pt (iteration 1)", "PyTorch", ("snapshot",)),
                       ("ckpt.pt (iteration 2)", "PyTorch", ("snapshot",)),
                       ("ckpt.pt (iteration 3)", "PyTorch", ("snapshot",))]
    assert fake.removed == ["m2"]  # iteration 1's snapshot: three kept would be one too many
    assert [c[2] for c in fake.calls if c[:2] == ("weights", "ckpt.pt")] == [1, 1, 2, 3]
    models._closing(task)  # type: ignore[arg-type]
    assert not [k for k in models._models if k[0] == "t4"]


def test_a_file_path_is_found_from_a_path_or_an_open_file(tmp_path):
    target = tmp_path / "w.bin"
    target.write_bytes(b"x")
    assert models._path_of(str(target)) == target
    assert models._path_of(target) == target
    with open(target, "ab") as fh:
        fh.write(b"y")
        assert models._path_of(fh) == target
        assert target.read_bytes() == b"xy"  # flushed: the uploader reads what was written
    with open(target, "rb") as fh:
        assert models._path_of(fh) is None  # read, not written
    import io

    assert models._path_of(io.BytesIO()) is None
    assert models._path_of(tmp_path / "missing.bin") is None


def test_the_snapshot_count_comes_from_the_client_config(tmp_path, monkeypatch):
    from arno.client._config import load_config
    from arno.core.errors import InvalidInput

    monkeypatch.delenv("ARNO_MODEL_SNAPSHOTS", raising=False)
    assert load_config(home=tmp_path).model_snapshots == 1
    monkeypatch.setenv("ARNO_MODEL_SNAPSHOTS", "5")
    assert load_config(home=tmp_path).model_snapshots == 5
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv("ARNO_MODEL_SNAPSHOTS", bad)
        with pytest.raises(InvalidInput, match="ARNO_MODEL_SNAPSHOTS"):
            load_config(home=tmp_path)


# ---- end to end: a training script in its own process ----------------------------------------
@pytest.fixture
def api(sqlite_server):
    with sqlite_server.client() as client:
        yield client


def _output_models(api, task_id: str) -> dict[str, dict]:
    resp = api.get(f"/api/v1/tasks/{task_id}/models")
    resp.raise_for_status()
    return {row["name"]: row["model"] for row in resp.json()["output"]}


def _task_id(proc) -> str:
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("TASK_ID ")), None)
    assert line, f"no task id\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
    return line.split()[1]


def _weights(sqlite_server, tmp_path, monkeypatch, model_id: str) -> bytes:
    """The bytes of a model's single weights file, downloaded through the SDK."""
    from arno.sdk import set_session

    monkeypatch.setenv("ARNO_HOME", str(tmp_path / "reader-home"))
    monkeypatch.setenv("ARNO_API_HOST", sqlite_server.url)
    monkeypatch.setenv("ARNO_API_KEY", sqlite_server.admin_key)
    monkeypatch.setenv("ARNO_API_SECRET", sqlite_server.admin_secret)
    monkeypatch.delenv("ARNO_OFFLINE", raising=False)
    set_session(None)
    try:
        from arno.sdk._model import Model

        local = Path(Model(model_id).get_local_copy(raise_on_error=True))
        if local.is_dir():
            (local,) = [p for p in local.rglob("*") if p.is_file()]
        return local.read_bytes()
    finally:
        set_session(None)


SAVES = {
    "pytorch": ("torch", """
        import torch
        net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
        torch.save({"w": torch.zeros(2)}, "net.pt")  # a first version, replaced at once
        torch.save(net.state_dict(), "net.pt")
        torch.save(net.state_dict(), io.BytesIO())  # in memory: not a model
        """, "net.pt", "PyTorch"),
    "joblib": ("sklearn", """
        import joblib
        from sklearn.linear_model import LogisticRegression
        clf = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
        joblib.dump(clf, "clf.joblib")
        """, "clf.joblib", "Joblib"),
    "pickle": ("pickle", """
        import pickle
        with open("table.pkl", "wb") as fh:
            pickle.dump({"a": list(range(100))}, fh)
        pickle.dumps({"not": "a file"})
        pickle.dump({"memory": 1}, io.BytesIO())
        """, "table.pkl", "Pickle"),
    "xgboost": ("xgboost", """
        import numpy as np, xgboost as xgb
        X = np.arange(40, dtype=float).reshape(20, 2); y = (X[:, 0] > 20).astype(int)
        xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=y), 3).save_model("booster.json")
        xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(X, y).save_model("clf.ubj")
        """, "booster.json", "XGBoost"),
    "lightgbm": ("lightgbm", """
        import numpy as np, lightgbm as lgb
        X = np.arange(200, dtype=float).reshape(100, 2); y = (X[:, 0] > 100).astype(int)
        lgb.train({"verbose": -1, "min_data_in_leaf": 5}, lgb.Dataset(X, label=y),
                  3).save_model("lgb.txt")
        """, "lgb.txt", "LightGBM"),
    "onnx": ("onnx", """
        import onnx
        from onnx import TensorProto, helper
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
        onnx.save(helper.make_model(graph), "relu.onnx")
        """, "relu.onnx", "ONNX"),
    "catboost": ("catboost", """
        from catboost import CatBoostClassifier
        CatBoostClassifier(iterations=3, verbose=False).fit(
            [[0], [1], [2], [3]], [0, 0, 1, 1]).save_model("cb.cbm")
        """, "cb.cbm", "CatBoost"),
    "keras": ("keras", """
        import keras
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.save("tiny.keras")
        """, "tiny.keras", "Keras"),
}

SCRIPT = """
import io
from arno import Task

task = Task.init(project_name="frameworks/models", task_name="{name}",
                 auto_resource_monitoring=False, auto_connect_frameworks={frameworks})
logger = task.get_logger()
for it in range(3):
    logger.report_scalar("loss", "train", 1.0 / (it + 1), iteration=it * 10)
{body}
print("TASK_ID", task.id)
"""


def _script(name: str, body: str, frameworks: object = True) -> str:
    import textwrap

    return SCRIPT.format(name=name, frameworks=frameworks,
                         body=textwrap.dedent(body).strip("\n"))


def _lib_param(key: str) -> pytest.param:
    module = SAVES[key][0]
    return pytest.param(key, id=key, marks=pytest.mark.skipif(
        not _have(module), reason=f"{module} is not installed here"))


FAKE_MODEL_API = """
import sys, types
fake = types.ModuleType("arno.sdk._model")
class OutputModel:
    def __init__(self, task, name, framework, tags=None):
        self.id, self.name = name, name
        with open("calls.txt", "a") as out:  # not stdout: the uploader's thread would interleave
            out.write(f"CREATE {name} {framework}\\n")
    def update_weights(self, weights_filename, iteration, auto_delete_file):
        with open("calls.txt", "a") as out:
            out.write(f"WEIGHTS {self.name} {iteration} {auto_delete_file}\\n")
fake.OutputModel = OutputModel
sys.modules["arno.sdk._model"] = fake
"""

WIRED = [k for k in SAVES if _have(SAVES[k][0])]


@pytest.mark.parametrize("frameworks", [True, {k: False for k in SAVES}], ids=["on", "off"])
def test_every_library_save_reaches_the_uploader(tmp_path, frameworks):
    """The hooks alone (offline, the model API a stand-in): each library's save is one model
    of its file name and framework at the reporting iteration; turned off, none is."""
    body = "\n".join(SAVES[k][1] for k in WIRED)
    proc = run_script(SimpleNamespace(url="http://127.0.0.1:9", admin_key="k", admin_secret="s"),
                      tmp_path, FAKE_MODEL_API + _script("hooks", body, frameworks),
                      env={"ARNO_OFFLINE": "1"}, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    calls = tmp_path / "calls.txt"
    lines = calls.read_text().splitlines() if calls.exists() else []
    created = sorted(ln.split()[1:] for ln in lines if ln.startswith("CREATE"))
    weights = {ln.split()[1]: ln.split()[2:] for ln in lines if ln.startswith("WEIGHTS")}
    if frameworks is not True:
        assert created == []
        return
    expected = sorted([SAVES[k][2], SAVES[k][3]] for k in WIRED)
    if "xgboost" in WIRED:
        expected = sorted([*expected, ["clf.ubj", "XGBoost"]])
    assert created == expected
    assert all(w == ["20", "False"] for w in weights.values()), weights


@pytest.mark.parametrize("key", [_lib_param(k) for k in SAVES])
def test_a_saved_file_becomes_an_output_model(sqlite_server, api, tmp_path, monkeypatch, key):
    _module, body, file_name, framework = SAVES[key]
    proc = run_script(sqlite_server, tmp_path, _script(f"{key} save", body))
    tid = _task_id(proc)
    outputs = _output_models(api, tid)
    assert file_name in outputs, (sorted(outputs), proc.stderr[-3000:])
    model = outputs[file_name]
    assert model["framework"] == framework
    assert model["iteration"] == 20  # the last iteration reported before the save
    assert model["task_id"] == tid
    local = tmp_path / file_name
    assert local.is_file()  # the user's file stays
    assert _weights(sqlite_server, tmp_path, monkeypatch, model["id"]) == local.read_bytes()
    if key == "xgboost":  # the scikit-learn wrapper's save is one model too, not two
        assert outputs["clf.ubj"]["framework"] == "XGBoost"
        assert len(outputs) == 2
    else:
        assert list(outputs) == [file_name]  # in-memory saves and pickle.dumps are not models


def test_torch_weights_download_back_equal(sqlite_server, api, tmp_path, monkeypatch):
    if not _have("torch"):
        pytest.skip("torch is not installed here")
    import torch

    proc = run_script(sqlite_server, tmp_path, _script("torch weights", SAVES["pytorch"][1]))
    model = _output_models(api, _task_id(proc))["net.pt"]
    data = _weights(sqlite_server, tmp_path, monkeypatch, model["id"])
    (tmp_path / "back.pt").write_bytes(data)
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    mine = torch.load(tmp_path / "net.pt", weights_only=True)
    assert list(back) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for name, tensor in mine.items():
        assert torch.equal(back[name], tensor)


OFF_BODY = "\n".join(SAVES[k][1] for k in ("pytorch", "joblib", "pickle", "xgboost",
                                           "lightgbm", "onnx") if _have(SAVES[k][0]))


def test_each_framework_turned_off_registers_nothing(sqlite_server, api, tmp_path):
    off = {k: False for k in SAVES}
    proc = run_script(sqlite_server, tmp_path, _script("all off", OFF_BODY, off))
    tid = _task_id(proc)
    assert _output_models(api, tid) == {}
    assert (tmp_path / "net.pt").is_file()  # the libraries still did their own work


def test_one_framework_off_leaves_the_others_on(sqlite_server, api, tmp_path):
    body = SAVES["pickle"][1] + SAVES["joblib"][1]
    proc = run_script(sqlite_server, tmp_path, _script("pickle off", body, {"pickle": False}))
    assert sorted(_output_models(api, _task_id(proc))) == ["clf.joblib"]


SNAPSHOT_BODY = """
import torch
from arno.sdk._frameworks.models import uploader
for it in (1, 2, 3):
    logger.report_scalar("loss", "val", 0.1, iteration=100 + it)
    torch.save({"step": torch.tensor([it])}, "ckpt.pt")
    assert uploader.wait(task.id, 60) == []  # each save its own upload
"""


def test_snapshots_kept_to_the_configured_count(sqlite_server, api, tmp_path):
    proc = run_script(sqlite_server, tmp_path, _script("snapshots", SNAPSHOT_BODY),
                      env={"ARNO_MODEL_SNAPSHOTS": "2"})
    outputs = _output_models(api, _task_id(proc))
    assert sorted(outputs) == ["ckpt.pt", "ckpt.pt (iteration 102)", "ckpt.pt (iteration 103)"]
    assert outputs["ckpt.pt"]["iteration"] == 103
    assert "snapshot" not in outputs["ckpt.pt"]["tags"]
    for k in (102, 103):
        snap = outputs[f"ckpt.pt (iteration {k})"]
        assert snap["tags"] == ["snapshot"]
        assert snap["iteration"] == k
        assert snap["framework"] == "PyTorch"


def test_one_snapshot_by_default_updates_the_model_in_place(sqlite_server, api, tmp_path):
    proc = run_script(sqlite_server, tmp_path, _script("in place", SNAPSHOT_BODY))
    outputs = _output_models(api, _task_id(proc))
    assert list(outputs) == ["ckpt.pt"]
    assert outputs["ckpt.pt"]["iteration"] == 103


SLOW_BODY = """
import time, torch
from arno.sdk._frameworks import models
real_send = models.send
def slow_send(save):
    time.sleep(2.0)  # a slow server
    real_send(save)
models.send = slow_send
net = torch.nn.Linear(8, 8)
took = []
for it in range(5):
    logger.report_scalar("loss", "slow", 1.0, iteration=it)
    started = time.perf_counter()
    torch.save(net.state_dict(), "slow.pt")
    took.append(time.perf_counter() - started)
print("SLOWEST", max(took))
"""


def test_a_save_returns_before_its_upload(sqlite_server, api, tmp_path):
    proc = run_script(sqlite_server, tmp_path, _script("not blocked", SLOW_BODY))
    tid = _task_id(proc)
    slowest = float(next(ln for ln in proc.stdout.splitlines()
                         if ln.startswith("SLOWEST")).split()[1])
    assert slowest < 0.5
    # the exit waited for the upload: the last save is there (the highest iteration the
    # task reported is the prelude's 20)
    model = _output_models(api, tid)["slow.pt"]
    assert model["iteration"] == 20 and model["weights_size"] > 0
