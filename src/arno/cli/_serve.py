"""``arno up`` and ``arno server``: the only CLI module that imports the server."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
import uvicorn

from arno.cli._output import console, fail
from arno.core.config_file import read_config_file
from arno.core.errors import ArnoError
from arno.core.settings import Settings
from arno.server.app import create_app
from arno.server.bootstrap import ensure_local_admin
from arno.server.listen import uvicorn_options
from arno.services.container import Services

if TYPE_CHECKING:
    from arno.agent import Agent
    from arno.client._session import ApiSession


class _Server(uvicorn.Server):
    """Starts the local agent once the server answers, and stops it before the server goes
    (while the agent can still report its task and unregister)."""

    def __init__(self, config: uvicorn.Config, agent: LocalAgent | None) -> None:
        super().__init__(config)
        self.agent = agent

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit and self.agent is not None:
            self.agent.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.agent is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.agent.stop)
        await super().shutdown(sockets)


class LocalAgent:
    """An agent serving ``default`` inside the ``arno up`` process, on a thread of its own, with
    the credentials ``arno up`` wrote: one process to start, stop and size. It talks to the
    server over HTTP like any agent; tasks still run as child processes. Its log goes to
    ``$ARNO_HOME/agent/local-agent.log``."""

    GRACE = 10.0

    def __init__(self, home: Path, url: str, access_key: str, secret_key: str) -> None:
        self.home = home
        self.url = url
        self.access_key = access_key
        self.secret_key = secret_key
        self.log_path = home / "agent" / "local-agent.log"
        self.agent: Agent | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        from arno.agent import Agent
        from arno.client._session import ApiSession

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.log_path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        agent_log = logging.getLogger("arno.agent")
        agent_log.addHandler(handler)
        agent_log.setLevel(logging.INFO)
        agent_log.propagate = False  # its file, not the server's console, to the very end
        session = ApiSession(self.url, self.access_key, self.secret_key, retries=0)
        try:
            self.agent = Agent(session, None, ["default"], grace_seconds=self.GRACE,
                               work_dir=self.home / "agent")
        except ArnoError as exc:
            agent_log.error("the local agent cannot start: %s", exc.message)
            session.close()
            return
        self.thread = threading.Thread(target=self._run, args=(self.agent, session),
                                       name="arno-local-agent", daemon=True)
        self.thread.start()

    @staticmethod
    def _run(agent: Agent, session: ApiSession) -> None:
        try:
            agent.run()
        except Exception:  # noqa: BLE001 - the server goes on without its agent
            logging.getLogger("arno.agent").exception("the local agent stopped")
        finally:
            session.close()

    def stop(self) -> None:
        """Stop taking tasks, let a running one end (SIGTERM, SIGKILL after the grace)."""
        if self.agent is not None:
            self.agent.request_stop("the server is stopping")
        if self.thread is not None:
            self.thread.join(timeout=self.GRACE + 10)


def _local_agent(home: Path, url: str, config_path: Path) -> LocalAgent | None:
    api = read_config_file(config_path).get("api", {})
    if not api.get("access_key") or not api.get("secret_key"):
        console.print(f"  agent:       not started: no API key in {config_path}")
        return None
    return LocalAgent(home, url, api["access_key"], api["secret_key"])


def serve(host: str | None, port: int | None, *, announce: bool, agent: bool = False) -> None:
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
        if services.opened_paths:
            console.print("  [yellow]warning:[/yellow] made private to your user (they were "
                          f"readable by others): {', '.join(services.opened_paths)}")
        if boot.created:
            console.print(f"  web login:   {boot.username} / {boot.password} "
                          "(also in the file above)")
    local = _local_agent(settings.home, url, boot.config_path) if agent else None
    if announce:
        if local is not None:
            console.print(f"  agent:       serving queue 'default' (log: {local.log_path})")
        console.print("  stop with Ctrl-C")
    logging.getLogger("arno").info("ready in %.2fs", time.monotonic() - started)
    config = uvicorn.Config(app, log_level="warning", lifespan="on",
                            **uvicorn_options(settings))
    server = _Server(config, local)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise typer.Exit(1)
