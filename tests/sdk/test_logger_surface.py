"""The Logger's report_* calls as a ClearML user makes them, checked by what a live server on
127.0.0.1 stores: streams of text and bytes, remote URLs recorded without a download, 3-D
scatters, surfaces, line plots, plotly and matplotlib figures, HTML and bokeh pages, text
with levels, and the bad calls that raise ``InvalidInput``."""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from arno.client import ApiSession, Reporter
from arno.core.errors import InvalidInput
from arno.sdk._logger import Logger


@dataclass
class Rig:
    session: ApiSession
    task_id: str
    reporter: Reporter
    logger: Logger

    def stored(self) -> None:
        assert self.logger.flush(wait=True) is True

    def samples(self, title: str | None = None) -> list[dict[str, Any]]:
        self.stored()
        return self.session.get(f"tasks/{self.task_id}/debug_samples", metric=title)

    def plot(self, title: str) -> dict[str, Any]:
        self.stored()
        found = [p for p in self.session.get(f"tasks/{self.task_id}/plots")
                 if p["metric"] == title]
        assert len(found) == 1, found
        return found[0]

    def blob(self, hash_: str) -> bytes:
        return self.session.get_bytes(f"blobs/{hash_}")[1]

    def console(self) -> list[dict[str, Any]]:
        self.stored()
        return self.session.get(f"tasks/{self.task_id}/console", limit=100)


@pytest.fixture
def rig(sqlite_server, tmp_path):
    session = ApiSession(sqlite_server.url, sqlite_server.admin_key, sqlite_server.admin_secret)
    task = session.post("tasks", {"project": "logger surface", "name": tmp_path.name,
                                  "status": "in_progress"})
    reporter = Reporter(session, task["id"], spool_dir=tmp_path / "spool", flush_interval=0.2)
    reporter.start()
    yield Rig(session, task["id"], reporter, Logger(reporter, session))
    reporter.close()
    session.close()


def _wav() -> bytes:
    pcm = b"\x00\x00" * 800
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE" + b"fmt "
            + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm)


# ---- media from streams ------------------------------------------------------------------------
def test_media_from_text_and_bytes_streams(rig):
    rig.logger.report_media("notes", "text", iteration=1, stream=io.StringIO("héllo\nworld\n"),
                            file_extension=".txt")
    rig.logger.report_media("notes", "audio", iteration=2, stream=io.BytesIO(_wav()),
                            file_extension="wav")
    rig.logger.report_media("notes", "page", iteration=3,
                            stream=io.StringIO("<h1>epoch 3</h1>"), file_extension=".html")
    got = {s["variant"]: s for s in rig.samples("notes")}
    text, audio, page = got["text"], got["audio"], got["page"]
    assert (text["kind"], text["content_type"], text["iteration"]) == (
        "file", "text/plain; charset=utf-8", 1)
    assert rig.blob(text["hash"]) == "héllo\nworld\n".encode()
    assert (audio["kind"], audio["content_type"]) == ("audio", "audio/wav")
    assert rig.blob(audio["hash"]) == _wav()
    assert (page["kind"], rig.blob(page["hash"])) == ("html", b"<h1>epoch 3</h1>")


