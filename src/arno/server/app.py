"""The FastAPI application."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from arno import __version__
from arno.core.settings import Settings
from arno.server.deps import current_principal
from arno.server.errors import install_error_handlers
from arno.server.middleware import AllowedNetworks, BodyLimit, SecurityHeaders
from arno.server.routers import (
    artifacts,
    datasets,
    events,
    health,
    models,
    projects,
    queues,
    tasks,
    ui,
    users,
)
from arno.server.ui.assets import mount_static
from arno.services.container import Services

log = logging.getLogger("arno.server")


async def _reap_forever(services: Services, interval: float, gc_interval: float) -> None:
    """Fail or requeue tasks whose agent stopped heartbeating; now and then, delete dataset
    packs nothing refers to any more (a version deleted as a plain task, an upload never
    finished) and temp files a day old (left by a server killed mid-upload)."""
    next_gc = time.monotonic() + gc_interval
    while True:
        await asyncio.sleep(interval)
        try:
            counts = await run_in_threadpool(services.queues.reap)
            if any(counts.values()):
                log.info("reaper: %s", counts)
            if gc_interval > 0 and time.monotonic() >= next_gc:
                next_gc = time.monotonic() + gc_interval
                await run_in_threadpool(services.dataset_packs.collect)
                # uploads cut off by a crash (kill -9, power cut) leave temp files behind
                await run_in_threadpool(services.store.remove_stale_temp)
        except Exception:  # noqa: BLE001 - keep reaping; the next pass may succeed
            log.exception("reaper pass failed")


def _docs_csp(html: bytes) -> str:
    """The API docs page loads Swagger UI from its CDN and starts it with one inline script:
    allow that CDN and exactly that script (by its hash), nothing else."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in re.findall(rb"<script>(.*?)</script>", html, re.S)
    )
    cdn = "https://cdn.jsdelivr.net"
    return (f"default-src 'self'; script-src 'self' {cdn} {hashes}; "
            f"style-src 'self' {cdn} 'unsafe-inline'; img-src 'self' data: https:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or Settings()
    services = services or Services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        services.start()
        reaper = asyncio.create_task(_reap_forever(services, settings.reaper_interval,
                                                    settings.dataset_gc_interval))
        try:
            yield
        finally:
            reaper.cancel()
            services.close()

    app = FastAPI(
        title="Arno",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.settings = settings
    install_error_handlers(app)

    api = APIRouter(prefix="/api/v1", dependencies=[Depends(current_principal)])
    for module in (users, projects, tasks, events, artifacts, queues, datasets, models):
        api.include_router(module.router)

    @api.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url="/api/v1/openapi.json", title="Arno API")
        page.headers["content-security-policy"] = _docs_csp(bytes(page.body))
        return page

    app.include_router(api)
    app.include_router(health.router)
    for router in ui.routers:
        app.include_router(router)
    mount_static(app)
    app.add_middleware(
        BodyLimit, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes
    )
    if settings.allowed_networks:
        app.add_middleware(AllowedNetworks, networks=settings.allowed_networks)
    app.add_middleware(SecurityHeaders)  # last added: outermost, so it sees every answer
    return app
