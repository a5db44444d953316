"""The FastAPI application."""

from __future__ import annotations

import asyncio
import logging
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
from arno.server.middleware import AllowedNetworks, BodyLimit
from arno.server.routers import (
    artifacts,
    datasets,
    events,
    health,
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
    finished)."""
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
        except Exception:  # noqa: BLE001 - keep reaping; the next pass may succeed
            log.exception("reaper pass failed")


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
    for module in (users, projects, tasks, events, artifacts, queues, datasets):
        api.include_router(module.router)

    @api.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api/v1/openapi.json", title="Arno API")

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
    return app
