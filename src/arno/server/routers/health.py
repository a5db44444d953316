"""Liveness and readiness; the only route that needs no credentials."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from arno import __version__
from arno.services.container import Services

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    svc: Services = request.app.state.services
    ok = svc.database_ok()
    body = {"status": "ok" if ok else "degraded", "version": __version__,
            "database": "ok" if ok else "unreachable"}
    return JSONResponse(body, status_code=200 if ok else 503)
