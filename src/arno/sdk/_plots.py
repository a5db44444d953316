"""Plotly figures as plain JSON-safe dicts, built without plotly.

Every builder returns ``{"data": [trace, ...], "layout": {...}}`` that survives
``json.dumps(figure, allow_nan=False)``: numpy arrays and scalars become lists and numbers,
NaN and infinities become ``None`` (a gap in Plotly), dates become ISO strings.

numpy and pandas are optional; plain lists work everywhere.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any, Final

from arno.core.errors import InvalidInput

__all__ = [
    "MAX_TABLE_ROWS",
    "confusion_matrix_plot",
    "histogram_plot",
    "line_plot",
    "image_plot",
    "normalize_plotly",
    "scatter2d_plot",
    "scatter3d_plot",
    "surface_plot",
    "table_plot",
    "table_url_plot",
    "to_json_safe",
    "with_comment",
]

MAX_TABLE_ROWS: Final = 1000
_BAR_MODES: Final = ("group", "stack", "relative", "overlay")
_SCATTER_MODES: Final = ("lines", "markers", "lines+markers", "lines+markers+text", "text")

Figure = dict[str, Any]


# --------------------------------------------------------------------------- builders


def table_plot(
    table: Any,
    title: str,
    series: str,
    *,
    max_rows: int = MAX_TABLE_ROWS,
) -> Figure:
    """A Plotly "table" trace.

    ``table`` is a pandas DataFrame (its index becomes the first column), a list of rows whose
    first row is the header, or the path of a CSV file (first line is the header; cells stay
    text). Rows past ``max_rows`` are dropped and ``layout.meta`` says so.
    """
    if max_rows < 0:
        raise InvalidInput("max_rows must not be negative")
    header, shown, total = _table_rows(table, max_rows)
    width = max([len(header), *(len(r) for r in shown)]) if (header or shown) else 0
    header = [*header, *([""] * (width - len(header)))]
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in shown:
        for i in range(width):
            columns[i].append(row[i] if i < len(row) else None)
    trace = {
        "type": "table",
        "name": series,
        "header": {"values": header},
        "cells": {"values": columns},
    }
    layout = _layout(title)
    layout["meta"] = {
        "total_rows": total,
        "shown_rows": len(shown),
        "truncated": total > len(shown),
    }
    return _figure([trace], layout)


def histogram_plot(
    title: str,
    series: str,
    values: Any,
    xaxis: str | None = None,
    yaxis: str | None = None,
    labels: Sequence[str] | None = None,
    xlabels: Sequence[Any] | None = None,
    mode: str = "group",
) -> Figure:
    """Bar traces: one per series.

    ``values`` is 1-D (one series) or 2-D with one row per series (``labels`` names the rows,
    else they are called ``"<series> - <i>"``). ``xlabels`` names the bars, else they are
    numbered from 0. ``mode`` is Plotly's ``barmode``: group, stack, relative or overlay.
    """
    if mode not in _BAR_MODES:
        raise InvalidInput(f"histogram mode must be one of {_BAR_MODES}, not {mode!r}")
    rows = _as_rows(values, "values")
    if labels is not None and len(labels) != len(rows):
        raise InvalidInput(f"{len(labels)} labels given for {len(rows)} histogram series")
    if labels is None:
        labels = [series] if len(rows) == 1 else [f"{series} - {i}" for i in range(len(rows))]
    traces = []
    for label, row in zip(labels, rows, strict=True):
        if xlabels is not None and len(xlabels) != len(row):
            raise InvalidInput(f"{len(xlabels)} xlabels given for {len(row)} bars")
        x = to_json_safe(list(xlabels)) if xlabels is not None else list(range(len(row)))
        traces.append({"type": "bar", "name": str(label), "x": x, "y": row})
    layout = _layout(title, xaxis, yaxis)
    layout["barmode"] = mode
    return _figure(traces, layout)


def confusion_matrix_plot(
    title: str,
    series: str,
    matrix: Any,
    xaxis: str | None = None,
    yaxis: str | None = None,
    xlabels: Sequence[Any] | None = None,
    ylabels: Sequence[Any] | None = None,
    yaxis_reversed: bool = False,
) -> Figure:
    """A heatmap whose row ``i`` is ``ylabels[i]`` and column ``j`` is ``xlabels[j]``.

    With ``yaxis_reversed`` the first row is drawn at the top, as matrices are usually read.
    Each cell shows its value.
    """
    rows = _as_rows(matrix, "matrix")
    width = _check_rectangular(rows, "matrix")
    if xlabels is not None and len(xlabels) != width:
        raise InvalidInput(f"{len(xlabels)} xlabels given for {width} matrix columns")
    if ylabels is not None and len(ylabels) != len(rows):
        raise InvalidInput(f"{len(ylabels)} ylabels given for {len(rows)} matrix rows")
    trace: dict[str, Any] = {
        "type": "heatmap",
        "name": series,
        "z": rows,
        "colorscale": "Blues",
        "texttemplate": "%{z}",
    }
    if xlabels is not None:
        trace["x"] = [str(v) for v in xlabels]
    if ylabels is not None:
        trace["y"] = [str(v) for v in ylabels]
    layout = _layout(title, xaxis, yaxis)
    if yaxis_reversed:
        layout.setdefault("yaxis", {})["autorange"] = "reversed"
    for axis, labels in (("xaxis", xlabels), ("yaxis", ylabels)):
        if labels is not None:  # category axes keep numeric-looking labels in order
            layout.setdefault(axis, {})["type"] = "category"
    return _figure([trace], layout)


def scatter2d_plot(
    title: str,
    series: str,
    scatter: Any,
    xaxis: str | None = None,
    yaxis: str | None = None,
    labels: Sequence[str] | None = None,
    mode: str = "lines",
) -> Figure:
    """One scatter trace from an N x 2 array of (x, y) points; ``labels`` are hover texts."""
    trace = _xy_trace(series, scatter, labels, mode)
    return _figure([trace], _layout(title, xaxis, yaxis))


def line_plot(
    title: str,
    series: Sequence[Any],
    xaxis: str | None = None,
    yaxis: str | None = None,
    mode: str = "lines",
    reverse_xaxis: bool = False,
) -> Figure:
    """Several lines in one plot.

    Each item of ``series`` is a mapping ``{"name": str, "data": Nx2, "labels": [...]?}`` or
    any object with ``name`` and ``data`` (and optionally ``labels``) attributes.
    """
    traces = []
    for item in series:
        if isinstance(item, Mapping):
            name, data, labels = item.get("name"), item.get("data"), item.get("labels")
        else:
            name = getattr(item, "name", None)
            data = getattr(item, "data", None)
            labels = getattr(item, "labels", None)
        if data is None:
            raise InvalidInput("every line needs 'data': an N x 2 array of (x, y) points")
        traces.append(_xy_trace(str(name if name is not None else ""), data, labels, mode))
    layout = _layout(title, xaxis, yaxis)
    if reverse_xaxis:
        layout.setdefault("xaxis", {})["autorange"] = "reversed"
    return _figure(traces, layout)


def surface_plot(
    title: str,
    series: str,
    matrix: Any,
    xaxis: str | None = None,
    yaxis: str | None = None,
    zaxis: str | None = None,
    xlabels: Sequence[Any] | None = None,
    ylabels: Sequence[Any] | None = None,
    camera: Sequence[float] | None = None,
) -> Figure:
    """A 3-D surface of ``z = matrix[row][column]``; ``camera`` is an (x, y, z) eye position."""
    rows = _as_rows(matrix, "matrix")
    width = _check_rectangular(rows, "matrix")
    trace: dict[str, Any] = {"type": "surface", "name": series, "z": rows}
    if xlabels is not None:
        if len(xlabels) != width:
            raise InvalidInput(f"{len(xlabels)} xlabels given for {width} matrix columns")
        trace["x"] = to_json_safe(list(xlabels))
    if ylabels is not None:
        if len(ylabels) != len(rows):
            raise InvalidInput(f"{len(ylabels)} ylabels given for {len(rows)} matrix rows")
        trace["y"] = to_json_safe(list(ylabels))
    layout = _layout(title)
    scene: dict[str, Any] = {}
    for key, text in (("xaxis", xaxis), ("yaxis", yaxis), ("zaxis", zaxis)):
        if text:
            scene[key] = {"title": {"text": text}}
    if camera is not None:
        if len(camera) != 3:
            raise InvalidInput("camera must be an (x, y, z) eye position")
        x, y, z = (_finite_or_none(v) for v in camera)
        scene["camera"] = {"eye": {"x": x, "y": y, "z": z}}
    if scene:
        layout["scene"] = scene
    return _figure([trace], layout)


def scatter3d_plot(
    title: str,
    series: str,
    scatter: Any,
    xaxis: str | None = None,
    yaxis: str | None = None,
    zaxis: str | None = None,
    labels: Sequence[str] | None = None,
    mode: str = "markers",
    fill: bool = False,
) -> Figure:
    """A 3-D scatter: ``scatter`` is an N x 3 array of (x, y, z) points, or a list of such
    arrays (one trace each, named ``"<series> - <i>"``). ``labels`` are hover texts of a
    single trace; ``fill`` shades the area between the line and the (x, y) plane."""
    if mode not in _SCATTER_MODES:
        raise InvalidInput(f"scatter mode must be one of {_SCATTER_MODES}, not {mode!r}")
    rows = to_json_safe(scatter)
    if not isinstance(rows, list):
        raise InvalidInput(f"scatter must be a list or an array, got {type(scatter).__name__}")
    several = bool(rows) and all(
        isinstance(r, list) and r and all(isinstance(p, list) for p in r) for r in rows
    )
    groups = rows if several else [rows]
    traces = []
    for i, points in enumerate(groups):
        if any(not isinstance(p, list) or len(p) != 3 for p in points):
            raise InvalidInput(f"points of {series!r} must be an N x 3 array of (x, y, z)")
        trace: dict[str, Any] = {
            "type": "scatter3d",
            "name": f"{series} - {i}" if several else series,
            "mode": mode,
            "x": [p[0] for p in points],
            "y": [p[1] for p in points],
            "z": [p[2] for p in points],
        }
        if labels is not None and not several:
            if len(labels) != len(points):
                raise InvalidInput(f"{len(labels)} labels given for {len(points)} points")
            trace["text"] = [str(v) for v in labels]
        if fill:
            trace["surfaceaxis"] = 2
        traces.append(trace)
    layout = _layout(title)
    scene = {key: {"title": {"text": text}}
             for key, text in (("xaxis", xaxis), ("yaxis", yaxis), ("zaxis", zaxis)) if text}
    if scene:
        layout["scene"] = scene
    return _figure(traces, layout)


def table_url_plot(url: str, title: str, series: str) -> Figure:
    """A table that lives at ``url`` (a CSV somewhere else), recorded without fetching it:
    one cell holding the address; ``layout.meta.source_url`` keeps it for programs."""
    trace = {"type": "table", "name": series, "header": {"values": ["source"]},
             "cells": {"values": [[url]]}}
    layout = _layout(title)
    layout["meta"] = {"source_url": url}
    return _figure([trace], layout)


def image_plot(title: str, series: str, src: str, width: int, height: int) -> Figure:
    """A static picture (e.g. a matplotlib figure as PNG) shown in the Plots view: an empty
    plot whose background is the image at ``src``, sized to its pixels."""
    axis = {"visible": False, "range": [0, 1], "fixedrange": True}
    layout = _layout(title)
    layout.update({
        "xaxis": dict(axis), "yaxis": dict(axis, scaleanchor="x",
                                           scaleratio=height / width if width else 1),
        "images": [{"source": src, "xref": "x", "yref": "y", "x": 0, "y": 1,
                    "sizex": 1, "sizey": 1, "sizing": "stretch", "layer": "below"}],
        "width": width, "height": height + 60, "meta": {"image": src, "series": series},
    })
    return _figure([], layout)


def with_comment(figure: Figure, comment: str | None) -> Figure:
    """Show ``comment`` under the plot's title, as a subtitle."""
    if comment:
        title = figure.setdefault("layout", {}).setdefault("title", {})
        text = title.get("text", "") if isinstance(title, dict) else str(title)
        figure["layout"]["title"] = {**(title if isinstance(title, dict) else {}),
                                     "text": f"{text}<br><sub>{comment}</sub>"}
    return figure


