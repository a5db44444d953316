"""``Logger``: what a training script reports. Every call only queues; nothing waits on the
network."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arno.client import Reporter
from arno.core.errors import InvalidInput
from arno.sdk import _images, _plots

if TYPE_CHECKING:
    from arno.sdk._task import Task


def _name(value: Any, what: str) -> str:
    text = str(value)
    if not text or len(text) > 256:
        raise InvalidInput(f"{what} must be 1 to 256 characters, got {text[:40]!r}")
    return text


class Logger:
    """Reports scalars, plots, tables, debug samples and text to a task."""

    def __init__(self, task: Task, reporter: Reporter) -> None:
        self._task = task
        self._reporter = reporter
        self._uploads_lock = threading.Lock()

    @classmethod
    def current_logger(cls) -> Logger:
        from arno.sdk._task import Task

        task = Task.current_task()
        if task is None:
            raise InvalidInput("no current task: call Task.init() first")
        return task.get_logger()

    # ---- scalars -------------------------------------------------------------------------
    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """One point of the series ``title/series``. NaN and infinities are kept."""
        self._reporter.scalar(title, series, int(iteration), float(value))

    def report_scalars(self, title: str, values: dict[str, float], iteration: int) -> None:
        self._reporter.scalars(title, {k: float(v) for k, v in values.items()}, int(iteration))

    def report_single_value(self, name: str, value: float) -> None:
        """A value with no iteration (test accuracy, final loss)."""
        self._reporter.single_value(_name(name, "name"), float(value))

    def set_last_iteration(self, iteration: int) -> None:
        self._reporter.set_last_iteration(int(iteration))

    # ---- text ----------------------------------------------------------------------------
    def report_text(self, msg: str, level: int = 20, print_console: bool = True, **_: Any) -> None:
        """A line in the task's console log (printed too, unless ``print_console=False``)."""
        import time

        if print_console:
            print(msg)
            if self._task._console_captured:
                return
        self._reporter.console([("stdout", str(msg), time.time())])

    # ---- plots -----------------------------------------------------------------------------
    def _plot(self, title: str, series: str, iteration: int | None, figure: dict[str, Any],
              extra_layout: dict[str, Any] | None = None) -> None:
        if extra_layout:
            figure["layout"].update(extra_layout)
        self._reporter.plot(_name(title, "title"), _name(series, "series"), int(iteration or 0),
                            figure)

    def report_plotly(self, title: str, series: str, figure: Any, iteration: int = 0) -> None:
        self._plot(title, series, iteration, _plots.normalize_plotly(figure))

    def report_table(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        table_plot: Any = None,
        csv: str | None = None,
        url: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """A table from a pandas DataFrame, a list of rows (header first) or a CSV file."""
        source = table_plot if table_plot is not None else csv
        if source is None:
            raise InvalidInput("report_table needs table_plot (DataFrame or rows) or csv")
        fig = _plots.table_plot(source, title, series)
        self._plot(title, series, iteration, fig, extra_layout)

    def report_histogram(
        self,
        title: str,
        series: str,
        values: Any,
        iteration: int | None = None,
        labels: Sequence[str] | None = None,
        xlabels: Sequence[Any] | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        mode: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        fig = _plots.histogram_plot(title, series, values, xaxis=xaxis, yaxis=yaxis,
                                    labels=labels, xlabels=xlabels, mode=mode or "group")
        self._plot(title, series, iteration, fig, extra_layout)

    report_vector = report_histogram

    def report_confusion_matrix(
        self,
        title: str,
        series: str,
        matrix: Any,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        xlabels: Sequence[Any] | None = None,
        ylabels: Sequence[Any] | None = None,
        yaxis_reversed: bool = False,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        fig = _plots.confusion_matrix_plot(title, series, matrix, xaxis=xaxis, yaxis=yaxis,
                                           xlabels=xlabels, ylabels=ylabels,
                                           yaxis_reversed=yaxis_reversed)
        self._plot(title, series, iteration, fig, extra_layout)

    report_matrix = report_confusion_matrix

    def report_scatter2d(
        self,
        title: str,
        series: str,
        scatter: Any,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        labels: Sequence[str] | None = None,
        mode: str = "lines",
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        fig = _plots.scatter2d_plot(title, series, scatter, xaxis=xaxis, yaxis=yaxis,
                                    labels=labels, mode=mode)
        self._plot(title, series, iteration, fig, extra_layout)

    def report_line_plot(
        self,
        title: str,
        series: Sequence[Any],
        xaxis: str | None = None,
        yaxis: str | None = None,
        mode: str = "lines",
        iteration: int | None = None,
        reverse_xaxis: bool = False,
        comment: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        fig = _plots.line_plot(title, series, xaxis=xaxis, yaxis=yaxis, mode=mode,
                               reverse_xaxis=reverse_xaxis)
        self._plot(title, "plot", iteration, fig, extra_layout)

    def report_surface(
        self,
        title: str,
        series: str,
        matrix: Any,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        zaxis: str | None = None,
        xlabels: Sequence[Any] | None = None,
        ylabels: Sequence[Any] | None = None,
        camera: Sequence[float] | None = None,
        **_: Any,
    ) -> None:
        fig = _plots.surface_plot(title, series, matrix, xaxis=xaxis, yaxis=yaxis, zaxis=zaxis,
                                  xlabels=xlabels, ylabels=ylabels, camera=camera)
        self._plot(title, series, iteration, fig)

    def report_matplotlib_figure(
        self, title: str, series: str, figure: Any, iteration: int | None = None,
        report_image: bool = True, **_: Any,
    ) -> None:
        """Stored as a PNG debug sample (rendered by matplotlib itself)."""
        import io

        buf = io.BytesIO()
        fig = figure if hasattr(figure, "savefig") else figure.gcf()  # a Figure or pyplot
        fig.savefig(buf, format="png", bbox_inches="tight")
        self._sample(title, series, iteration, "image", buf.getvalue(), "image/png")

    # ---- debug samples -----------------------------------------------------------------------
    def _sample(self, title: str, series: str, iteration: int | None, kind: str, data: bytes,
                content_type: str) -> None:
        session = self._task._session
        hash_, size = session.upload_bytes(data)
        self._reporter.debug_sample({
            "metric": _name(title, "title"), "variant": _name(series, "series"),
            "iteration": int(iteration or 0), "kind": kind, "hash": hash_,
            "url": f"arno://blobs/{hash_}", "content_type": content_type, "size": size,
        })

    def report_image(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        local_path: str | Path | None = None,
        image: Any = None,
        matrix: Any = None,
        max_image_history: int | None = None,
        delete_after_upload: bool = False,
        url: str | None = None,
    ) -> None:
        """An image (PIL image, numpy array or file) as a debug sample."""
        source = image if image is not None else matrix if matrix is not None else local_path
        if source is None and url:
            self._reporter.debug_sample({"metric": title, "variant": series,
                                         "iteration": int(iteration or 0), "kind": "image",
                                         "url": url})
            return
        if source is None:
            raise InvalidInput("report_image needs image, matrix or local_path")
        data, ctype = _images.encode_image(source)
        self._sample(title, series, iteration, "image", data, ctype)
        if delete_after_upload and local_path:
            Path(local_path).unlink(missing_ok=True)

    def report_media(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        local_path: str | Path | None = None,
        stream: Any = None,
        file_extension: str | None = None,
        url: str | None = None,
        delete_after_upload: bool = False,
    ) -> None:
        """Audio, video or HTML as a debug sample (kind guessed from the file type)."""
        if local_path is None and stream is None:
            raise InvalidInput("report_media needs local_path or stream")
        raw = stream.read() if stream is not None else Path(local_path).read_bytes()  # type: ignore[arg-type]
        ctype = _images.sniff_content_type(raw) or ""
        suffix = (file_extension or (Path(local_path).suffix if local_path else "")).lower()
        if suffix in (".html", ".htm") or ctype.startswith("text/html"):
            kind = "html"
        elif ctype.startswith("video/") or suffix in (".mp4", ".webm", ".avi", ".mov"):
            kind = "video"
        elif ctype.startswith("image/"):
            kind = "image"
        else:
            kind = "audio"
        data, content_type = _images.encode_media(raw, kind, file_extension=suffix or None)  # type: ignore[arg-type]
        self._sample(title, series, iteration, kind, data, content_type)
        if delete_after_upload and local_path:
            Path(local_path).unlink(missing_ok=True)

    # ---- misc --------------------------------------------------------------------------------
    def flush(self, wait: bool = True) -> bool:
        return self._reporter.flush(wait=wait)

    def set_default_upload_destination(self, uri: str) -> None:
        """Accepted for compatibility; Arno stores samples in the server's blob store."""

    @staticmethod
    def tensorboard_auto_group_scalars(group_scalars: bool = False) -> None:
        """Accepted for compatibility."""

