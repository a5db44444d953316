"""``arno key``: a secret is shown once, keys are listed without secrets, a revoked key is
refused at once."""

from __future__ import annotations

import json


def _printed_key(stdout: str) -> tuple[str, str]:
    lines = dict(line.strip().split(": ", 1) for line in stdout.splitlines() if ": " in line)
    return lines["access key"], lines["secret key"]


def test_create_use_list_revoke(cli):
    name, key, secret = cli.user("dora")
    created = cli("key", "create", "--label", "laptop", key=key, secret=secret)
    assert created.exit_code == 0, created.stderr
    assert "shown once" in created.stdout
    access, new_secret = _printed_key(created.stdout)

    # the new pair works on its own
    me = cli("project", "list", "--json", key=access, secret=new_secret)
    assert me.exit_code == 0 and isinstance(json.loads(me.stdout), list)

    listed = cli("key", "list", "--json", key=access, secret=new_secret)
    keys = {k["access_key"]: k for k in json.loads(listed.stdout)}
    assert set(keys) == {key, access}  # only her own keys
    assert keys[access]["label"] == "laptop" and keys[access]["username"] == name
    assert new_secret not in listed.stdout and "secret" not in json.dumps(list(keys.values()))
    table = cli("key", "list", key=access, secret=new_secret)
    assert access in table.stdout and "laptop" in table.stdout and new_secret not in table.stdout

    revoked = cli("key", "revoke", access, key=key, secret=secret)
    assert revoked.exit_code == 0 and access in revoked.stdout and "revoked" in revoked.stdout
    refused = cli("task", "list", key=access, secret=new_secret)
    assert "invalid credentials" in cli.one_error_line(refused)
    after = {k["access_key"]: k for k in json.loads(
        cli("key", "list", "--json", key=key, secret=secret).stdout)}
    assert after[access]["revoked_at"] is not None


def test_wrong_secret_is_one_line(cli):
    result = cli("task", "list", key=cli.live.admin_key, secret="not-the-secret")
    assert "invalid credentials" in cli.one_error_line(result)


def test_only_admins_act_on_other_users_keys(cli):
    erin, erin_key, erin_secret = cli.user("erin")
    _, fred_key, fred_secret = cli.user("fred")
    # an admin makes a key for erin; erin may not make one for fred nor see everyone's
    made = json.loads(cli("key", "create", "--user", erin, "--json").stdout)
    assert made["username"] == erin and made["secret_key"]
    assert "admin" in cli.one_error_line(
        cli("key", "create", "--user", "admin", key=erin_key, secret=erin_secret))
    assert "admin" in cli.one_error_line(
        cli("key", "list", "--all", key=erin_key, secret=erin_secret))
    assert "admin" in cli.one_error_line(
        cli("key", "revoke", fred_key, key=erin_key, secret=erin_secret))
    assert cli("project", "list", key=fred_key, secret=fred_secret).exit_code == 0
    everyone = {k["access_key"] for k in json.loads(cli("key", "list", "--all", "--json").stdout)}
    assert {erin_key, fred_key, made["access_key"], cli.live.admin_key} <= everyone
    assert "no" in cli.one_error_line(cli("key", "revoke", "NO-SUCH-KEY"))
