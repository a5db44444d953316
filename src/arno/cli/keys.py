"""``arno key``: API key + secret pairs."""

from __future__ import annotations

from typing import Any

import typer

from arno.cli._output import console, handle_errors, render, say, when
from arno.cli._session import api

key_app = typer.Typer(name="key", help="Manage API keys.", no_args_is_help=True)
COLUMNS = ["access_key", "user", "label", "created", "last used", "revoked"]


def _row(key: dict[str, Any]) -> dict[str, Any]:
    return {**key, "user": key.get("username"), "created": when(key.get("created_at")),
            "last used": when(key.get("last_used_at")), "revoked": when(key.get("revoked_at"))}


@key_app.command("create")
@handle_errors
def create(
    user: str = typer.Option(None, "--user",
                             help="Owner of the key (admins only; default: yourself)."),
    label: str = typer.Option("", "--label", help="A note to recognise the key by."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (includes the secret)."),
) -> None:
    """Create a key. Its secret is printed once and cannot be shown again."""
    with api() as session:
        key = session.post("keys", {"user": user, "label": label})
    if as_json:
        render(key, [], as_json=True)
        return
    say(f"API key for {key['username']}" + (f" ({key['label']})" if key["label"] else ""))
    say(f"  access key: {key['access_key']}")
    say(f"  secret key: {key['secret_key']}")
    console.print("[yellow]The secret is shown once: store it now, it cannot be shown again."
                  "[/yellow]")


@key_app.command("list")
@handle_errors
def list_(
    all_users: bool = typer.Option(False, "--all", help="Every user's keys (admins only)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List your keys (or everyone's with --all); secrets are never shown."""
    with api() as session:
        keys = session.get("keys", all="true" if all_users else None)
    render(keys if as_json else [_row(k) for k in keys], COLUMNS, as_json=as_json,
           no_wrap=["access_key"])


@key_app.command("revoke")
@handle_errors
def revoke(key: str = typer.Argument(..., help="Access key (or key id) to revoke.")) -> None:
    """Revoke a key: requests signed with it are refused from now on."""
    with api() as session:
        out = session.request("DELETE", f"keys/{key}").json()
    say(f"revoked key {out['access_key']} of user {out['username']}")


def register(app: typer.Typer) -> None:
    app.add_typer(key_app)