def normalize_plotly(figure: Any) -> Figure:
    """Make a JSON-safe ``{"data": [...], "layout": {...}}`` from a Plotly figure.

    Accepts a plotly ``Figure`` (anything with ``to_plotly_json()`` or ``to_dict()``), a
    mapping, or a JSON string of one.
    """
    if isinstance(figure, str | bytes):
        try:
            figure = json.loads(figure)
        except ValueError as exc:
            raise InvalidInput(f"plot is not valid JSON: {exc}") from exc
    if not isinstance(figure, Mapping):
        for method in ("to_plotly_json", "to_dict"):
            convert = getattr(figure, method, None)
            if callable(convert):
                figure = convert()
                break
    if not isinstance(figure, Mapping):
        raise InvalidInput(f"expected a Plotly figure or a dict, got {type(figure).__name__}")
    safe = to_json_safe(figure)
    data = safe.get("data") or []
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise InvalidInput("a Plotly figure's 'data' must be a list of traces")
    layout = safe.get("layout") or {}
    if not isinstance(layout, dict):
        raise InvalidInput("a Plotly figure's 'layout' must be an object")
    out = {k: v for k, v in safe.items() if k not in ("data", "layout")}
    return {"data": data, "layout": layout, **out}


# --------------------------------------------------------------------------- JSON safety


