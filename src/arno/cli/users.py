"""``arno user``: create, list, disable and enable users (admins only)."""

from __future__ import annotations

from typing import Any

import typer

from arno.cli._output import handle_errors, render, say, when
from arno.cli._session import api

user_app = typer.Typer(name="user", help="Manage users (admins only).", no_args_is_help=True)
COLUMNS = ["username", "role", "disabled", "created", "id"]


def _row(user: dict[str, Any]) -> dict[str, Any]:
    return {**user, "created": when(user.get("created_at"))}


@user_app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="Login name (letters, digits, _ . @ -)."),
    admin: bool = typer.Option(False, "--admin", help="Make the user an admin."),
    password: str = typer.Option(
        None, "--password",
        help="Password for the web UI (at least 8 characters); prompted when missing."),
    no_password: bool = typer.Option(
        False, "--no-password", help="No password: the user signs in with API keys only."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a user; prints the new user."""
    if password is None and not no_password:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    body = {"username": name, "role": "admin" if admin else "user",
            "password": None if no_password else password}
    with api() as session:
        user = session.post("users", body)
    render(_row(user), COLUMNS, as_json=as_json, title="user created")


@user_app.command("list")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List every user."""
    with api() as session:
        users = session.get("users")
    render(users if as_json else [_row(u) for u in users], COLUMNS, as_json=as_json,
           no_wrap=["id"])


def _set_disabled(name: str, disabled: bool) -> None:
    with api() as session:
        user = session.patch(f"users/{name}", {"disabled": disabled})
    state = "disabled: their keys and password no longer work" if disabled else "enabled"
    say(f"user {user['username']} {state}")


@user_app.command("disable")
@handle_errors
def disable(name: str = typer.Argument(..., help="Username or user id.")) -> None:
    """Disable a user: every key and the password of the user stop working at once."""
    _set_disabled(name, True)


@user_app.command("enable")
@handle_errors
def enable(name: str = typer.Argument(..., help="Username or user id.")) -> None:
    """Enable a disabled user again."""
    _set_disabled(name, False)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app)
