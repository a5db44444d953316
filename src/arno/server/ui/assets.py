"""Static files of the UI, and Plotly's bundle served from the installed ``plotly`` package
(nothing comes from a CDN: the UI works on machines without internet)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from arno.server.ui.render import STATIC

_CACHE = {"cache-control": "public, max-age=86400"}


def plotly_path() -> Path | None:
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path if path.exists() else None


def mount_static(app: FastAPI) -> None:
    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        path = plotly_path()
        if path is None:
            return Response("/* plotly is not installed: pip install plotly */",
                            media_type="text/javascript", status_code=404)
        return FileResponse(path, media_type="text/javascript", headers=_CACHE)

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
