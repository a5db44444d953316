"""``Logger``: what a training script reports. Every call only queues; nothing waits on the
network.

Scalars, plots and text go into the reporter's memory; the bytes of images, media and static
plots are hashed and written into the reporter's spool folder at once, and the background
sender uploads them before the records that refer to them (see :mod:`arno.client._reporter`).
The logger knows nothing of ``Task``: the task hands it a reporter and a session, and sets
``Logger._current`` for :meth:`Logger.current_logger`.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from arno.core.errors import InvalidInput
from arno.sdk import _images, _plots

if TYPE_CHECKING:
    from arno.client import Reporter

DEFAULT_UPLOAD_DESTINATION = "arno://blobs/"
"""Where samples go unless told otherwise: the server's content-addressed blob store."""


def _name(value: Any, what: str) -> str:
    text = str(value)
    if not text or len(text) > 256:
        raise InvalidInput(f"{what} must be 1 to 256 characters, got {text[:40]!r}")
    return text


def _one_of(call: str, **given: Any) -> str:
    """The one argument of ``given`` that is set; InvalidInput when none or several are."""
    present = [k for k, v in given.items()
               if v is not None and not (isinstance(v, str) and v == "")]
    if len(present) != 1:
        names = ", ".join(given)
        raise InvalidInput(f"{call} takes exactly one of {names}; got "
                           f"{', '.join(present) if present else 'none'}")
    return present[0]


def _level(level: Any) -> int:
    if isinstance(level, bool):
        raise InvalidInput(f"not a logging level: {level!r}")
    if isinstance(level, int):
        return level
    if isinstance(level, str):
        value = logging.getLevelName(level.upper())
        if isinstance(value, int):
            return value
    raise InvalidInput(f"not a logging level: {level!r} (use logging.INFO, 'WARNING'...)")


class SeriesInfo(NamedTuple):
    """One line of :meth:`Logger.report_line_plot`: its name, N x 2 (x, y) points and optional
    per-point labels."""

    name: str
    data: Any
    labels: Sequence[str] | None = None


class _ConsoleHandler(logging.Handler):
    """Sends log records to the task's console (for :meth:`Logger.capture_logging`)."""

    def __init__(self, logger: Logger) -> None:
        super().__init__()
        self._logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._logger.report_text(self.format(record), level=record.levelno,
                                     print_console=False)
        except Exception:  # noqa: BLE001 - logging never breaks the script
            self.handleError(record)


