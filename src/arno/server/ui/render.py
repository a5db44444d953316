"""Rendering pages: one Jinja2 environment (autoescape on), the filters templates use, and the
HTML error page."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from arno import __version__
from arno.core.files import human_size
from arno.core.ids import as_utc
from arno.server.middleware import CHART_CSP

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def _ago(value: datetime | None) -> str:
    if value is None:
        return ""
    secs = (datetime.now(UTC) - as_utc(value)).total_seconds()
    if secs < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            return f"{int(secs // size)} {unit} ago"
    return f"{int(secs)} s ago"


def _dt(value: datetime | None) -> str:
    if value is None:
        return ""
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S")


def seconds_text(secs: float | None) -> str:
    if secs is None or secs != secs:
        return ""
    secs = max(0, int(secs))
    d, rem = divmod(secs, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if d:
        return f"{d}d {h:02d}h"
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m {s:02d}s"
    return f"{s}s"


def span_seconds(start: datetime | None, end: datetime | None, status: str) -> float | None:
    """How long a task ran: to its completion, or until now while it runs."""
    if start is None:
        return None
    if end is None:
        if status not in ("in_progress", "queued"):
            return None
        end = datetime.now(UTC)
    return (as_utc(end) - as_utc(start)).total_seconds()


def task_seconds(task: Any) -> float | None:
    return span_seconds(task.started_at, task.completed_at, str(task.status))


def _duration(task: Any) -> str:
    return seconds_text(task_seconds(task))


def fmt_num(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    return str(value)


def _tojson(value: Any) -> Markup:
    """JSON safe to put inside a <script> element."""
    text = json.dumps(value, default=str, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _jsonattr(value: Any) -> str:
    """JSON for an HTML attribute (a plain string: autoescape quotes it)."""
    return json.dumps(value, default=str, separators=(",", ":"))


def _qs(params: Any) -> str:
    return urlencode([(k, v) for k, v in params if v is not None and v != ""], doseq=False)


env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html", "xml"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(
    ago=_ago, dt=_dt, duration=_duration, num=fmt_num, size=human_size, tojson=_tojson, qs=_qs,
    jsonattr=_jsonattr,
    seconds=seconds_text,
)
env.globals.update(version=__version__)


def static_url(path: str) -> str:
    return f"/static/{path}?v={__version__}"


env.globals["static"] = static_url
_PLOTLY_TAG = f'<script src="{static_url("plotly.min.js")}">'


def render(request: Request, template: str, status_code: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    from arno.server.deps import csrf_token

    who = getattr(request.state, "principal", None)
    ctx = {
        "request": request,
        "who": who,
        "csrf": csrf_token(request) if who is not None else context.pop("csrf", ""),
        "path": request.url.path,
        **context,
    }
    html = env.get_template(template).render(ctx)
    # nosniff, framing, referrer and the strict CSP: server.middleware.SecurityHeaders
    base = {"cache-control": "no-store"}
    if _PLOTLY_TAG in html:
        base["content-security-policy"] = CHART_CSP
    return HTMLResponse(html, status_code=status_code, headers={**base, **(headers or {})})


_TITLES = {
    400: "Bad request", 401: "Please log in", 403: "Not allowed", 404: "Not found",
    405: "Not allowed", 409: "Conflict", 413: "Too large", 422: "Invalid input",
    429: "Too many attempts",
    500: "Something went wrong",
}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The HTML error page of the UI (the API keeps its JSON body)."""
    from arno.server.deps import csrf_token

    who = getattr(request.state, "principal", None)  # None: failed before authentication
    html = env.get_template("error.html").render(
        request=request, who=who, csrf=csrf_token(request) if who is not None else "",
        status=status,
        title=_TITLES.get(status, "Error"), message=message, path=request.url.path,
    )
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})
