"""``arno up`` and ``arno server``: the only CLI module that imports the server."""

from __future__ import annotations

import logging
import time

import typer
import uvicorn

from arno.cli._output import console, fail
from arno.core.errors import ArnoError
from arno.core.settings import Settings
from arno.server.app import create_app
from arno.server.bootstrap import ensure_local_admin
from arno.services.container import Services


def serve(host: str | None, port: int | None, *, announce: bool) -> None:
    started = time.monotonic()
    try:
        settings = Settings()
        if host:
            settings.host = host
        if port:
            settings.port = port
    except ValueError as exc:
        raise fail(f"invalid settings: {exc}") from None
    try:
        services = Services(settings)
    except ArnoError as exc:
        raise fail(exc.message) from None
    except Exception as exc:  # noqa: BLE001 - e.g. database unreachable: one line, exit 1
        raise fail(f"cannot start: {exc.__class__.__name__}: {exc}".splitlines()[0]) from None
    local_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{local_host}:{settings.port}"
    boot = ensure_local_admin(services, url)
    app = create_app(settings, services)
    if announce:
        console.print(f"[bold green]Arno[/bold green] is starting at [link={url}]{url}[/link]")
        console.print(f"  data:        {settings.home}  "
                      f"({'SQLite' if services.db.is_sqlite else 'PostgreSQL'})")
        console.print(f"  credentials: {boot.config_path}")
        if boot.created:
            console.print(f"  web login:   {boot.username} / {boot.password} "
                          "(also in the file above)")
        console.print("  stop with Ctrl-C")
    logging.getLogger("arno").info("ready in %.2fs", time.monotonic() - started)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                            server_header=False, lifespan="on")
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise typer.Exit(1)
