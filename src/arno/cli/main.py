"""Entry point of the ``arno`` command."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="arno",
    help="Arno: self-hosted MLOps. Start with `arno up`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.command()
def up(
    host: str = typer.Option(None, help="Address to bind (default 127.0.0.1, or ARNO_HOST)."),
    port: int = typer.Option(None, help="Port (default 8080, or ARNO_PORT)."),
    no_agent: bool = typer.Option(False, "--no-agent",
                                  help="Do not start the local agent serving `default`."),
) -> None:
    """Start Arno locally (server, web UI and a local agent serving the `default` queue, on
    SQLite under ARNO_HOME, default ~/.arno) and write credentials to ARNO_HOME/config.toml.
    Runs until Ctrl-C."""
    from arno.cli._serve import serve

    serve(host, port, announce=True, agent=not no_agent)


@app.command()
def server(
    host: str = typer.Option(None, help="Address to bind (default 127.0.0.1, or ARNO_HOST)."),
    port: int = typer.Option(None, help="Port (default 8080, or ARNO_PORT)."),
) -> None:
    """Run the API server (configure with ARNO_* variables, e.g. ARNO_DATABASE_URL)."""
    from arno.cli._serve import serve

    serve(host, port, announce=True)


def _register() -> None:
    import importlib

    for name in ("login", "users", "keys", "projects", "tasks", "artifacts", "agent", "queues",
                 "workers", "execute", "data", "spool", "models", "imports"):
        try:
            module = importlib.import_module(f"arno.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"arno.cli.{name}":
                raise
            continue
        module.register(app)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
