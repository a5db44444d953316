"""``arno user``: admins create, list, disable and enable users; others are refused."""

from __future__ import annotations

import json
import uuid


def test_create_list_disable_enable(cli):
    name = f"alice-{uuid.uuid4().hex[:6]}"
    created = cli("user", "create", name, "--password", "s3cret-pass")
    assert created.exit_code == 0, created.stderr
    assert name in created.stdout and "user" in created.stdout

    listed = cli("user", "list", "--json")
    assert listed.exit_code == 0
    users = {u["username"]: u for u in json.loads(listed.stdout)}
    assert users[name]["role"] == "user" and users[name]["disabled"] is False
    assert users["admin"]["role"] == "admin"
    table = cli("user", "list")
    assert table.exit_code == 0 and name in table.stdout and "username" in table.stdout

    # she can sign in with her password (HTTP Basic with username:password)
    with cli.http(name, "s3cret-pass") as http:
        assert http.get("/api/v1/me").json()["username"] == name
    key = json.loads(cli("key", "create", "--user", name, "--json").stdout)
    assert cli("project", "list", key=key["access_key"], secret=key["secret_key"]).exit_code == 0

    disabled = cli("user", "disable", name)
    assert disabled.exit_code == 0 and "disabled" in disabled.stdout
    users = {u["username"]: u for u in json.loads(cli("user", "list", "--json").stdout)}
    assert users[name]["disabled"] is True
    # every way in is closed at once: her key and her password
    refused = cli("task", "list", key=key["access_key"], secret=key["secret_key"])
    assert "invalid credentials" in cli.one_error_line(refused)
    with cli.http(name, "s3cret-pass") as http:
        assert http.get("/api/v1/me").status_code == 401

    enabled = cli("user", "enable", name)
    assert enabled.exit_code == 0 and "enabled" in enabled.stdout
    assert cli("task", "list", key=key["access_key"], secret=key["secret_key"]).exit_code == 0


def test_create_admin_with_prompted_password(cli):
    name = f"root-{uuid.uuid4().hex[:6]}"
    # asked twice; a mismatch is asked again
    result = cli("user", "create", name, "--admin", "--json",
                 input="first-pass1\nother-pass1\nlong-enough\nlong-enough\n")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "do not match" in out.lower()
    user = json.loads(out[out.index("{"):])
    assert user["username"] == name and user["role"] == "admin"
    with cli.http(name, "long-enough") as http:
        assert http.get("/api/v1/me").json()["role"] == "admin"


def test_key_only_user_and_bad_input(cli):
    name = f"bot-{uuid.uuid4().hex[:6]}"
    assert cli("user", "create", name, "--no-password").exit_code == 0
    with cli.http(name, "anything-at-all") as http:
        assert http.get("/api/v1/me").status_code == 401
    # the same name again, a short password, an unknown user: one line each, exit 1
    assert "already exists" in cli.one_error_line(cli("user", "create", name, "--no-password"))
    assert "password" in cli.one_error_line(cli("user", "create", "shorty", "--password", "x"))
    assert "no user" in cli.one_error_line(cli("user", "disable", "nobody-" + uuid.uuid4().hex))
    # an admin cannot lock themselves out
    assert "yourself" in cli.one_error_line(cli("user", "disable", "admin"))
    # a usage error stays Typer's: exit 2
    assert cli("user", "create").exit_code == 2


def test_non_admin_cannot_manage_users(cli):
    _, key, secret = cli.user("bob")
    for args in (["user", "create", "mallory", "--password", "12345678"],
                 ["user", "list"], ["user", "disable", "admin"]):
        line = cli.one_error_line(cli(*args, key=key, secret=secret))
        assert "admin" in line
    assert "mallory" not in cli("user", "list").stdout
