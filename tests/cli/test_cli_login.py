"""``arno login`` writes a private config only for credentials the server accepts; without a
server every command fails with one line."""

from __future__ import annotations

import socket
import stat
import tomllib

NO_ENV = {"ARNO_API_HOST": None, "ARNO_API_KEY": None, "ARNO_API_SECRET": None}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_login_writes_private_config(cli):
    live = cli.live
    result = cli("login", "--host", live.url + "/", "--key", live.admin_key, "--secret",
                 live.admin_secret, env=NO_ENV)
    assert result.exit_code == 0, result.stderr
    assert "admin" in result.stdout
    path = cli.home / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    api = tomllib.loads(path.read_text())["api"]
    assert api == {"host": live.url, "access_key": live.admin_key,
                   "secret_key": live.admin_secret}
    assert result.stderr == ""
    # from now on the CLI finds the server with no environment at all
    listed = cli("project", "list", "--json", env=NO_ENV)
    assert listed.exit_code == 0, listed.stderr


def test_login_prompts_hide_the_secret(cli):
    _, key, secret = cli.user("hana")
    result = cli("login", "--host", cli.live.url, env=NO_ENV, input=f"{key}\n{secret}\n")
    assert result.exit_code == 0, result.stderr
    assert "Access key" in result.stdout and "Secret key" in result.stdout
    assert key in result.stdout and secret not in result.stdout  # typed secret is not echoed
    assert tomllib.loads((cli.home / "config.toml").read_text())["api"]["secret_key"] == secret


def test_bad_credentials_write_nothing(cli):
    result = cli("login", "--host", cli.live.url, "--key", cli.live.admin_key, "--secret",
                 "wrong-secret", env=NO_ENV)
    assert "refused" in cli.one_error_line(result)
    assert not (cli.home / "config.toml").exists()


def test_no_server_configured_is_one_line(cli):
    line = cli.one_error_line(cli("task", "list", env=NO_ENV))
    assert "arno up" in line and "arno login" in line
    line = cli.one_error_line(cli("task", "list", env={**NO_ENV,
                                                        "ARNO_API_HOST": cli.live.url}))
    assert "no credentials" in line


def test_unreachable_server_is_one_line(cli):
    url = f"http://127.0.0.1:{_closed_port()}"
    line = cli.one_error_line(cli("task", "list", env={"ARNO_API_HOST": url}))
    assert "cannot reach" in line and url in line
    line = cli.one_error_line(cli("login", "--host", url, "--key", "k", "--secret", "s",
                                  env=NO_ENV))
    assert "cannot reach" in line
    line = cli.one_error_line(cli("login", "--host", "http://[::1", "--key", "k", "--secret",
                                  "s", env=NO_ENV))
    assert "not a server URL" in line
    assert not (cli.home / "config.toml").exists()


def test_login_warns_when_the_environment_overrides_it(cli):
    _, key, secret = cli.user("ines")
    result = cli("login", "--host", cli.live.url, "--key", key, "--secret", secret)
    assert result.exit_code == 0, result.stderr
    assert "take precedence" in result.stderr  # the admin's ARNO_API_KEY is still set
