"""The model registry from the SDK against a live server: OutputModel with real files (a
scikit-learn model dumped with joblib), deduplicated uploads, packages, registered URIs,
publishing, InputModel by id and by name, verified downloads into the cache."""

from __future__ import annotations

import http.server
import os
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from arno import InputModel, Model, OutputModel, Task
from arno.client._models import ModelClient
from arno.core.errors import Conflict, Immutable, IntegrityError, InvalidInput, NotFound
from arno.sdk import _context

QUIET = {"auto_connect_streams": False, "auto_resource_monitoring": False,
         "auto_connect_frameworks": False}


def project() -> str:
    return f"models/{uuid.uuid4().hex[:8]}"


def start(name: str = "train", p: str | None = None) -> Task:
    return Task.init(project_name=p or project(), task_name=name, **QUIET)


def models_in(p: str) -> list[dict]:
    return ModelClient(_context.session()).list(project=p, include_archived=True)["items"]


def sklearn_model(path: Path) -> Path:
    joblib = pytest.importorskip("joblib")
    linear = pytest.importorskip("sklearn.linear_model")
    clf = linear.LogisticRegression(max_iter=200)
    clf.fit([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]], [1, 0, 1, 0])
    joblib.dump(clf, path)
    return path


class Counting:
    """Wraps the SDK's session and counts the requests by method and path."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str):
        attr = getattr(self.inner, name)
        if name in ("get", "post", "put", "patch", "delete", "put_bytes", "get_bytes"):
            def wrapped(path, *a, **kw):
                self.calls.append((name, path))
                return attr(path, *a, **kw)
            return wrapped
        return attr


# ---- OutputModel ------------------------------------------------------------------------------
def test_output_model_round_trip_with_a_joblib_model(sdk, tmp_path):
    joblib = pytest.importorskip("joblib")
    task = start()
    p = task.get_project_name()
    weights = sklearn_model(tmp_path / "clf.pkl")
    original = weights.read_bytes()
    model = OutputModel(task=task, name="clf", framework="ScikitLearn", tags=["baseline"],
                        comment="logistic regression", label_enumeration={"cat": 0, "dog": 1},
                        config_dict={"max_iter": 200, "penalty": "l2"})
    assert models_in(p) == []  # nothing on the server before weights
    counting = Counting(model._session)
    model._session = counting
    uri = model.update_weights(weights_filename=str(weights), iteration=7)
    creates = [c for c in counting.calls if c[0] == "post" and c[1] == "models"]
    assert len(creates) == 1  # the record with every field and its weights: one request
    assert not [c for c in counting.calls if c[0] in ("patch", "put")]
    assert uri == f"arno://models/{model.id}" == model.url
    assert not weights.exists()  # auto_delete_file defaults to True, as in ClearML

    got = Model(model.id)
    assert (got.name, got.framework, got.tags, got.comment) == (
        "clf", "ScikitLearn", ["baseline"], "logistic regression")
    assert got.labels == {"cat": 0, "dog": 1}
    assert got.config_dict == {"max_iter": 200, "penalty": "l2"}
    assert got.task == task.id and got.iteration == 7 and not got.published
    [row] = models_in(p)
    assert row["weights_files"] == 1 and row["weights_size"] == len(original)

    local = Path(InputModel(model.id).get_local_copy())
    home = Path(os.environ["ARNO_HOME"])
    assert local.name == "clf.pkl" and local.read_bytes() == original
    assert local.parent.parent == home / "cache" / "models"
    assert local.parent.name == row["weights_hash"]
    assert joblib.load(local).predict([[0.0, 1.0]]).tolist() == [1]  # loading: the caller's

    # a cached copy is reused; force_download fetches it again
    reader = InputModel(model.id)
    counting = Counting(reader._session)
    reader._session = counting
    assert reader.get_weights() == str(local)
    assert not [c for c in counting.calls if c[0] == "get_bytes"]
    assert reader.get_local_copy(force_download=True) == str(local)
    assert [c for c in counting.calls if c[0] == "get_bytes"]
    assert local.read_bytes() == original
    task.close()


def test_metadata_labels_design_and_task_defaults(sdk, tmp_path):
    task = start("meta run")
    task.set_model_label_enumeration({"a": 1, "b": 2})
    model = OutputModel()  # the current task, its name and its labels
    assert model.name == "meta run" and model.labels == {"a": 1, "b": 2}
    assert model.set_metadata("accuracy", "0.93", "float")  # creates the record
    assert model.created and Model(model.id).name == "meta run"
    model.set_metadata("epochs", 12)
    model.update_labels({"x": 0})
    model.update_design(config_text="layers: 3\n")
    assert model.get_metadata("accuracy") == "0.93"
    assert model.get_metadata_casted("epochs") == 12
    assert model.get_metadata("missing") is None
    again = Model(model.id)
    assert again.get_all_metadata() == {
        "accuracy": {"key": "accuracy", "type": "float", "value": "0.93"},
        "epochs": {"key": "epochs", "type": "int", "value": "12"}}
    assert again.get_all_metadata_casted()["accuracy"]["value"] == 0.93
    assert (again.labels, again.config_text, again.config_dict) == (
        {"x": 0}, "layers: 3\n", {"layers": 3})
    again.set_all_metadata({"only": {"value": "1", "type": "int"}})
    assert list(Model(model.id).get_all_metadata()) == ["only"]
    task.close()


def test_a_new_version_of_a_large_file_sends_only_its_changed_pieces(sdk, tmp_path):
    task = start("dedup")
    big = tmp_path / "weights.bin"
    data = bytearray(os.urandom(20 << 20))
    big.write_bytes(data)
    first = OutputModel(task=task, name="big")
    first.update_weights(weights_filename=str(big), auto_delete_file=False)
    assert first.last_upload.raw_bytes == 20 << 20
    at = 9 << 20  # 1% of the file changed, in one place
    data[at:at + (200 << 10)] = os.urandom(200 << 10)
    big.write_bytes(data)
    first.update_weights(weights_filename=str(big), auto_delete_file=False, iteration=2)
    second = first.last_upload
    assert 0 < second.raw_bytes < 4 << 20, second  # ~1-3 MiB of pieces, not 20
    assert second.pieces <= 8
    assert Path(Model(first.id).get_local_copy()).read_bytes() == bytes(data)
    # the same bytes again under another model: nothing to send
    other = OutputModel(task=task, name="big copy")
    other.update_weights(weights_filename=str(big), auto_delete_file=False)
    assert other.last_upload.raw_bytes == 0
    task.close()


def test_a_package_of_files(sdk, tmp_path):
    task = start("package")
    folder = tmp_path / "export"
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden": 16}')
    (folder / "model.bin").write_bytes(os.urandom(3000))
    (folder / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    model = OutputModel(task=task, name="bert")
    uri = model.update_weights_package(weights_path=str(folder), auto_delete_file=False)
    assert uri == model.url
    info = Model(model.id).data
    assert info["package"] and info["weights_files"] == 3
    files = Model(model.id).get_weights_package()
    root = Path(Model(model.id).get_weights_package(return_path=True))
    assert sorted(p.relative_to(root).as_posix() for p in files) == [
        "config.json", "model.bin", "tokenizer/vocab.txt"]
    assert (root / "model.bin").read_bytes() == (folder / "model.bin").read_bytes()

    listed = OutputModel(task=task, name="two files")
    listed.update_weights_package(weights_filenames=[str(folder / "config.json"),
                                                     str(folder / "model.bin")])
    assert not (folder / "config.json").exists()  # auto_delete_file
    root = Path(Model(listed.id).get_local_copy())
    assert sorted(p.name for p in root.iterdir()) == ["config.json", "model.bin"]
    task.close()


@pytest.fixture
def http_files(tmp_path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))

    class Quiet(http.server.ThreadingHTTPServer):
        pass

    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = Quiet(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()


def test_registered_uri_downloaded_over_http_and_import_reuses_it(sdk, http_files):
    base, served = http_files
    (served / "resnet.onnx").write_bytes(b"onnx-bytes" * 100)
    url = f"{base}/resnet.onnx"
    task = start("registered")
    model = OutputModel(task=task, name="resnet")
    assert model.update_weights(register_uri=url) == url
    local = Path(InputModel(model.id).get_local_copy())
    assert local.read_bytes() == b"onnx-bytes" * 100
    imported = InputModel.import_model(url, name="other name")
    assert imported.id == model.id  # an existing model at that URI is reused
    fresh = InputModel.import_model(f"{base}/other.onnx", project=task.get_project_name(),
                                    tags=["imported"], create_as_published=True,
                                    config_dict={"k": 1})
    assert fresh.id != model.id and fresh.published and fresh.name == "other.onnx"
    assert fresh.config_dict == {"k": 1} and fresh.tags == ["imported"]
    assert InputModel.load_model(url).id == model.id
    assert InputModel.load_model(f"{base}/nothing.onnx") is None
    task.close()


def test_bad_input(sdk, tmp_path):
    task = start("bad")
    p = task.get_project_name()
    model = OutputModel(task=task, name="bad")
    missing = tmp_path / "nope" / "model.pt"
    with pytest.raises(InvalidInput, match=str(missing)):
        model.update_weights(weights_filename=str(missing))
    with pytest.raises(InvalidInput, match="not found"):
        model.update_weights_package(weights_filenames=[str(missing)])
    assert models_in(p) == []  # nothing was sent
    for local in ("file:///etc/passwd", "/etc/passwd", "relative/model.pt"):
        with pytest.raises(InvalidInput):
            model.update_weights(register_uri=local)
    assert models_in(p) == []
    with pytest.raises(InvalidInput):
        model.update_weights()
    unknown = uuid.uuid4().hex
    with pytest.raises(NotFound, match=unknown):
        InputModel(unknown)
    with pytest.raises(NotFound, match=unknown):
        Model(unknown)
    with pytest.raises(NotFound, match="'ghost'"):
        InputModel(name="ghost", project=p)
    task.close()


def test_publish_makes_the_model_immutable(sdk, tmp_path):
    task = start("publish")
    empty = OutputModel(task=task, name="empty")
    with pytest.raises(Conflict, match="no weights"):
        empty.publish()
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w" * 100)
    model = OutputModel(task=task, name="final")
    model.update_weights(weights_filename=str(weights))
    model.publish()
    assert model.published and Model(model.id).published
    weights.write_bytes(b"v" * 100)
    with pytest.raises(Immutable):
        model.update_weights(weights_filename=str(weights), auto_delete_file=False)
    assert weights.exists()  # not deleted: the upload was refused
    with pytest.raises(Immutable):
        model.update_design(config_text="changed")
    with pytest.raises(Immutable):
        model.set_metadata("k", "v")
    with pytest.raises(Immutable):
        model.update_labels({"a": 1})
    model.comment = "still fine"  # tags and comment may change
    model.tags = ["prod"]
    again = Model(model.id)
    assert (again.comment, again.tags, again.config_text) == ("still fine", ["prod"], "")
    task.close()


def test_corrupt_download_is_detected_and_nothing_is_written(sdk, tmp_path):
    task = start("corrupt")
    weights = tmp_path / "w.bin"
    content = os.urandom(5000)
    weights.write_bytes(content)
    model = OutputModel(task=task, name="w")
    model.update_weights(weights_filename=str(weights))
    reader = Model(model.id)
    inner = reader._session

    class Damaging(Counting):
        def get_bytes(self, path, start=None, end=None):
            base, body = inner.get_bytes(path, start, end)
            body = bytearray(body)
            body[len(body) // 2] ^= 0xFF
            return base, bytes(body)

    reader._session = Damaging(inner)
    with pytest.raises(IntegrityError):
        reader.get_local_copy(raise_on_error=True)
    assert reader.get_local_copy() is None
    cache = Path(os.environ["ARNO_HOME"]) / "cache" / "models"
    assert [p for p in cache.rglob("*") if p.is_file()] == []
    reader._session = inner
    assert Path(reader.get_local_copy()).read_bytes() == content
    task.close()