def test_media_from_a_file_can_delete_it(rig, tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n")
    rig.logger.report_media("files", "csv", local_path=path, delete_after_upload=True)
    assert not path.exists()  # its bytes were already safe in the spool
    (sample,) = rig.samples("files")
    assert (sample["kind"], sample["content_type"]) == ("file", "text/csv; charset=utf-8")
    assert rig.blob(sample["hash"]) == b"a,b\n1,2\n"


@pytest.mark.parametrize("kwargs, message", [
    ({"stream": io.StringIO("x")}, "file_extension"),
    ({}, "exactly one of local_path, stream, url; got none"),
    ({"stream": io.BytesIO(b"x"), "url": "https://e.x/a.mp4", "file_extension": ".bin"},
     "got stream, url"),
    ({"local_path": "/nonexistent/clip.mp4"}, "no media file"),
    ({"stream": b"raw bytes", "file_extension": ".bin"}, "file object"),
])
def test_bad_media_calls_raise_and_report_nothing(rig, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        rig.logger.report_media("bad", "x", **kwargs)
    assert rig.samples("bad") == []


# ---- remote URLs: recorded, never downloaded ----------------------------------------------------
def test_urls_are_recorded_without_downloading(rig):
    # an address nothing answers at: a download would fail the call
    base = "http://127.0.0.1:9/never-fetched"
    rig.logger.report_media("remote", "clip", iteration=4, url=f"{base}/clip.mp4?sig=1")
    rig.logger.report_media("remote", "song", url=f"{base}/song.mp3")
    rig.logger.report_image("remote", "picture", iteration=5, url=f"{base}/p.jpg")
    rig.logger.report_table("remote table", "csv", iteration=6, url=f"{base}/t.csv",
                            extra_data={"columnwidth": [3]})
    got = {s["variant"]: s for s in rig.samples("remote")}
    assert {v: (s["kind"], s["hash"], s["url"], s["content_type"]) for v, s in got.items()} == {
        "clip": ("video", None, f"{base}/clip.mp4?sig=1", "video/mp4"),
        "song": ("audio", None, f"{base}/song.mp3", "audio/mpeg"),
        "picture": ("image", None, f"{base}/p.jpg", "image/jpeg"),
    }
    assert got["clip"]["iteration"] == 4
    table = rig.plot("remote table")
    assert table["iteration"] == 6
    assert table["figure"]["layout"]["meta"]["source_url"] == f"{base}/t.csv"
    assert table["figure"]["data"][0]["cells"]["values"] == [[f"{base}/t.csv"]]
    assert table["figure"]["data"][0]["columnwidth"] == [3]


def test_report_table_and_image_need_exactly_one_source(rig, tmp_path):
    with pytest.raises(InvalidInput, match="exactly one of table_plot, csv, url"):
        rig.logger.report_table("t", "s", table_plot=[["a"], [1]], url="https://e.x/t.csv")
    with pytest.raises(InvalidInput, match="exactly one of local_path, url, image, matrix"):
        rig.logger.report_image("i", "s")
    with pytest.raises(InvalidInput, match="got url, image"):
        rig.logger.report_image("i", "s", image=np.zeros((2, 2)), url="https://e.x/i.png")


# ---- plots --------------------------------------------------------------------------------------
def test_scatter3d_single_and_several_series(rig):
    pts = np.array([[0, 1, 2], [3, 4, 5.5]])
    rig.logger.report_scatter3d("cloud", "xyz", pts, iteration=2, xaxis="x", zaxis="depth",
                                labels=["a", "b"], mode="lines+markers", comment="two points")
    fig = rig.plot("cloud")["figure"]
    (trace,) = fig["data"]
    assert (trace["type"], trace["mode"], trace["x"], trace["y"], trace["z"], trace["text"]) == (
        "scatter3d", "lines+markers", [0, 3], [1, 4], [2, 5.5], ["a", "b"])
    assert fig["layout"]["scene"]["zaxis"]["title"]["text"] == "depth"
    assert "two points" in fig["layout"]["title"]["text"]

    rig.logger.report_scatter3d("clouds", "s", [[[0, 0, 0], [1, 1, 1]], [[2, 2, 2]]], fill=True)
    traces = rig.plot("clouds")["figure"]["data"]
    assert [(t["name"], t["x"], t["surfaceaxis"]) for t in traces] == [
        ("s - 0", [0, 1], 2), ("s - 1", [2], 2)]
    with pytest.raises(InvalidInput, match="N x 3"):
        rig.logger.report_scatter3d("bad", "s", [[1, 2]])


def test_surface_line_plot_histogram_and_plotly(rig):
    import plotly.graph_objects as go

    log = rig.logger
    log.report_surface("surf", "s", np.arange(6).reshape(2, 3), iteration=1, zaxis="z",
                       camera=(1, 2, 3), extra_layout={"height": 300})
    log.report_line_plot("lines", [Logger.SeriesInfo("a", [[0, 1], [1, 2]]),
                                   {"name": "b", "data": [[0, 3]]}],
                         xaxis="epoch", yaxis="loss", mode="markers", reverse_xaxis=True)
    log.report_histogram("hist", "h", [3, 1], xlabels=["x", "y"],
                         data_args={"orientation": "h"})
    log.report_plotly("plotly", "fig", go.Figure(go.Bar(x=["a"], y=[2])), iteration=7)

    surf = rig.plot("surf")["figure"]
    assert surf["data"][0]["z"] == [[0, 1, 2], [3, 4, 5]]
    assert surf["layout"]["scene"]["camera"]["eye"] == {"x": 1, "y": 2, "z": 3}
    assert surf["layout"]["height"] == 300
    lines = rig.plot("lines")["figure"]
    assert [(t["name"], t["mode"], t["y"]) for t in lines["data"]] == [
        ("a", "markers", [1, 2]), ("b", "markers", [3])]
    assert lines["layout"]["xaxis"]["autorange"] == "reversed"
    assert rig.plot("hist")["figure"]["data"][0]["orientation"] == "h"
    plotly = rig.plot("plotly")
    assert (plotly["iteration"], plotly["figure"]["data"][0]["type"]) == (7, "bar")


def test_matplotlib_figure_as_plot_as_picture_and_as_debug_sample(rig):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
    ax.plot([0, 1, 2], [2, 0, 1])
    rig.logger.report_matplotlib_figure("mpl", "interactive", fig, iteration=1)
    rig.logger.report_matplotlib_figure("mpl static", "picture", fig, iteration=2,
                                        report_interactive=False)
    rig.logger.report_matplotlib_figure("mpl sample", "png", plt, iteration=3, report_image=True)
    plt.close(fig)

    converted = rig.plot("mpl")["figure"]
    assert converted["data"][0]["y"] == [2, 0, 1]
    static = rig.plot("mpl static")["figure"]
    assert static["data"] == []
    src = static["layout"]["images"][0]["source"]
    assert src.startswith("/api/v1/blobs/")
    assert rig.blob(src.rsplit("/", 1)[1]).startswith(b"\x89PNG")  # uploaded before the plot
    (sample,) = rig.samples("mpl sample")
    assert (sample["kind"], sample["content_type"]) == ("image", "image/png")
    assert rig.blob(sample["hash"]).startswith(b"\x89PNG")


# ---- HTML and bokeh -----------------------------------------------------------------------------
def test_html_text_file_and_bokeh(rig, tmp_path):
    page = tmp_path / "report.html"
    page.write_text("<p>from a file</p>")
    rig.logger.report_html("pages", "text", "<p>inline</p>", iteration=1)
    rig.logger.report_html("pages", "file", page)
    bokeh_plotting = pytest.importorskip("bokeh.plotting")
    plot = bokeh_plotting.figure(title="bokeh here")
    plot.line([1, 2], [3, 4])
    rig.logger.report_html("pages", "bokeh", plot, iteration=2)
    got = {s["variant"]: s for s in rig.samples("pages")}
    assert {s["kind"] for s in got.values()} == {"html"}
    assert rig.blob(got["text"]["hash"]) == b"<p>inline</p>"
    assert rig.blob(got["file"]["hash"]) == b"<p>from a file</p>"
    standalone = rig.blob(got["bokeh"]["hash"]).decode()
    assert standalone.lstrip().lower().startswith("<!doctype html") and "bokeh" in standalone
    with pytest.raises(InvalidInput, match="HTML text, bytes, a path or a bokeh object"):
        rig.logger.report_html("pages", "bad", 42)


# ---- text ---------------------------------------------------------------------------------------
def test_report_text_keeps_its_level_and_prints(rig, capsys):
    rig.logger.report_text("plain line")
    rig.logger.report_text("disk almost full", level=logging.WARNING)
    rig.logger.report_text("quiet detail", level="DEBUG", print_console=False)
    assert capsys.readouterr().out == "plain line\ndisk almost full\n"
    assert [(c["stream"], c["text"]) for c in rig.console()] == [
        ("stdout", "plain line"), ("stderr", "WARNING: disk almost full"),
        ("stdout", "DEBUG: quiet detail")]
    with pytest.raises(InvalidInput, match="not a logging level"):
        rig.logger.report_text("x", level="LOUD")


def test_capture_logging_sends_records_with_levels(rig):
    log = logging.getLogger("arno-test-capture")
    log.setLevel(logging.INFO)
    with rig.logger.capture_logging():
        log.error("bad batch %d", 7)
    log.error("after the context: not sent")
    assert [(c["stream"], c["text"]) for c in rig.console()] == [
        ("stderr", "ERROR: bad batch 7")]


# ---- the rest of ClearML's Logger -------------------------------------------------------------
def test_current_logger_and_settings(rig):
    saved = Logger._current
    try:
        Logger._current = None
        with pytest.raises(InvalidInput, match="call Task.init"):
            Logger.current_logger()
        Logger._current = rig.logger
        assert Logger.current_logger() is rig.logger
    finally:
        Logger._current = saved
    log = rig.logger
    assert log.get_default_upload_destination() == "arno://blobs/"
    log.set_default_upload_destination("s3://bucket/debug")
    assert log.get_default_upload_destination() == "s3://bucket/debug"
    log.set_flush_period(0.5)
    assert log.get_flush_period() == 0.5
    log.set_flush_period(None)  # keeps the period: reports always go in the background
    assert log.get_flush_period() == 0.5
    with pytest.raises(InvalidInput):
        log.set_flush_period(-1)
    log.report_single_value("accuracy", 0.93)
    rig.stored()
    assert [(v["name"], v["value"]) for v in
            rig.session.get(f"tasks/{rig.task_id}/single_values")] == [("accuracy", 0.93)]
