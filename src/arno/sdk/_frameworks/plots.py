"""Matplotlib figures shown (``plt.show()``) or saved (``Figure.savefig``) become plots of the
current task, through ``Logger.report_matplotlib_figure`` (an interactive plot where plotly
converts the figure, else the picture; a figure with an ``imshow`` picture is always the
picture, as the converter would drop it).

Title: the figure's suptitle, else its first axes title, else ``"Figure N"``; series:
``"Figure N"`` (N the pyplot figure number); iteration: the reporting context's. A figure whose
pixels did not change since it was last reported at the same iteration is not reported again
(``show`` then ``savefig`` of one figure is one plot). The figure stays open in pyplot (the
plotly converter would close it). ``show`` reports before the backend
runs, so a non-interactive backend (Agg) reports too, and a window closed by the user does
not lose its figure.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import threading
from typing import TYPE_CHECKING, Any

from arno.sdk._frameworks import active, guarded
from arno.sdk._frameworks.models import reporting_iteration

if TYPE_CHECKING:
    from arno.sdk._task import Task

FRAMEWORK = "matplotlib"

_inside = threading.local()
"""Set while Arno renders a figure (its own ``savefig`` calls are not the user's)."""
_reported: dict[tuple[str, str], tuple[int, str]] = {}
"""(task id, series) -> (iteration, pixel hash) of the last report."""
_numbers = itertools.count(1)
_lock = threading.Lock()


def patch_matplotlib(pyplot: Any) -> None:
    """``matplotlib.pyplot.show`` and ``matplotlib.figure.Figure.savefig``."""
    from matplotlib.figure import Figure

    show = pyplot.show
    if not getattr(show, "__arno_patched__", False):

        @functools.wraps(show)
        def patched_show(*args: Any, **kwargs: Any) -> Any:
            if not getattr(_inside, "on", False) and active(FRAMEWORK) is not None:
                for fig in _open_figures():
                    guarded("a matplotlib figure", _report, fig)
            return show(*args, **kwargs)

        patched_show.__arno_patched__ = True  # type: ignore[attr-defined]
        pyplot.show = patched_show

    close = pyplot.close
    if not getattr(close, "__arno_patched__", False):

        @functools.wraps(close)
        def patched_close(*args: Any, **kwargs: Any) -> Any:
            if getattr(_inside, "on", False):
                return None  # plotly's converter closes the figure it read: not the user's
            return close(*args, **kwargs)

        patched_close.__arno_patched__ = True  # type: ignore[attr-defined]
        pyplot.close = patched_close

    savefig = Figure.savefig
    if not getattr(savefig, "__arno_patched__", False):

        @functools.wraps(savefig)
        def patched_savefig(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = savefig(self, *args, **kwargs)
            if not getattr(_inside, "on", False) and active(FRAMEWORK) is not None:
                guarded("a matplotlib figure", _report, self)
            return result

        patched_savefig.__arno_patched__ = True  # type: ignore[attr-defined]
        Figure.savefig = patched_savefig  # type: ignore[method-assign]


def _open_figures() -> list[Any]:
    """pyplot's figures by number, without making one the current figure."""
    from matplotlib._pylab_helpers import Gcf

    managers = sorted(Gcf.get_all_fig_managers(), key=lambda m: m.num)
    return [m.canvas.figure for m in managers]


def figure_number(fig: Any) -> int:
    number = getattr(fig, "number", None)
    if isinstance(number, int):
        return number
    number = fig.__dict__.get("_arno_number")
    if number is None:  # a Figure made without pyplot
        number = fig.__dict__["_arno_number"] = 1000 + next(_numbers)
    return int(number)


def figure_title(fig: Any) -> str:
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        return str(suptitle.get_text().strip())
    for ax in fig.get_axes():
        title = ax.get_title().strip()
        if title:
            return str(title)
    return f"Figure {figure_number(fig)}"


def _converts(fig: Any) -> bool:
    """Whether plotly's converter keeps what the figure shows: it drops pictures
    (``imshow``), so a figure with one is reported as its PNG."""
    return not any(ax.images for ax in fig.get_axes())


def _pixels(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="rgba")
    return hashlib.blake2b(buf.getvalue(), digest_size=16).hexdigest()


def _report(fig: Any) -> None:
    task: Task | None = active(FRAMEWORK)
    if task is None:
        return
    _inside.on = True
    try:
        series = f"Figure {figure_number(fig)}"
        iteration = reporting_iteration(task) or 0
        digest = _pixels(fig)
        key = (task.id, series)
        with _lock:
            if _reported.get(key) == (iteration, digest):
                return
            _reported[key] = (iteration, digest)
        task.get_logger().report_matplotlib_figure(figure_title(fig), series, fig,
                                                   iteration=iteration,
                                                   report_interactive=_converts(fig))
    finally:
        _inside.on = False
