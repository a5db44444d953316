"""The README's five-minute tour, run against a live server on both databases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from arno import Task


def test_tour(server, sdk):
    task = Task.init(project_name="parking/forecast", task_name="lstm baseline", tags=["lstm"],
                     auto_resource_monitoring=False)
    params = {"epochs": 10, "lr": 1e-3, "layers": {"hidden": 64}}
    params = task.connect(params)
    assert params == {"epochs": 10, "lr": 1e-3, "layers": {"hidden": 64}}
    cfg = task.connect_configuration({"scaler": "minmax"}, name="preprocessing")
    assert cfg == {"scaler": "minmax"}
    log = task.get_logger()
    for it in range(1000):
        log.report_scalar("loss", "train", value=1 / (it + 1), iteration=it)
    log.report_scalar("weird", "nan", value=math.nan, iteration=0)
    log.report_scalar("weird", "inf", value=math.inf, iteration=0)
    log.report_single_value("test_mae", 3.2)
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 0.25, 0.125]})
    log.report_table("sample", "head", table_plot=frame)
    log.report_histogram("hist", "h", values=[1, 2, 3])
    log.report_confusion_matrix("cm", "cm", matrix=[[1, 2], [3, 4]])
    log.report_image("predictions", "batch0", iteration=0, image=np.zeros((8, 8, 3), np.uint8))
    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    task.upload_artifact("features", artifact_object=features)
    print("hello from the tour")
    assert task.flush(wait_for_uploads=True)
    task.mark_completed()

    again = Task.get_task(task_id=task.id)
    assert again.status == "completed"
    by_name = Task.get_task(project_name="parking/forecast", task_name="lstm baseline")
    assert by_name.id == task.id
    flat = again.get_parameters()
    assert flat["General/epochs"] == "10"
    assert flat["General/layers/hidden"] == "64"
    assert again.get_parameter("General/lr") == "0.001"
    last = again.get_last_scalar_metrics()
    assert last["loss"]["train"]["last"] == pytest.approx(1 / 1000)
    assert last["loss"]["train"]["max"] == 1.0
    assert math.isnan(last["weird"]["nan"]["last"])
    assert last["weird"]["inf"]["last"] == math.inf
    scalars = again.get_reported_scalars()
    assert scalars["loss"]["train"]["x"] == list(range(1000))
    assert again.get_reported_single_values() == {"test_mae": 3.2}
    assert np.array_equal(again.artifacts["features"].get(), features)
    assert again.get_reported_console_output(50)[-1:] != []
    assert any("hello from the tour" in line
               for line in again.get_reported_console_output(100))
    tasks = Task.get_tasks(project_name="parking/forecast", task_name="lstm.*", tags=["lstm"])
    assert task.id in [t.id for t in tasks]