class Logger:
    """Reports scalars, plots, tables, debug samples and text to a task.

    Get one with ``Task.get_logger()`` or ``Logger.current_logger()``; ``Logger(reporter,
    session)`` is for the task facade and tests.
    """

    SeriesInfo = SeriesInfo
    _current: ClassVar[Logger | None] = None
    """The logger of the current task (set by ``Task``)."""
    _mpl_non_interactive: ClassVar[bool] = False
    _tensorboard_auto_group: ClassVar[bool] = False
    _tensorboard_single_series: ClassVar[bool] = False

    def __init__(self, reporter: Reporter, session: Any, *, console_captured: bool = False
                 ) -> None:
        self._reporter = reporter
        self._session = session
        self.console_captured = console_captured
        """The task records what the process prints (then ``report_text`` must not print
        through the capture, or the line would be recorded twice)."""
        self._upload_destination: str | None = None
        self._sample_history: int | None = None

    @classmethod
    def current_logger(cls) -> Logger:
        """The logger of the task started with ``Task.init`` in this process."""
        if cls._current is None:
            raise InvalidInput("no current task: call Task.init() first")
        return cls._current

    # ---- scalars -------------------------------------------------------------------------
    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """One point of the series ``title/series``. NaN and infinities are kept."""
        self._reporter.scalar(title, series, int(iteration), float(value))

    def report_scalars(self, title: str, values: dict[str, float], iteration: int) -> None:
        self._reporter.scalars(title, {k: float(v) for k, v in values.items()}, int(iteration))

    def report_single_value(self, name: str, value: float) -> None:
        """A value with no iteration (test accuracy, final loss), shown in the task's summary."""
        self._reporter.single_value(_name(name, "name"), float(value))

    def set_last_iteration(self, iteration: int) -> None:
        self._reporter.set_last_iteration(int(iteration))

    # ---- text ----------------------------------------------------------------------------
    def report_text(self, msg: Any, level: int = logging.INFO, print_console: bool = True,
                    *args: Any, **_: Any) -> None:
        """A line in the task's console log, printed too unless ``print_console=False``.

        A level other than INFO stays visible in the console record: the line starts with
        the level's name (``"WARNING: disk almost full"``), and WARNING and above are recorded
        on stderr. ``level`` is a ``logging`` level number or name."""
        number = _level(level)
        text = str(msg)
        if print_console:
            out = sys.stdout
            if self.console_captured:  # print past the capture: the record below is the one
                out = getattr(out, "original", out)
            try:
                out.write(text + "\n")
            except (OSError, ValueError, AttributeError):
                pass  # no usable stdout (closed, pythonw): the record still goes
        line = text if number == logging.INFO else f"{logging.getLevelName(number)}: {text}"
        stream = "stderr" if number >= logging.WARNING else "stdout"
        self._reporter.console([(stream, line, time.time())])

    def capture_logging(self) -> Any:
        """A context manager sending what ``logging`` records inside it to the console log
        (with levels). When the task already captures the console, printed log output is
        recorded anyway, so the context adds nothing."""
        return self._capture_logging()

    @contextmanager
    def _capture_logging(self) -> Iterator[None]:
        if self.console_captured:
            yield
            return
        handler = _ConsoleHandler(self)
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            yield
        finally:
            root.removeHandler(handler)

    # ---- plots -----------------------------------------------------------------------------
    def _plot(self, title: str, series: str, iteration: int | None, figure: dict[str, Any],
              extra_layout: dict[str, Any] | None = None, comment: str | None = None) -> None:
        if extra_layout:
            figure["layout"].update(_plots.to_json_safe(extra_layout))
        _plots.with_comment(figure, comment)
        self._reporter.plot(_name(title, "title"), _name(series, "series"), int(iteration or 0),
                            figure)

    def report_plotly(self, title: str, series: str, figure: Any, iteration: int | None = None
                      ) -> None:
        """A Plotly figure (``plotly`` object, dict or JSON text) as it is."""
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
        extra_data: dict[str, Any] | None = None,
    ) -> None:
        """A table from a pandas DataFrame, a list of rows (header first) or a local CSV file;
        or, with ``url``, the address of a CSV elsewhere, recorded without downloading it.
        ``extra_data`` is set on the table trace (e.g. ``{"columnwidth": [2, 1]}``)."""
        which = _one_of("report_table", table_plot=table_plot, csv=csv, url=url)
        if which == "url":
            fig = _plots.table_url_plot(str(url), title, series)
        else:
            fig = _plots.table_plot(table_plot if which == "table_plot" else csv, title, series)
        if extra_data:
            fig["data"][0].update(_plots.to_json_safe(extra_data))
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
        data_args: dict[str, Any] | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """Bars already counted (``values``: one row per series); ``data_args`` are set on
        every bar trace (e.g. ``{"orientation": "h"}``)."""
        fig = _plots.histogram_plot(title, series, values, xaxis=xaxis, yaxis=yaxis,
                                    labels=labels, xlabels=xlabels, mode=mode or "group")
        if data_args:
            for trace in fig["data"]:
                trace.update(_plots.to_json_safe(data_args))
        self._plot(title, series, iteration, fig, extra_layout)

    def report_vector(
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
        self.report_histogram(title, series, values, iteration, labels=labels, xlabels=xlabels,
                              xaxis=xaxis, yaxis=yaxis, mode=mode, extra_layout=extra_layout)

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
        comment: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        fig = _plots.confusion_matrix_plot(title, series, matrix, xaxis=xaxis, yaxis=yaxis,
                                           xlabels=xlabels, ylabels=ylabels,
                                           yaxis_reversed=yaxis_reversed)
        self._plot(title, series, iteration, fig, extra_layout, comment)

    def report_matrix(
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
        self.report_confusion_matrix(title, series, matrix, iteration, xaxis=xaxis, yaxis=yaxis,
                                     xlabels=xlabels, ylabels=ylabels,
                                     yaxis_reversed=yaxis_reversed, extra_layout=extra_layout)

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
        comment: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        fig = _plots.scatter2d_plot(title, series, scatter, xaxis=xaxis, yaxis=yaxis,
                                    labels=labels, mode=mode)
        self._plot(title, series, iteration, fig, extra_layout, comment)

    def report_scatter3d(
        self,
        title: str,
        series: str,
        scatter: Any,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        zaxis: str | None = None,
        labels: Sequence[str] | None = None,
        mode: str = "markers",
        fill: bool = False,
        comment: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        """Points in 3-D: an N x 3 array of (x, y, z), or a list of such arrays."""
        fig = _plots.scatter3d_plot(title, series, scatter, xaxis=xaxis, yaxis=yaxis,
                                    zaxis=zaxis, labels=labels, mode=mode, fill=fill)
        self._plot(title, series, iteration, fig, extra_layout, comment)

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
        """Several lines in one plot: each item has ``name`` and ``data`` (N x 2), as a
        mapping or an object (``Logger.SeriesInfo``-like)."""
        fig = _plots.line_plot(title, series, xaxis=xaxis, yaxis=yaxis, mode=mode,
                               reverse_xaxis=reverse_xaxis)
        self._plot(title, "plot", iteration, fig, extra_layout, comment)

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
        comment: str | None = None,
        extra_layout: dict[str, Any] | None = None,
    ) -> None:
        fig = _plots.surface_plot(title, series, matrix, xaxis=xaxis, yaxis=yaxis, zaxis=zaxis,
                                  xlabels=xlabels, ylabels=ylabels, camera=camera)
        self._plot(title, series, iteration, fig, extra_layout, comment)

    def report_matplotlib_figure(
        self,
        title: str,
        series: str,
        figure: Any,
        iteration: int | None = None,
        report_image: bool = False,
        report_interactive: bool = True,
    ) -> None:
        """A matplotlib figure (or ``pyplot``). With ``report_image`` it is a PNG debug sample;
        otherwise a plot: interactive (converted with plotly) when ``report_interactive`` and
        the conversion works, else the PNG shown in the Plots view. The PNG is uploaded by
        the background sender."""
        fig = figure if hasattr(figure, "savefig") else figure.gcf()  # a Figure or pyplot
        if not report_image and report_interactive and not Logger._mpl_non_interactive:
            try:
                from plotly.tools import mpl_to_plotly

                converted = _plots.normalize_plotly(mpl_to_plotly(fig))
            except Exception:  # noqa: BLE001 - many figures do not convert: show the picture
                converted = None
            if converted is not None:
                self._plot(title, series, iteration, converted)
                return
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        data = buf.getvalue()
        if report_image:
            self._sample(title, series, iteration, "image", data, "image/png")
            return
        hash_, _size = self._reporter.blob(data)
        width, height = (int(v) for v in (fig.get_size_inches() * fig.dpi))
        self._plot(title, series, iteration,
                   _plots.image_plot(title, series, f"/api/v1/blobs/{hash_}", width, height))

    @classmethod
    def matplotlib_force_report_non_interactive(cls, force: bool) -> None:
        """Report every matplotlib figure as a picture, never converted to an interactive plot."""
        cls._mpl_non_interactive = bool(force)

    # ---- debug samples -----------------------------------------------------------------------
    def _sample(self, title: str, series: str, iteration: int | None, kind: str, data: bytes,
                content_type: str) -> None:
        metric, variant = _name(title, "title"), _name(series, "series")
        hash_, size = self._reporter.blob(data)  # in the spool now; uploaded before the record
        self._reporter.debug_sample({
            "metric": metric, "variant": variant, "iteration": int(iteration or 0),
            "kind": kind, "hash": hash_, "url": f"arno://blobs/{hash_}",
            "content_type": content_type, "size": size,
        })

    def _remote_sample(self, title: str, series: str, iteration: int | None, kind: str,
                       url: str) -> None:
        self._reporter.debug_sample({
            "metric": _name(title, "title"), "variant": _name(series, "series"),
            "iteration": int(iteration or 0), "kind": kind, "url": str(url),
            "content_type": _images.content_type_for(str(url).split("?", 1)[0]) or "",
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
        """An image (PIL image, numpy array, image file, or the ``url`` of one elsewhere,
        recorded without downloading it) as a debug sample. ``max_image_history`` is accepted
        and ignored: Arno keeps every sample."""
        which = _one_of("report_image", local_path=local_path, url=url, image=image,
                        matrix=matrix)
        if which == "url":
            self._remote_sample(title, series, iteration, "image", str(url))
            return
        source = {"local_path": local_path, "image": image, "matrix": matrix}[which]
        data, ctype = _images.encode_image(source)
        self._sample(title, series, iteration, "image", data, ctype)
        if delete_after_upload and local_path:
            Path(local_path).unlink(missing_ok=True)  # its bytes are in the spool already

    def report_image_and_upload(self, title: str, series: str, iteration: int | None = None,
                                path: str | None = None, matrix: Any = None,
                                max_image_history: int | None = None,
                                delete_after_upload: bool = False) -> None:
        """The older name of :meth:`report_image`."""
        self.report_image(title, series, iteration, local_path=path, image=matrix,
                          delete_after_upload=delete_after_upload)

    def report_media(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        local_path: str | Path | None = None,
        stream: Any = None,
        file_extension: str | None = None,
        max_history: int | None = None,
        delete_after_upload: bool = False,
        url: str | None = None,
    ) -> None:
        """A file as a debug sample: audio, video, image, HTML (shown in the page) or any
        other file (text, CSV, PDF...: a download). Exactly one of ``local_path``, ``stream``
        (a text or binary file object; ``file_extension`` such as ``".txt"`` is then required)
        or ``url`` (recorded without downloading it). The kind follows the file type.
        ``max_history`` is accepted and ignored: Arno keeps every sample."""
        which = _one_of("report_media", local_path=local_path, stream=stream, url=url)
        suffix = _images.normal_suffix(file_extension)
        if which == "url":
            path_part = str(url).split("?", 1)[0]
            ctype = _images.content_type_for(suffix or path_part)
            self._remote_sample(title, series, iteration,
                                _images.media_kind(ctype, suffix or Path(path_part).suffix),
                                str(url))
            return
        if which == "stream":
            if not suffix:
                raise InvalidInput("report_media(stream=...) needs file_extension, e.g. '.txt'")
            if not callable(getattr(stream, "read", None)):
                raise InvalidInput(f"stream must be a file object, not {type(stream).__name__}")
            raw = stream.read()
            data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        else:
            path = Path(str(local_path))
            if not path.is_file():
                raise InvalidInput(f"no media file at {str(local_path)!r}")
            data = path.read_bytes()
            suffix = suffix or path.suffix.lower()
        ctype = (_images.content_type_for(suffix) if suffix else None) or \
            _images.sniff_content_type(data)
        kind = _images.media_kind(ctype, suffix)
        data, content_type = _images.encode_media(data, kind, file_extension=suffix or None)
        self._sample(title, series, iteration, kind, data, content_type)
        if delete_after_upload and local_path:
            Path(local_path).unlink(missing_ok=True)  # its bytes are in the spool already

    def report_html(self, title: str, series: str, html: Any, iteration: int | None = None
                    ) -> None:
        """An HTML page as a debug sample, shown in the task page (sandboxed). ``html`` is
        the HTML text, its bytes, a path to an ``.html`` file, or a bokeh object (rendered to
        a standalone page; needs bokeh installed)."""
        if type(html).__module__.split(".", 1)[0] == "bokeh":
            data = _bokeh_html(html, f"{title} {series}")
        elif isinstance(html, bytes | bytearray):
            data = bytes(html)
        elif isinstance(html, Path) or (isinstance(html, str) and len(html) < 4096
                                        and html.lower().endswith((".html", ".htm"))):
            path = Path(html)
            if not path.is_file():
                raise InvalidInput(f"no HTML file at {str(html)!r}")
            data = path.read_bytes()
        elif isinstance(html, str):
            data = html.encode("utf-8")
        else:
            raise InvalidInput(f"report_html takes HTML text, bytes, a path or a bokeh object, "
                               f"not {type(html).__name__}")
        self._sample(title, series, iteration, "html", data, "text/html; charset=utf-8")

    def set_default_debug_sample_history(self, max_history: int) -> None:
        """Accepted and remembered; Arno keeps every sample (no history limit applies)."""
        self._sample_history = int(max_history)

    def get_default_debug_sample_history(self) -> int:
        """The value given to :meth:`set_default_debug_sample_history` (-1: unlimited)."""
        return self._sample_history if self._sample_history is not None else -1

    # ---- misc --------------------------------------------------------------------------------
    def flush(self, wait: bool = False) -> bool:
        """Send what was reported, uploads included, now. With ``wait``, return once it is
        stored (True) or spooled because the server is away (False)."""
        return self._reporter.flush(wait=wait)

    def get_flush_period(self) -> float | None:
        """Seconds between the background sender's rounds."""
        return self._reporter.flush_interval

    def set_flush_period(self, period: float | None) -> None:
        """Seconds between the background sender's rounds; None or 0 keep the current period
        (reports are always sent in the background)."""
        if period:
            if period < 0:
                raise InvalidInput("the flush period must be positive")
            self._reporter.flush_interval = float(period)

    def set_default_upload_destination(self, uri: str) -> None:
        """Accepted and returned by :meth:`get_default_upload_destination`; samples are still
        stored in the Arno server's blob store (content-addressed, shown in the task page)."""
        self._upload_destination = str(uri)

    def get_default_upload_destination(self) -> str:
        return self._upload_destination or DEFAULT_UPLOAD_DESTINATION

    @classmethod
    def tensorboard_auto_group_scalars(cls, group_scalars: bool = False) -> None:
        """Accepted and remembered (TensorBoard capture is not part of Arno yet)."""
        cls._tensorboard_auto_group = bool(group_scalars)

    @classmethod
    def tensorboard_single_series_per_graph(cls, single_series: bool = False) -> None:
        """Accepted and remembered (TensorBoard capture is not part of Arno yet)."""
        cls._tensorboard_single_series = bool(single_series)

    @classmethod
    def set_reporting_nan_value(cls, value: float, warn_period: int = 1000) -> None:
        """Accepted and ignored: Arno stores NaN as NaN (charts show a gap)."""

    @classmethod
    def set_reporting_inf_value(cls, value: float, warn_period: int = 1000) -> None:
        """Accepted and ignored: Arno stores infinities as such."""


def _bokeh_html(obj: Any, title: str) -> bytes:
    try:
        from bokeh.embed import file_html
        from bokeh.resources import CDN
    except ImportError as exc:
        raise InvalidInput("reporting a bokeh object needs bokeh: pip install bokeh") from exc
    return str(file_html(obj, CDN, title)).encode("utf-8")