def to_json_safe(value: Any) -> Any:
    """A copy of ``value`` made of dict, list, str, int, float (finite), bool and None."""
    return _safe(value, 0)


_MAX_DEPTH: Final = 200


def _safe(value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise InvalidInput("plot data is nested too deeply (or refers to itself)")
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, str):  # numpy.str_ and other subclasses
        return str(value)
    if _is_pandas_missing(value):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):  # includes numpy.float64
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {_key(k): _safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | range):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_safe(v, depth + 1) for v in items]
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return _finite_or_none(float(value))
    if isinstance(value, Enum):
        return _safe(value.value, depth + 1)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, complex):
        return str(value)
    if type(value).__module__.startswith(("numpy", "pandas")):
        return _safe_numpy_like(value, depth)
    for method in ("to_plotly_json", "to_dict"):
        convert = getattr(value, method, None)
        if callable(convert):
            return _safe(convert(), depth + 1)
    return str(value)


def _safe_numpy_like(value: Any, depth: int) -> Any:
    """numpy arrays/scalars and pandas objects, converted without a Python loop when possible."""
    import numpy as np

    if hasattr(value, "isoformat"):  # pandas Timestamp, Period
        return value.isoformat()
    if hasattr(value, "total_seconds"):  # pandas Timedelta
        return _finite_or_none(value.total_seconds())
    if hasattr(value, "to_numpy") and not isinstance(value, np.generic):  # Series, Index
        value = value.to_numpy()
    arr = np.asarray(value)
    kind = arr.dtype.kind
    if kind == "O" and arr.ndim == 0:  # a pandas scalar numpy cannot hold (Period, Interval)
        item = arr.item()
        return str(item) if item is value else _safe(item, depth + 1)
    if kind in "fc" and arr.size:
        if kind == "c":
            return _safe(arr.astype(str).tolist(), depth + 1)
        finite = np.isfinite(arr)
        if finite.all():
            return arr.tolist()
        out = arr.astype(object)
        out[~finite] = None
        return out.tolist()
    if kind == "M":
        text = np.asarray(np.datetime_as_string(arr), dtype=object)
        text[np.isnat(arr)] = None
        return text.tolist()
    if kind == "m":  # seconds, as Plotly has no duration type
        return _safe(arr / np.timedelta64(1, "s"), depth + 1)
    if kind in "biuUS":
        return arr.tolist() if kind != "S" else _safe(arr.tolist(), depth + 1)
    return _safe(arr.tolist(), depth + 1)


