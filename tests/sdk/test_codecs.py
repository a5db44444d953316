"""Artifact serialization: every type round-trips, pickles and hostile zips are refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from arno.core.errors import Forbidden, InvalidInput
from arno.sdk._codecs import (
    PREVIEW_LIMIT,
    EncodedArtifact,
    decode_artifact,
    encode_artifact,
    extract_zip,
)


def roundtrip(obj: object, tmp_path: Path, name: str = "thing", **kw: object) -> tuple:
    enc = encode_artifact(obj, name=name, work_dir=tmp_path / "work")
    assert isinstance(enc, EncodedArtifact)
    assert enc.path.is_file()
    assert enc.path.is_relative_to(tmp_path / "work")
    assert enc.path.name == enc.file_name
    assert len(enc.preview.encode("utf-8")) <= PREVIEW_LIMIT
    json.dumps(enc.metadata, allow_nan=False)  # metadata travels as JSON
    return enc, decode_artifact(enc.path, enc.type, metadata=enc.metadata, **kw)


# --------------------------------------------------------------------------- numpy


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(12, dtype=np.int16).reshape(3, 4),
        np.linspace(0, 1, 7),
        np.array([[1.5, np.nan], [np.inf, -0.0]], dtype=np.float32),
        np.array([True, False]),
        np.array(["a", "bc"]),
        np.zeros((2, 0, 3)),
        np.array(3.25),
    ],
)
def test_numpy_roundtrip(tmp_path: Path, arr: np.ndarray) -> None:
    enc, back = roundtrip(arr, tmp_path, name="features")
    assert enc.type == "numpy"
    assert enc.file_name == "features.npy"
    assert enc.content_type == "application/x-npy"
    assert enc.metadata["shape"] == list(arr.shape)
    assert enc.metadata["dtype"] == str(arr.dtype)
    assert back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)


def test_numpy_preview_has_shape_dtype_and_values(tmp_path: Path) -> None:
    enc = encode_artifact(np.arange(100).reshape(10, 10), name="a", work_dir=tmp_path)
    assert "shape=(10, 10)" in enc.preview
    assert "int64" in enc.preview
    assert "[0, 1, 2, 3" in enc.preview
    assert "100 values" in enc.preview


def test_large_numpy_preview_is_short(tmp_path: Path) -> None:
    enc = encode_artifact(np.random.rand(500, 500), name="a", work_dir=tmp_path)
    assert len(enc.preview.encode()) <= PREVIEW_LIMIT


def test_object_array_falls_back_to_pickle(tmp_path: Path) -> None:
    arr = np.array([{"a": 1}, None], dtype=object)
    enc = encode_artifact(arr, name="objs", work_dir=tmp_path)
    assert enc.type == "pickle"
    assert enc.file_name == "objs.pkl"
    assert enc.metadata["dtype"] == "object"
    with pytest.raises(Forbidden):
        decode_artifact(enc.path, enc.type)
    back = decode_artifact(enc.path, enc.type, allow_pickle=True)
    assert back.tolist() == arr.tolist()


def test_object_array_without_pickle_is_invalid(tmp_path: Path) -> None:
    arr = np.array([object()], dtype=object)
    with pytest.raises(InvalidInput, match="object"):
        encode_artifact(arr, name="o", work_dir=tmp_path, allow_pickle_fallback=False)


# --------------------------------------------------------------------------- pandas


def test_dataframe_roundtrip_keeps_index_and_values(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {"a": [1, 2, 3], "b": [0.1, np.nan, 1 / 3], "s": ["x", "y", "z"]},
        index=pd.Index(["r1", "r2", "r3"], name="row"),
    )
    enc, back = roundtrip(df, tmp_path, name="table")
    assert enc.type == "pandas"
    assert enc.file_name == "table.csv.gz"
    assert enc.metadata["shape"] == [3, 3]
    assert enc.metadata["rows"] == 3
    assert enc.metadata["columns"] == ["a", "b", "s"]
    pd.testing.assert_frame_equal(back, df)
    assert back.index.name == "row"
    assert back["b"].iloc[2] == 1 / 3  # floats survive exactly


def test_dataframe_integer_index_and_unnamed_index(tmp_path: Path) -> None:
    df = pd.DataFrame({"v": [5.0, 6.0]}, index=[10, 20])
    _, back = roundtrip(df, tmp_path)
    assert back.index.tolist() == [10, 20]
    assert back.index.name is None
    pd.testing.assert_frame_equal(back, df)


def test_dataframe_multiindex_and_dtypes_with_metadata(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "when": pd.to_datetime(["2024-01-01", "2024-02-01"]),
            "kind": pd.Categorical(["u", "v"]),
            "n": [1, 2],
        },
        index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["key", "num"]),
    )
    _, back = roundtrip(df, tmp_path)
    assert back.index.names == ["key", "num"]
    assert back.loc[("b", 2), "n"] == 2
    assert str(back["when"].dtype).startswith("datetime64")
    assert back["when"].iloc[1] == pd.Timestamp("2024-02-01")
    assert str(back["kind"].dtype) == "category"


def test_series_roundtrip(tmp_path: Path) -> None:
    s = pd.Series([1.5, 2.5, 3.5], index=["a", "b", "c"], name="loss")
    enc, back = roundtrip(s, tmp_path)
    assert enc.type == "pandas"
    assert enc.metadata["kind"] == "Series"
    pd.testing.assert_series_equal(back, s)


def test_dataframe_without_metadata_still_decodes(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2]}, index=["x", "y"])
    enc = encode_artifact(df, name="d", work_dir=tmp_path)
    back = decode_artifact(enc.path, enc.type)
    pd.testing.assert_frame_equal(back, df)


def test_dataframe_preview_has_shape_and_head(tmp_path: Path) -> None:
    df = pd.DataFrame({"alpha": range(100), "beta": [f"v{i}" for i in range(100)]})
    enc = encode_artifact(df, name="d", work_dir=tmp_path)
    assert "shape=(100, 2)" in enc.preview
    assert "alpha" in enc.preview and "beta" in enc.preview
    assert "v4" in enc.preview and "v5" not in enc.preview  # head() only


def test_equal_dataframes_give_equal_bytes(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": range(50)})
    one = encode_artifact(df, name="d", work_dir=tmp_path)
    two = encode_artifact(df, name="d", work_dir=tmp_path)
    assert one.path != two.path  # each encode gets its own directory
    assert one.path.read_bytes() == two.path.read_bytes()


# --------------------------------------------------------------------------- image


def test_pil_image_roundtrip(tmp_path: Path) -> None:
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    img = Image.fromarray(pixels)
    enc, back = roundtrip(img, tmp_path, name="sample")
    assert enc.type == "image"
    assert enc.file_name == "sample.png"
    assert enc.content_type == "image/png"
    assert enc.metadata == {"width": 5, "height": 4, "mode": "RGB"}
    assert back.size == (5, 4)
    assert back.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(back), pixels)


def test_cmyk_image_is_converted(tmp_path: Path) -> None:
    enc, back = roundtrip(Image.new("CMYK", (3, 2)), tmp_path)
    assert enc.metadata["converted_to"] == "RGB"
    assert back.mode == "RGB" and back.size == (3, 2)


# --------------------------------------------------------------------------- json / text


@pytest.mark.parametrize(
    "obj",
    [
        {"lr": 0.001, "layers": [64, 32], "name": "net", "nested": {"ok": True, "none": None}},
        [1, "two", 3.0, [4]],
        {},
        {"unicode": "héllo ✓"},
    ],
)
def test_json_roundtrip(tmp_path: Path, obj: object) -> None:
    enc, back = roundtrip(obj, tmp_path, name="config")
    assert enc.type == "json"
    assert enc.file_name == "config.json"
    assert enc.content_type == "application/json"
    assert back == obj


def test_json_uses_str_for_unknown_values(tmp_path: Path) -> None:
    _, back = roundtrip({"path": Path("/a/b"), "when": pd.Timestamp("2024-01-01")}, tmp_path)
    assert back == {"path": "/a/b", "when": "2024-01-01 00:00:00"}


def test_json_preview_has_head(tmp_path: Path) -> None:
    enc = encode_artifact({"alpha": 1, "beta": [1, 2]}, name="c", work_dir=tmp_path)
    assert '"alpha": 1' in enc.preview
    assert enc.metadata["keys"] == ["alpha", "beta"]


def test_dict_with_tuple_keys_falls_back_to_pickle(tmp_path: Path) -> None:
    obj = {(1, 2): "pair"}
    enc, back = roundtrip(obj, tmp_path, allow_pickle=True)
    assert enc.type == "pickle"
    assert back == obj


def test_text_roundtrip(tmp_path: Path) -> None:
    text = "line one\nline two ✓\r\nend"
    enc, back = roundtrip(text, tmp_path, name="notes")
    assert enc.type == "text"
    assert enc.file_name == "notes.txt"
    assert enc.content_type.startswith("text/plain")
    assert back == text
    assert enc.preview == text


def test_long_text_preview_is_clipped(tmp_path: Path) -> None:
    enc = encode_artifact("é" * 10_000, name="t", work_dir=tmp_path)
    assert len(enc.preview.encode("utf-8")) <= PREVIEW_LIMIT
    assert decode_artifact(enc.path, enc.type) == "é" * 10_000


def test_string_naming_missing_file_is_text(tmp_path: Path) -> None:
    enc = encode_artifact(str(tmp_path / "nope.csv"), name="t", work_dir=tmp_path / "w")
    assert enc.type == "text"


# --------------------------------------------------------------------------- file / folder


@pytest.mark.parametrize("as_path", [True, False])
def test_file_roundtrip(tmp_path: Path, as_path: bool) -> None:
    src = tmp_path / "weights.bin"
    payload = bytes(range(256)) * 10
    src.write_bytes(payload)
    enc, back = roundtrip(src if as_path else str(src), tmp_path)
    assert enc.type == "file"
    assert enc.file_name == "weights.bin"
    assert enc.path != src  # a copy, so later edits do not change the upload
    assert enc.metadata["size"] == len(payload)
    assert "weights.bin" in enc.preview and "2.5 KB" in enc.preview
    assert isinstance(back, Path)
    assert back.read_bytes() == payload


def test_file_content_type_from_name(tmp_path: Path) -> None:
    for name, ctype in [("a.csv", "text/csv"), ("a.csv.gz", "application/gzip")]:
        (tmp_path / name).write_bytes(b"x")
        enc = encode_artifact(tmp_path / name, name="f", work_dir=tmp_path / "w")
        assert enc.content_type == ctype


def test_missing_path_object_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="neither a file nor a folder"):
        encode_artifact(tmp_path / "missing", name="x", work_dir=tmp_path)


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha",
        "sub/b.bin": bytes(range(10)),
        "sub/deeper/c.json": b'{"c": 1}',
        "z.txt": b"",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "empty").mkdir()
    return files


def test_folder_roundtrip(tmp_path: Path) -> None:
    src = tmp_path / "dataset"
    files = make_tree(src)
    enc, back = roundtrip(str(src), tmp_path, name="data")
    assert enc.type == "folder"
    assert enc.file_name == "data.zip"
    assert enc.content_type == "application/zip"
    assert enc.metadata["file_count"] == 4
    assert enc.metadata["files"] == sorted(files)
    assert "4 files" in enc.preview
    with zipfile.ZipFile(enc.path) as zf:
        names = zf.namelist()
    assert names == sorted(names)
    assert all(not n.startswith("/") and ".." not in n for n in names)
    assert isinstance(back, Path) and back.is_dir()
    assert back.parent == enc.path.parent
    got = {p.relative_to(back).as_posix(): p.read_bytes() for p in back.rglob("*") if p.is_file()}
    assert got == files
    assert (back / "empty").is_dir()


def test_folder_zip_is_deterministic(tmp_path: Path) -> None:
    src = tmp_path / "d"
    make_tree(src)
    one = encode_artifact(src, name="d", work_dir=tmp_path / "w")
    two = encode_artifact(src, name="d", work_dir=tmp_path / "w")
    assert one.path.read_bytes() == two.path.read_bytes()


def test_folder_skips_work_dir_inside_it(tmp_path: Path) -> None:
    src = tmp_path / "project"
    make_tree(src)
    enc = encode_artifact(src, name="p", work_dir=src / ".arno")
    assert enc.metadata["file_count"] == 4
    with zipfile.ZipFile(enc.path) as zf:
        assert not any(n.startswith(".arno") for n in zf.namelist())


def test_folder_decode_twice_overwrites(tmp_path: Path) -> None:
    src = tmp_path / "d"
    make_tree(src)
    enc = encode_artifact(src, name="d", work_dir=tmp_path / "w")
    first = decode_artifact(enc.path, "folder")
    second = decode_artifact(enc.path, "folder")
    assert first == second
    assert (second / "a.txt").read_bytes() == b"alpha"


@pytest.mark.parametrize(
    "evil",
    [
        "../evil.txt",
        "sub/../../evil.txt",
        "/tmp/arno-codecs-evil-abs.txt",
        "..\\evil.txt",
        "C:/evil.txt",
    ],
)
def test_zip_escape_is_refused_and_nothing_written(tmp_path: Path, evil: str) -> None:
    archive = tmp_path / "store" / "bad.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good.txt", b"fine")
        zf.writestr(evil, b"pwned")
    before = set(tmp_path.rglob("*"))
    with pytest.raises(InvalidInput, match="refusing zip member"):
        decode_artifact(archive, "folder")
    assert set(tmp_path.rglob("*")) == before  # not even good.txt was extracted
    assert not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/arno-codecs-evil-abs.txt").exists()


def test_zip_dotdot_that_stays_inside_is_allowed(tmp_path: Path) -> None:
    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/../b.txt", b"b")
    target = extract_zip(archive, tmp_path / "out")
    assert (target / "b.txt").read_bytes() == b"b"


# --------------------------------------------------------------------------- pickle


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (other.x, other.y) == (self.x, self.y)


@pytest.mark.parametrize("obj", [Point(1, 2), (1, 2), {1, 2}, 42, None, b"raw"])
def test_pickle_needs_opt_in(tmp_path: Path, obj: object) -> None:
    enc = encode_artifact(obj, name="obj", work_dir=tmp_path)
    assert enc.type == "pickle"
    assert enc.file_name == "obj.pkl"
    with pytest.raises(Forbidden, match="allow_pickle=True"):
        decode_artifact(enc.path, enc.type)
    assert decode_artifact(enc.path, enc.type, allow_pickle=True) == obj


def test_pickle_forbidden_message(tmp_path: Path) -> None:
    enc = encode_artifact(Point(0, 0), name="p", work_dir=tmp_path)
    with pytest.raises(Forbidden) as info:
        decode_artifact(enc.path, "pickle")
    assert info.value.message == "artifact is a pickle; pass allow_pickle=True to load it"
    assert info.value.status == 403


def test_no_pickle_fallback_names_the_type(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="Point"):
        encode_artifact(Point(1, 2), name="p", work_dir=tmp_path, allow_pickle_fallback=False)
    assert list((tmp_path).iterdir()) == []  # the half-made directory is cleaned up


def test_unpicklable_object_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot pickle"):
        encode_artifact(lambda: None, name="f", work_dir=tmp_path)


# --------------------------------------------------------------------------- misc


def test_unknown_type_on_decode(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown artifact type"):
        decode_artifact(tmp_path / "x", "tensor")


def test_npy_holding_objects_is_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "sneaky.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidInput):
        decode_artifact(path, "numpy", allow_pickle=True)


def test_odd_names_make_safe_file_names(tmp_path: Path) -> None:
    enc = encode_artifact([1], name="../../etc/passwd", work_dir=tmp_path)
    assert enc.path.is_relative_to(tmp_path)
    assert "/" not in enc.file_name and not enc.file_name.startswith(".")
    enc = encode_artifact([1], name="", work_dir=tmp_path)
    assert enc.file_name == "artifact.json"


# --------------------------------------------------------------------------- optional deps

_BLOCK_OPTIONAL = """
import sys

class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"numpy", "pandas", "PIL"}:
            raise ImportError(name + " is not installed here")
        return None

sys.meta_path.insert(0, _Block())
"""


def test_works_without_numpy_pandas_pillow(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import arno.sdk._codecs as codecs

    src_root = Path(codecs.__file__).resolve().parents[2]
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "f.txt").write_text("f")
    code = (
        _BLOCK_OPTIONAL
        + """
from pathlib import Path
from arno.sdk._codecs import decode_artifact, encode_artifact
work = Path("work")
for obj, kind in [({"a": 1}, "json"), ("hello", "text"), ("folder", "folder"), ((1,), "pickle")]:
    enc = encode_artifact(obj, name="x", work_dir=work)
    assert enc.type == kind, (enc.type, kind)
    decode_artifact(enc.path, enc.type, allow_pickle=True)
assert "numpy" not in sys.modules and "pandas" not in sys.modules and "PIL" not in sys.modules
"""
    )
    env = {**os.environ, "PYTHONPATH": str(src_root)}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True)
