"""TensorBoard's SummaryWriter (tensorboardX, torch.utils.tensorboard) mirrored into the task:
a training script calls the writer after ``Task.init`` in a process of its own; the server
then holds the scalars, histograms, images, texts and hparams, and the writer still wrote its
own event files."""

from __future__ import annotations

import importlib.util

import pytest
from tests.sdk.frameworks.fw_scripts import params_of, run_script, scalars_of, task_id_of

pytest.importorskip("tensorboardX", reason="tensorboardX is not installed")

WRITER_SCRIPT = """
import numpy as np
from arno import Task

task = Task.init(project_name="frameworks/tensorboard", task_name="{name}",
                 auto_resource_monitoring=False, auto_connect_frameworks={frameworks})
from {module} import SummaryWriter

writer = SummaryWriter("{logdir}")
for step in range(5):
    writer.add_scalar("loss/train", 1.0 / (step + 1), step)
    writer.add_scalars("acc", {{"train": 0.5 + step / 10, "val": 0.4 + step / 10}}, step)
    writer.add_scalar("lr", 0.1)  # no step: the writer's own count
writer.add_histogram("weights/layer1", np.random.default_rng(0).normal(size=1000), 3)
writer.add_image("samples/digit", np.full((3, 8, 8), 0.5, dtype=np.float32), 2)
writer.add_images("batch", np.zeros((2, 3, 4, 4), dtype=np.float32), 1)
writer.add_text("notes", "first epoch done", 1)
{figure}writer.add_hparams({{"lr": 0.1, "optimizer": "adam"}}, {{"hparam/accuracy": 0.9}})
writer.close()
print("TASK_ID", task.id)
"""

FIGURE = """\
from matplotlib.figure import Figure
fig = Figure(figsize=(2, 2))
fig.add_subplot().plot([0, 1, 2], [2, 1, 3])
writer.add_figure("curves/fit", fig, 4)
"""

WRITERS = [
    pytest.param("tensorboardX", "tensorboardx", id="tensorboardX"),
    pytest.param("torch.utils.tensorboard", "tensorboard", id="torch",
                 marks=pytest.mark.skipif(
                     importlib.util.find_spec("torch") is None
                     or importlib.util.find_spec("tensorboard") is None,
                     reason="torch.utils.tensorboard needs torch and the tensorboard package")),
]


@pytest.fixture
def api(sqlite_server):
    with sqlite_server.client() as client:
        yield client


@pytest.mark.parametrize(("module", "framework"), WRITERS)
def test_writer_calls_are_mirrored(sqlite_server, api, tmp_path, module, framework):
    logdir = tmp_path / "runs" / "exp1"
    proc = run_script(sqlite_server, tmp_path, WRITER_SCRIPT.format(
        name=f"{framework} mirror", frameworks="True", module=module, logdir=logdir,
    figure=FIGURE if importlib.util.find_spec("matplotlib") else ""))
    assert proc.returncode == 0, proc.stderr
    tid = task_id_of(proc)
    assert any("tfevents" in p.name for p in logdir.rglob("*")), "the writer wrote no file"

    scalars = scalars_of(api, tid)
    assert scalars[("loss", "train")] == {i: pytest.approx(1.0 / (i + 1)) for i in range(5)}
    assert scalars[("acc", "train")][4] == pytest.approx(0.9)
    assert scalars[("acc", "val")][0] == pytest.approx(0.4)
    assert sorted(scalars[("lr", "lr")]) == [0, 1, 2, 3, 4]
    assert scalars[("hparam", "accuracy")] == {0: pytest.approx(0.9)}

    plots = api.get(f"/api/v1/tasks/{tid}/plots").json()
    hist = [p for p in plots if p["metric"] == "weights" and p["variant"] == "layer1"]
    assert hist and hist[0]["iteration"] == 3
    assert sum(hist[0]["figure"]["data"][0]["y"]) == 1000

    samples = api.get(f"/api/v1/tasks/{tid}/debug_samples").json()
    found = {(s["metric"], s["variant"], s["iteration"]) for s in samples}
    assert ("samples", "digit", 2) in found
    assert ("batch", "batch", 1) in found
    if importlib.util.find_spec("matplotlib"):
        assert ("curves", "fit", 4) in found  # add_figure goes through add_image

    lines = [c["text"] for c in api.get(f"/api/v1/tasks/{tid}/console",
                                        params={"limit": 1000}).json()]
    assert any("notes [1]: first epoch done" in line for line in lines), lines

    params = params_of(api, tid)
    assert params["TB_hparams/lr"] == "0.1"
    assert params["TB_hparams/optimizer"] == "adam"


def test_capture_off_through_auto_connect_frameworks(sqlite_server, api, tmp_path):
    logdir = tmp_path / "runs" / "off"
    proc = run_script(sqlite_server, tmp_path, WRITER_SCRIPT.format(
        name="tb off", frameworks='{"tensorboardx": False}', module="tensorboardX",
        logdir=logdir, figure=""))
    assert proc.returncode == 0, proc.stderr
    tid = task_id_of(proc)
    assert any("tfevents" in p.name for p in logdir.rglob("*"))
    assert scalars_of(api, tid) == {}
    assert api.get(f"/api/v1/tasks/{tid}/debug_samples").json() == []
    assert not [k for k in params_of(api, tid) if k.startswith("TB_hparams/")]