def _is_pandas_missing(value: Any) -> bool:
    name = type(value).__name__
    return name in ("NAType", "NaTType")


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(_safe(key, 0))


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------- helpers


def _figure(traces: list[dict[str, Any]], layout: dict[str, Any]) -> Figure:
    return {"data": to_json_safe(traces), "layout": to_json_safe(layout)}


def _layout(title: str, xaxis: str | None = None, yaxis: str | None = None) -> dict[str, Any]:
    layout: dict[str, Any] = {"title": {"text": title}}
    if xaxis:
        layout["xaxis"] = {"title": {"text": xaxis}}
    if yaxis:
        layout["yaxis"] = {"title": {"text": yaxis}}
    return layout


def _as_rows(values: Any, what: str) -> list[list[Any]]:
    """A 1-D or 2-D array-like as a list of JSON-safe rows (1-D gives one row)."""
    safe = to_json_safe(values)
    if not isinstance(safe, list):
        raise InvalidInput(f"{what} must be a list or an array, got {type(values).__name__}")
    if not safe:
        return [[]]
    if all(isinstance(v, list) for v in safe):
        if any(isinstance(x, list) for row in safe for x in row):
            raise InvalidInput(f"{what} must be 1-D or 2-D")
        return safe
    if any(isinstance(v, list | dict) for v in safe):
        raise InvalidInput(f"{what} mixes numbers and lists")
    return [safe]


