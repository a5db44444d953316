"""Plotly-JSON builders: right numbers in the right places, always strict JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from arno.core.errors import InvalidInput
from arno.sdk._plots import (
    MAX_TABLE_ROWS,
    confusion_matrix_plot,
    histogram_plot,
    line_plot,
    normalize_plotly,
    scatter2d_plot,
    surface_plot,
    table_plot,
    to_json_safe,
)


def strict(fig: dict[str, Any]) -> dict[str, Any]:
    """The figure after a strict JSON round trip (fails on NaN, numpy types ...)."""
    assert set(fig) >= {"data", "layout"}
    return json.loads(json.dumps(fig, allow_nan=False))


# --------------------------------------------------------------------------- table


def test_table_from_dataframe_has_index_header_and_cells() -> None:
    df = pd.DataFrame(
        {"acc": [0.9, np.nan], "n": [1, 2], "when": pd.to_datetime(["2024-01-01", None])},
        index=pd.Index(["train", "val"], name="split"),
    )
    fig = strict(table_plot(df, "Results", "summary"))
    (trace,) = fig["data"]
    assert trace["type"] == "table"
    assert trace["name"] == "summary"
    assert trace["header"]["values"] == ["split", "acc", "n", "when"]
    cols = trace["cells"]["values"]
    assert cols[0] == ["train", "val"]
    assert cols[1] == [0.9, None]
    assert cols[2] == [1, 2]
    assert cols[3][0].startswith("2024-01-01") and cols[3][1] is None
    assert fig["layout"]["title"]["text"] == "Results"
    assert fig["layout"]["meta"] == {"total_rows": 2, "shown_rows": 2, "truncated": False}


def test_table_from_rows_first_row_is_header() -> None:
    rows = [["name", "score"], ["a", 1.5], ["b", float("inf")], ["c"]]
    fig = strict(table_plot(rows, "T", "s"))
    trace = fig["data"][0]
    assert trace["header"]["values"] == ["name", "score"]
    assert trace["cells"]["values"] == [["a", "b", "c"], [1.5, None, None]]


def test_table_from_csv_path(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,2\n3,4\n", encoding="utf-8")
    for table in (str(path), path):
        trace = strict(table_plot(table, "T", "s"))["data"][0]
        assert trace["header"]["values"] == ["x", "y"]
        assert trace["cells"]["values"] == [["1", "3"], ["2", "4"]]


def test_table_missing_csv_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read table CSV"):
        table_plot(str(tmp_path / "nope.csv"), "T", "s")


def test_table_is_truncated_and_says_so() -> None:
    df = pd.DataFrame({"v": range(MAX_TABLE_ROWS + 500)})
    fig = strict(table_plot(df, "T", "s"))
    cols = fig["data"][0]["cells"]["values"]
    assert len(cols[0]) == MAX_TABLE_ROWS
    assert cols[1][-1] == MAX_TABLE_ROWS - 1
    assert fig["layout"]["meta"] == {
        "total_rows": MAX_TABLE_ROWS + 500,
        "shown_rows": MAX_TABLE_ROWS,
        "truncated": True,
    }
    rows = [["h"], *([i] for i in range(20))]
    fig = strict(table_plot(rows, "T", "s", max_rows=5))
    assert fig["data"][0]["cells"]["values"] == [[0, 1, 2, 3, 4]]
    assert fig["layout"]["meta"]["truncated"] is True


def test_table_from_series() -> None:
    s = pd.Series([1, 2], index=["a", "b"], name="count")
    trace = strict(table_plot(s, "T", "s"))["data"][0]
    assert trace["header"]["values"] == ["", "count"]
    assert trace["cells"]["values"] == [["a", "b"], [1, 2]]


def test_table_rejects_other_things() -> None:
    with pytest.raises(InvalidInput):
        table_plot(42, "T", "s")


# --------------------------------------------------------------------------- histogram


def test_histogram_1d() -> None:
    fig = strict(histogram_plot("Hist", "counts", np.array([3, 1, 4]), "bin", "n"))
    (trace,) = fig["data"]
    assert trace == {"type": "bar", "name": "counts", "x": [0, 1, 2], "y": [3, 1, 4]}
    assert fig["layout"]["barmode"] == "group"
    assert fig["layout"]["xaxis"]["title"]["text"] == "bin"
    assert fig["layout"]["yaxis"]["title"]["text"] == "n"


def test_histogram_2d_rows_are_series_with_labels_and_nan() -> None:
    values = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, np.inf]])
    fig = strict(
        histogram_plot(
            "H", "s", values, labels=["train", "val"], xlabels=["a", "b", "c"], mode="stack"
        )
    )
    assert [t["name"] for t in fig["data"]] == ["train", "val"]
    assert fig["data"][0]["y"] == [1.0, None, 3.0]
    assert fig["data"][1]["y"] == [4.0, 5.0, None]
    assert fig["data"][0]["x"] == ["a", "b", "c"]
    assert fig["layout"]["barmode"] == "stack"


def test_histogram_2d_default_names_and_plain_lists() -> None:
    fig = strict(histogram_plot("H", "s", [[1, 2], [3, 4]]))
    assert [t["name"] for t in fig["data"]] == ["s - 0", "s - 1"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"values": [1, 2], "labels": ["a", "b"]},
        {"values": [1, 2], "xlabels": ["only one"]},
        {"values": [1, 2], "mode": "sideways"},
        {"values": np.zeros((2, 2, 2))},
        {"values": 5},
    ],
)
def test_histogram_bad_input(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        histogram_plot("H", "s", **kwargs)


# --------------------------------------------------------------------------- confusion matrix


def test_confusion_matrix() -> None:
    m = np.array([[5, 1], [2, 7]])
    fig = strict(
        confusion_matrix_plot(
            "CM",
            "epoch 3",
            m,
            "predicted",
            "actual",
            ["cat", "dog"],
            ["cat", "dog"],
            yaxis_reversed=True,
        )
    )
    (trace,) = fig["data"]
    assert trace["type"] == "heatmap"
    assert trace["z"] == [[5, 1], [2, 7]]
    assert trace["x"] == ["cat", "dog"] and trace["y"] == ["cat", "dog"]
    assert fig["layout"]["yaxis"]["autorange"] == "reversed"
    assert fig["layout"]["xaxis"]["title"]["text"] == "predicted"


def test_confusion_matrix_nan_and_no_labels() -> None:
    fig = strict(confusion_matrix_plot("CM", "s", [[0.5, float("nan")], [1, 0]]))
    assert fig["data"][0]["z"] == [[0.5, None], [1, 0]]
    assert "autorange" not in fig["layout"].get("yaxis", {})


def test_confusion_matrix_label_count_checked() -> None:
    with pytest.raises(InvalidInput, match="xlabels"):
        confusion_matrix_plot("CM", "s", np.eye(3), xlabels=["a", "b"])
    with pytest.raises(InvalidInput, match="differ in length"):
        confusion_matrix_plot("CM", "s", [[1, 2], [3]])


# --------------------------------------------------------------------------- scatter / line


def test_scatter2d() -> None:
    pts = np.array([[0, 1.5], [1, np.nan], [2, 3.0]])
    fig = strict(scatter2d_plot("S", "pts", pts, "x", "y", labels=["a", "b", "c"], mode="markers"))
    (trace,) = fig["data"]
    assert trace["type"] == "scatter"
    assert trace["mode"] == "markers"
    assert trace["x"] == [0, 1, 2]
    assert trace["y"] == [1.5, None, 3.0]
    assert trace["text"] == ["a", "b", "c"]


def test_scatter2d_rejects_wrong_shape_and_mode() -> None:
    with pytest.raises(InvalidInput, match="N x 2"):
        scatter2d_plot("S", "s", np.zeros((3, 3)))
    with pytest.raises(InvalidInput, match="mode"):
        scatter2d_plot("S", "s", np.zeros((3, 2)), mode="dots")


class SeriesInfo:
    def __init__(self, name: str, data: Any) -> None:
        self.name, self.data = name, data


def test_line_plot_several_series() -> None:
    fig = strict(
        line_plot(
            "Loss",
            [
                {"name": "train", "data": np.array([[0, 1.0], [1, 0.5]])},
                SeriesInfo("val", [[0, 1.2], [1, float("nan")]]),
            ],
            "epoch",
            "loss",
            reverse_xaxis=True,
        )
    )
    assert [t["name"] for t in fig["data"]] == ["train", "val"]
    assert fig["data"][0]["x"] == [0, 1] and fig["data"][0]["y"] == [1.0, 0.5]
    assert fig["data"][1]["y"] == [1.2, None]
    assert all(t["mode"] == "lines" for t in fig["data"])
    assert fig["layout"]["xaxis"]["autorange"] == "reversed"


def test_line_plot_needs_data() -> None:
    with pytest.raises(InvalidInput, match="data"):
        line_plot("L", [{"name": "x"}])


# --------------------------------------------------------------------------- surface


def test_surface() -> None:
    z = np.array([[0.0, 1.0, np.nan], [3.0, 4.0, 5.0]])
    fig = strict(
        surface_plot(
            "Surf", "s", z, "x", "y", "z", xlabels=[1, 2, 3], ylabels=["a", "b"], camera=(1, 2, 3)
        )
    )
    (trace,) = fig["data"]
    assert trace["type"] == "surface"
    assert trace["z"] == [[0.0, 1.0, None], [3.0, 4.0, 5.0]]
    assert trace["x"] == [1, 2, 3] and trace["y"] == ["a", "b"]
    scene = fig["layout"]["scene"]
    assert scene["zaxis"]["title"]["text"] == "z"
    assert scene["camera"]["eye"] == {"x": 1.0, "y": 2.0, "z": 3.0}


# --------------------------------------------------------------------------- normalize


class FakeFigure:
    """Quacks like plotly.graph_objects.Figure."""

    def to_plotly_json(self) -> dict[str, Any]:
        return {
            "data": [{"type": "scatter", "x": np.arange(3), "y": np.array([1.0, np.nan, np.inf])}],
            "layout": {"title": {"text": "fig"}, "width": np.int64(500)},
        }


class DictOnlyFigure:
    def to_dict(self) -> dict[str, Any]:
        return {"data": [{"type": "bar", "y": (1, 2)}]}


def test_normalize_plotly_figure_object() -> None:
    fig = strict(normalize_plotly(FakeFigure()))
    assert fig["data"][0]["x"] == [0, 1, 2]
    assert fig["data"][0]["y"] == [1.0, None, None]
    assert fig["layout"] == {"title": {"text": "fig"}, "width": 500}


def test_normalize_plotly_to_dict_and_missing_layout() -> None:
    fig = strict(normalize_plotly(DictOnlyFigure()))
    assert fig == {"data": [{"type": "bar", "y": [1, 2]}], "layout": {}}


def test_normalize_plotly_dict_and_json_string() -> None:
    source = {"data": [{"y": [float("nan"), 1]}], "layout": {}, "frames": []}
    fig = strict(normalize_plotly(source))
    assert fig["data"][0]["y"] == [None, 1]
    assert fig["frames"] == []
    assert strict(normalize_plotly('{"data": [{"y": [1]}]}'))["data"] == [{"y": [1]}]


def test_normalize_plotly_rejects_junk() -> None:
    with pytest.raises(InvalidInput):
        normalize_plotly(42)
    with pytest.raises(InvalidInput):
        normalize_plotly("not json")
    with pytest.raises(InvalidInput):
        normalize_plotly({"data": 3})


def test_to_json_safe_handles_numpy_and_pandas_scalars() -> None:
    values = [
        np.float32(np.nan),
        np.float64(2.5),
        np.int8(-3),
        np.bool_(True),
        np.str_("s"),
        pd.NaT,
        pd.NA,
        pd.Timestamp("2024-01-01"),
        np.datetime64("NaT"),
        np.array(["2024-01-01"], dtype="datetime64[D]"),
        pd.Timedelta(seconds=90),
        {1: float("-inf")},
        (1, 2),
    ]
    out = json.loads(json.dumps(to_json_safe(values), allow_nan=False))
    assert out == [
        None,
        2.5,
        -3,
        True,
        "s",
        None,
        None,
        "2024-01-01T00:00:00",
        None,
        ["2024-01-01"],
        90.0,
        {"1": None},
        [1, 2],
    ]


def test_self_referencing_plot_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InvalidInput, match="nested too deeply"):
        to_json_safe(loop)


_BLOCK_OPTIONAL = """
import sys

class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"numpy", "pandas", "PIL"}:
            raise ImportError(name + " is not installed here")
        return None

sys.meta_path.insert(0, _Block())
"""


def test_works_without_numpy_and_pandas(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import arno.sdk._plots as plots

    src_root = Path(plots.__file__).resolve().parents[2]
    code = (
        _BLOCK_OPTIONAL
        + """
import json
from arno.sdk._plots import histogram_plot, normalize_plotly, scatter2d_plot, table_plot
figs = [
    table_plot([["a"], [1.0], [float("nan")]], "T", "s"),
    histogram_plot("H", "s", [[1, 2], [3, float("inf")]]),
    scatter2d_plot("S", "s", [[0, 1], [1, 2]]),
    normalize_plotly({"data": [{"y": (1, float("nan"))}]}),
]
json.dumps(figs, allow_nan=False)
assert "numpy" not in sys.modules and "pandas" not in sys.modules
"""
    )
    env = {**os.environ, "PYTHONPATH": str(src_root)}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True)
