"""Matplotlib figures shown or saved by a training script become plots of its task, with the
iteration of the reporting context; the script runs in a process of its own against the live
server, under the non-interactive Agg backend (where ``plt.show()`` itself draws nothing)."""

from __future__ import annotations

import pytest
from tests.sdk.test_user_scripts import run_script

pytest.importorskip("matplotlib", reason="matplotlib is not installed")

SCRIPT = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from arno import Task

task = Task.init(project_name="frameworks/matplotlib", task_name="{name}",
                 auto_resource_monitoring=False, auto_connect_frameworks={frameworks})
logger = task.get_logger()
for it in range(3):
    logger.report_scalar("loss", "train", 1.0 / (it + 1), iteration=it)
    plt.figure(1)
    plt.clf()
    plt.plot([0, 1, 2], [0, it, 2 * it])
    plt.title("training curve")
    plt.show()
    plt.show()  # the same figure at the same iteration: one plot

fig, ax = plt.subplots()
fig.suptitle("confusion")
ax.imshow([[1, 2], [3, 4]])
fig.savefig("confusion.png")
assert plt.get_fignums() == [1, 2]  # reporting closed no figure of the user's
plain = plt.figure()
plain.add_subplot().bar(["a", "b"], [1, 2])
plain.savefig("plain.png")
print("TASK_ID", task.id)
"""


@pytest.fixture
def api(sqlite_server):
    with sqlite_server.client() as client:
        yield client


def _run(live, tmp_path, name: str, frameworks: object = True) -> str:
    proc = run_script(live, tmp_path, SCRIPT.format(name=name, frameworks=frameworks))
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("TASK_ID "))
    return line.split()[1]


def test_shown_and_saved_figures_become_plots(sqlite_server, api, tmp_path):
    tid = _run(sqlite_server, tmp_path, "figures")
    plots = api.get(f"/api/v1/tasks/{tid}/plots").json()
    found = sorted((p["metric"], p["variant"], p["iteration"]) for p in plots)
    assert found == sorted([
        ("training curve", "Figure 1", 0),
        ("training curve", "Figure 1", 1),
        ("training curve", "Figure 1", 2),
        ("confusion", "Figure 2", 2),
        ("Figure 3", "Figure 3", 2),
    ]), found
    assert all(p["figure"] for p in plots)
    assert (tmp_path / "confusion.png").is_file()  # savefig still wrote the user's file
    # a line chart converts to an interactive plot: its points are the figure's
    last = next(p for p in plots if p["metric"] == "training curve" and p["iteration"] == 2)
    traces = last["figure"].get("data") or []
    assert any(list(t.get("y") or []) == [0, 2, 4] for t in traces), traces
    # a picture (imshow) is reported as the PNG, which plotly's converter would drop
    confusion = next(p for p in plots if p["metric"] == "confusion")
    source = confusion["figure"]["layout"]["images"][0]["source"]
    png = api.get(source)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_matplotlib_turned_off_reports_nothing(sqlite_server, api, tmp_path):
    tid = _run(sqlite_server, tmp_path, "figures off", {"matplotlib": False})
    assert api.get(f"/api/v1/tasks/{tid}/plots").json() == []
    assert (tmp_path / "plain.png").is_file()