def _check_rectangular(rows: list[list[Any]], what: str) -> int:
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise InvalidInput(f"{what} rows differ in length: {sorted(widths)}")
    return widths.pop() if widths else 0


def _xy_trace(name: str, points: Any, labels: Sequence[str] | None, mode: str) -> dict[str, Any]:
    if mode not in _SCATTER_MODES:
        raise InvalidInput(f"scatter mode must be one of {_SCATTER_MODES}, not {mode!r}")
    rows = to_json_safe(points)
    if not isinstance(rows, list) or any(not isinstance(p, list) or len(p) != 2 for p in rows):
        raise InvalidInput(f"points of {name!r} must be an N x 2 array of (x, y) pairs")
    trace: dict[str, Any] = {
        "type": "scatter",
        "name": name,
        "mode": mode,
        "x": [p[0] for p in rows],
        "y": [p[1] for p in rows],
    }
    if labels is not None:
        if len(labels) != len(rows):
            raise InvalidInput(f"{len(labels)} labels given for {len(rows)} points of {name!r}")
        trace["text"] = [str(v) for v in labels]
    return trace


def _table_rows(table: Any, max_rows: int) -> tuple[list[Any], list[list[Any]], int]:
    """Header, the first ``max_rows`` rows (JSON-safe) and the total row count of a table."""
    if isinstance(table, str | PurePath):
        try:
            with open(table, newline="", encoding="utf-8-sig") as fh:
                reader = csv.reader(fh)
                header = next(reader, [])
                rows: list[list[Any]] = []
                total = 0
                for line in reader:
                    if total < max_rows:
                        rows.append(list(line))
                    total += 1
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InvalidInput(f"cannot read table CSV {str(table)!r}: {exc}") from exc
        return list(header), rows, total
    if type(table).__module__.startswith("pandas") and hasattr(table, "to_frame"):
        table = table.to_frame()  # a Series
    if hasattr(table, "columns") and hasattr(table, "index") and hasattr(table, "iloc"):
        return _frame_rows(table, max_rows)
    safe = to_json_safe(table)
    if not isinstance(safe, list) or not all(isinstance(r, list) for r in safe):
        raise InvalidInput(
            "table must be a DataFrame, a list of rows (first row is the header) or a CSV path"
        )
    if not safe:
        return [], [], 0
    return safe[0], safe[1 : max_rows + 1], len(safe) - 1


def _frame_rows(frame: Any, max_rows: int) -> tuple[list[Any], list[list[Any]], int]:
    index_name = ", ".join(str(n) for n in frame.index.names if n is not None)
    header = [index_name, *(_column_title(c) for c in frame.columns)]
    head = frame.iloc[:max_rows]
    index = to_json_safe(list(head.index))
    columns = [to_json_safe(head.iloc[:, i].to_numpy()) for i in range(head.shape[1])]
    rows = [[index[r], *(col[r] for col in columns)] for r in range(len(index))]
    return header, rows, int(frame.shape[0])


def _column_title(column: Any) -> str:
    if isinstance(column, tuple):
        return " / ".join(str(c) for c in column)
    return str(column)
