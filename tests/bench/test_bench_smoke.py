"""Every benchmark in bench/ still runs: each script, with ``--quick`` and without the MLflow
peer, starts its real servers and clients and prints its ``name: ours X, peer Y, ratio Z``
lines. (The figures themselves are not checked here, only that they come out, except that the
durability run must lose nothing.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
LINE = re.compile(r"^(?P<name>\w+): ours (?P<ours>\S+), peer n/a, ratio n/a\b", re.M)

EXPECTED = {
    "bench_ingest.py": ["ingest_points_per_s"],
    "bench_report_call.py": ["report_scalar_median_us", "report_scalar_p99_us"],
    "bench_history.py": ["history_10k_sdk_ms", "history_10k_raw_get_ms"],
    "bench_tasks.py": ["create_tasks_per_s", "list_5k_sorted_by_metric_ms"],
    "bench_idle.py": ["idle_rss_mb_after_1s", "start_to_healthy_fresh_s",
                      "start_to_healthy_second_s"],
    "bench_durability.py": ["durability_points_lost", "durability_points_duplicated",
                            "durability_points_wrong_value"],
}


def _run(script: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARNO_", "MLFLOW_"))}
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--no-peer"],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_benchmark_prints_its_figures(script: str) -> None:
    out = _run(script)
    figures = {m["name"]: m["ours"] for m in LINE.finditer(out)}
    assert sorted(figures) == sorted(EXPECTED[script]), out
    for name, value in figures.items():
        assert value != "n/a" and float(value) >= 0, (name, out)
    if script == "bench_durability.py":
        assert all(float(v) == 0 for v in figures.values()), out
