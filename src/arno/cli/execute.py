"""``arno execute``: send a local script, unchanged, to a queue."""

from __future__ import annotations

import platform
from pathlib import Path

import typer

from arno.cli._output import handle_errors, say
from arno.cli._session import api
from arno.core.errors import InvalidInput


def _parse_args(pairs: list[str]) -> list[dict[str, str]]:
    params = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--args takes key=value, got {pair!r}")
        params.append({"section": "Args", "name": key.strip().lstrip("-"), "value": value,
                       "type": "str"})
    return params


@handle_errors
def execute(
    script: Path = typer.Argument(..., help="The Python script to run remotely."),  # noqa: B008
    queue: str = typer.Option("default", "--queue", "-q", help="Queue to send it to."),
    requirements: Path = typer.Option(  # noqa: B008
        None, "--requirements", "-r", help="A requirements.txt for the task's environment."),
    args: list[str] = typer.Option(  # noqa: B008
        [], "--args", help="Script argument as key=value (repeatable); section 'Args'."),
    project: str = typer.Option("default", "--project", "-p", help="Project of the task."),
    name: str = typer.Option(None, "--name", "-n", help="Task name (default: the script's)."),
) -> None:
    """Create a task from SCRIPT (its text, requirements and arguments) and enqueue it; print
    the task id. The script runs on an agent serving the queue."""
    if not script.is_file():
        raise InvalidInput(f"no such script: {script}")
    reqs = ""
    if requirements is not None:
        if not requirements.is_file():
            raise InvalidInput(f"no such requirements file: {requirements}")
        reqs = requirements.read_text()
    params = _parse_args(args)
    body = {
        "project": project,
        "name": name or script.stem,
        "status": "created",
        "script": {
            "entry_point": script.name,
            "working_dir": ".",
            "source": script.read_text(),
            "requirements": reqs,
            "python_version": platform.python_version(),
        },
        "hyperparams": params,
        # the script is unchanged (it may not import arno): the agent hands it its arguments
        # on the command line, as `--key value`
        "runtime": {"args": [a for p in params for a in (f"--{p['name']}", p["value"])]},
    }
    with api() as session:
        task = session.post("tasks", body)
        session.post(f"tasks/{task['id']}/enqueue", {"queue": queue})
    say(f"queued {script.name} as task {task['id']} in {queue}", err=True)
    say(task["id"])


def register(app: typer.Typer) -> None:
    app.command("execute")(execute)
