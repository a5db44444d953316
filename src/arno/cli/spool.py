"""``arno spool``: reported batches waiting on this machine for the server, and sending them."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import typer

from arno.cli._output import fail, handle_errors, render, say, when
from arno.cli._session import api, client_config
from arno.client import deliver_orphans, list_waiting, spool_roots

spool_app = typer.Typer(
    name="spool",
    help="Reports waiting on this machine (written while the server was away).",
    no_args_is_help=True,
)
COLUMNS = ["task", "batches", "points", "size", "oldest", "state", "rejected", "path"]


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


@spool_app.command("list")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """What waits under ARNO_HOME/spool (and the agent's spool): per task, its batches and
    points, and whether a running process is still sending them itself."""
    waiting = list_waiting(spool_roots(client_config().home))
    if as_json:
        render([asdict(w) for w in waiting], COLUMNS, as_json=True)
        return
    if not waiting:
        say("nothing waits: every reported batch reached the server")
        return
    render([{"task": w.task_id, "batches": w.batches, "points": w.points,
             "size": _size(w.bytes), "oldest": when(w.oldest),
             "state": "sent by a running process" if w.in_use else
                      ("waiting: `arno spool send`" if w.batches else ""),
             "rejected": w.rejected or "", "path": w.path} for w in waiting],
           COLUMNS, as_json=False, no_wrap=["task", "path"])


@spool_app.command("send")
@handle_errors
def send(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Send the batches that ended processes left in the spool (those of running processes
    are theirs to send), each stored once. Exits non-zero when the server cannot be reached."""
    roots = spool_roots(client_config().home)
    with api() as session:
        done = deliver_orphans(session, roots)
    if as_json:
        sys.stdout.write(json.dumps(asdict(done), indent=2) + "\n")
    else:
        say(f"sent {done.batches} batch(es), {done.points} point(s), "
            f"from {len(done.tasks)} task folder(s)"
            + (f" ({done.duplicates} already stored)" if done.duplicates else ""))
        if done.rejected:
            say(f"{done.rejected} batch(es) the server refused for good were moved to "
                f"{roots[0] / 'rejected'} with the reason beside each")
        for task_id, why in done.left.items():
            say(f"task {task_id}: {why}")
    if done.server_away:
        raise fail(f"{done.server_away}; what is left waits for the next `arno spool send`")


def register(app: typer.Typer) -> None:
    app.add_typer(spool_app)
