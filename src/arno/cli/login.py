"""``arno login``: check credentials against a server and remember them in config.toml."""

from __future__ import annotations

import typer

from arno.cli._output import handle_errors, say
from arno.cli._session import RETRIES, check_host, client_config
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
    """Log in to an Arno server and remember its address and credentials.

    The key and secret are checked with the server first, then written to
    ARNO_HOME/config.toml (readable by you only), where the SDK and the CLI find them."""
    host = check_host(_normalise(host))
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
    now = client_config()
    if (now.host, now.access_key, now.secret_key) != (host, key, secret):
        say("note: ARNO_API_HOST / ARNO_API_KEY / ARNO_API_SECRET in your environment take "
            "precedence over this file", err=True)
    say(f"Logged in to {host} as {me['username']} ({me['role']}); credentials written to "
        f"{path}")


def register(app: typer.Typer) -> None:
    app.command("login")(login)
