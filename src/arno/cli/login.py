"""``arno login``: check credentials against a server and remember them in config.toml."""

from __future__ import annotations

import typer

from arno.cli._output import console, handle_errors
from arno.cli._session import RETRIES, client_config
from arno.client import ApiSession
from arno.core.config_file import write_config
from arno.core.errors import NotFound, Unauthorized


def _normalise(host: str) -> str:
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"http://{host}"
    return host.removesuffix("/api/v1")


@handle_errors
def login(
    host: str = typer.Option(..., "--host", prompt="Server URL",
                             help="Address of the Arno server, e.g. https://arno.example.com."),
    key: str = typer.Option(None, "--key", help="API access key (prompted when missing)."),
    secret: str = typer.Option(None, "--secret",
                               help="API secret key (prompted, hidden, when missing)."),
) -> None:
    """Log in to a remote Arno server: the key and secret are checked, then written to
    ARNO_HOME/config.toml (readable by you only) for the SDK and CLI to use."""
    host = _normalise(host)
    if not key:
        key = typer.prompt("Access key").strip()
    if not secret:
        secret = typer.prompt("Secret key", hide_input=True).strip()
    session = ApiSession(host, key, secret, retries=RETRIES)
    try:
        me = session.get("me")
    except Unauthorized:
        raise Unauthorized(f"{host} refused these credentials; nothing was written") from None
    except NotFound:
        raise NotFound(f"{host} does not look like an Arno server (no /api/v1/me)") from None
    finally:
        session.close()
    path = write_config(client_config().home,
                        {"host": host, "access_key": key, "secret_key": secret})
    console.print(f"Logged in to {host} as [bold]{me['username']}[/bold] ({me['role']}); "
                  f"credentials written to {path}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("login")(login)
