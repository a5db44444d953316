"""``arno import``: bring runs recorded elsewhere into Arno (``arno import tensorboard DIR``)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from arno.cli._output import err_console, handle_errors, render, say
from arno.cli._session import api
from arno.client._tasks import TaskClient
from arno.client._tb_events import Point, ReadReport, check_framing, event_files, points
from arno.core.errors import InvalidInput

import_app = typer.Typer(name="import", help="Import runs recorded by other tools.",
                         no_args_is_help=True)
DEFAULT_PROJECT = "TensorBoard import"
BATCH_POINTS = 5000
"""Scalar points per request."""
COLUMNS = ["task", "name", "files", "scalars", "histograms", "texts", "skipped"]


def _runs(root: Path) -> dict[str, list[Path]]:
    """Event files grouped by the folder holding them (one run per folder)."""
    runs: dict[str, list[Path]] = {}
    for path in event_files(root):
        folder = path.parent if root.is_dir() else root.parent
        rel = folder.relative_to(root) if root.is_dir() else Path(folder.name)
        name = root.resolve().name if str(rel) == "." else rel.as_posix()
        runs.setdefault(name, []).append(path)
    return runs


def _split(tag: str) -> tuple[str, str]:
    title, sep, series = tag.partition("/")
    return (title, series) if sep and title and series else (tag, tag)


def _histogram_figure(title: str, series: str, limits: list[float], counts: list[float]
                      ) -> dict[str, Any]:
    x = [f"{v:.4g}" for v in limits]
    return {"data": [{"type": "bar", "name": series, "x": x, "y": counts}],
            "layout": {"title": {"text": f"{title} / {series}"}, "barmode": "group",
                       "xaxis": {"title": {"text": "bucket upper limit"}},
                       "yaxis": {"title": {"text": "count"}}}}


class _Sender:
    """Collects one run's points and posts them as event batches."""

    def __init__(self, session: Any, task_id: str) -> None:
        self.session = session
        self.path = f"tasks/{quote(task_id, safe='')}/events"
        self.series: dict[tuple[str, str], tuple[list[int], list[float], list[float]]] = {}
        self.points = 0
        self.other: dict[str, list[dict[str, Any]]] = {"plots": [], "console": []}
        self.last_iteration = 0
        self.counts = {"scalars": 0, "histograms": 0, "texts": 0}

    def add(self, point: Point) -> None:
        self.last_iteration = max(self.last_iteration, point.step)
        title, series = _split(point.tag)
        if point.kind == "scalar":
            cols = self.series.setdefault((title, series), ([], [], []))
            cols[0].append(point.step)
            cols[1].append(point.value)
            cols[2].append(point.wall_time)
            self.points += 1
            self.counts["scalars"] += 1
            if self.points >= BATCH_POINTS:
                self.flush()
        elif point.kind == "histogram":
            limits, counts = point.value
            self.other["plots"].append({
                "metric": title, "variant": series, "iteration": point.step,
                "figure": _histogram_figure(title, series, limits, counts),
                "timestamp": point.wall_time})
            self.counts["histograms"] += 1
        elif point.kind == "text":
            self.other["console"].append({
                "stream": "stdout", "text": f"{point.tag} [{point.step}]: {point.value}",
                "timestamp": point.wall_time})
            self.counts["texts"] += 1
        if len(self.other["plots"]) + len(self.other["console"]) >= 200:
            self.flush()

    def flush(self) -> None:
        scalars = [{"metric": m, "variant": v, "iterations": its, "values": vals,
                    "timestamps": stamps} for (m, v), (its, vals, stamps) in self.series.items()]
        other = {k: v for k, v in self.other.items() if v}
        if not scalars and not other:
            return
        batch: dict[str, Any] = {"batch_id": uuid.uuid4().hex, "scalars": scalars,
                                 "last_iteration": self.last_iteration, **other}
        self.session.post(self.path, batch)
        self.series = {}
        self.points = 0
        self.other = {"plots": [], "console": []}


@import_app.command("tensorboard")
@handle_errors
def tensorboard(
    directory: str = typer.Argument(..., metavar="DIR",
                                     help="A folder of TensorBoard event files (searched "
                                          "recursively; each folder of files is one run), "
                                          "or one event file."),
    project: str = typer.Option(DEFAULT_PROJECT, "--project", help="Project of new tasks."),
    name: str = typer.Option(None, "--name",
                             help="Task name (default: the run's folder; with several runs "
                                  "each task is 'NAME RUN')."),
    task_id: str = typer.Option(None, "--task", help="Report every run into this task."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Report the scalars, histograms and texts of existing TensorBoard event files into Arno
    tasks. A record failing its checksum is skipped with a warning; a file cut short is an
    error naming the file and the offset."""
    root = Path(directory).expanduser()
    if not root.exists():
        raise InvalidInput(f"{root} does not exist")
    runs = _runs(root)
    if not runs:
        raise InvalidInput(f"no TensorBoard event files (*tfevents*) under {root}")
    for files in runs.values():  # a broken file fails the import before any task is made
        for path in files:
            check_framing(path)
    rows: list[dict[str, Any]] = []
    total = sum(len(files) for files in runs.values())
    with api() as session, Progress(TextColumn("{task.description}"), BarColumn(),
                                    MofNCompleteColumn(), console=err_console,
                                    transient=True,
                                    disable=as_json or not err_console.is_terminal) as bar:
        client = TaskClient(session)
        job = bar.add_task("importing event files", total=total)
        target = client.get(task_id) if task_id else None
        for run, files in runs.items():
            if target is not None:
                info = target
            else:
                title = name if name and len(runs) == 1 else (f"{name} {run}" if name else run)
                info = client.create({"project": project, "name": title, "type": "training",
                                      "tags": ["tensorboard"], "status": "in_progress"})
            sender = _Sender(session, info["id"])
            report = ReadReport()
            for path in files:
                bar.update(job, description=f"importing {path.name}")
                for point in points(path, report):
                    sender.add(point)
                sender.flush()
                bar.advance(job)
            if target is None:
                client.set_status(info["id"], "completed")
            for path, offset in report.skipped:
                say(f"warning: {path}: record at offset {offset} fails its checksum; skipped",
                    err=True)
            rows.append({"task": info["id"], "name": info["name"], "files": len(files),
                         **sender.counts, "skipped": len(report.skipped)})
    if as_json:
        render(rows, COLUMNS, as_json=True)
        return
    render(rows, COLUMNS, as_json=False)
    say(f"imported {total} event file(s) into {len({r['task'] for r in rows})} task(s)",
        err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app)
