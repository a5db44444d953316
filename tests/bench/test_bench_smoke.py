"""Every benchmark in bench/ still runs: each script, with ``--quick`` and without the MLflow
peer, starts its real servers, agents and clients and prints its
``name: ours X, peer Y, ratio Z`` lines. (The figures themselves are not checked here, only
that they come out, except that the durability run must lose nothing.) One script also runs
with its peer in its quick size: ``bench_load.py --quick`` against MLflow's server, from a
cached virtual environment made with ``uv`` when there is none (``bench_datasets.py`` has its
own test, with DVC when it is there)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
LINE = re.compile(r"^(?P<name>\w+): ours (?P<ours>\S+), peer n/a, ratio n/a\b", re.M)
NUMBER = r"[0-9][0-9.e+-]*"
PEER_LINE = re.compile(rf"^(?P<name>\w+): ours (?P<ours>{NUMBER}), peer (?P<peer>{NUMBER}|n/a), "
                       rf"ratio (?P<ratio>{NUMBER}|n/a)\b", re.M)
POSTGRES_URL = os.environ.get("ARNO_TEST_POSTGRES_URL")

LOAD = ["load_scalar_points_per_s", "load_scalar_batch_p50_ms", "load_scalar_batch_p99_ms",
        "load_enqueue_to_agent_p50_ms", "load_enqueue_to_agent_p99_ms", "load_ui_table_p50_ms",
        "load_ui_table_p99_ms"]


def _browser() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return Path("/usr/bin/chromium").exists()


EXPECTED = {
    "bench_ingest.py": ["ingest_points_per_s"],
    "bench_report_call.py": ["report_scalar_median_us", "report_scalar_p99_us"],
    "bench_history.py": ["history_10k_sdk_ms", "history_10k_raw_get_ms"],
    "bench_tasks.py": ["create_tasks_per_s", "create_tasks_batch_per_s",
                       "list_5k_sorted_by_metric_ms"],
    "bench_sdk.py": ["sdk_import_ms", "sdk_import_vs_mlflow_ms", "task_init_laptop_ms",
                     "task_init_under_agent_ms", "enqueue_to_first_line_after_task_init_p50_ms"],
    "bench_idle.py": ["idle_rss_mb_after_1s", "start_to_healthy_fresh_s",
                      "start_to_healthy_second_s"],
    "bench_durability.py": ["durability_points_lost", "durability_points_duplicated",
                            "durability_points_wrong_value"],
    "bench_agent.py": ["agent_enqueue_to_child_started_p50_ms",
                       "agent_warm_enqueue_to_first_output_line_p50_s",
                       "dequeue_tasks_per_s_8_agents_postgresql"],
    "bench_ui.py": ["ui_table_100k_sorted_by_metric_tag_filter_ms",
                    "api_tasks_100k_sorted_by_metric_tag_filter_ms",
                    "ui_table_100k_two_column_filters_sorted_by_duration_ms",
                    "ui_scalars_tab_20x100k_ms", "ui_compare_10_tasks_x_10_metrics_ms",
                    *(["ui_table_first_contentful_paint_ms"] if _browser() else [])],
    "bench_autolog.py": ["autolog_tensorboard_overhead_pct", "autolog_tensorboard_loop_s",
                         "autolog_tensorboard_close_s"],
    "bench_load.py": LOAD + ([name.replace("load_", "load_pg_", 1) for name in LOAD]
                             if POSTGRES_URL else []),
}
NEEDS_POSTGRES = {"bench_agent.py"}  # its dequeue throughput runs on PostgreSQL only


def test_every_benchmark_script_is_smoke_tested() -> None:
    scripts = {p.name for p in BENCH.glob("bench_*.py")} - {"bench_datasets.py"}
    assert scripts == set(EXPECTED), "a bench script without a smoke test (or the reverse)"
    assert (BENCH.parent / "tests" / "bench" / "test_bench_datasets.py").exists()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARNO_", "MLFLOW_"))}
    if POSTGRES_URL:
        env["ARNO_TEST_POSTGRES_URL"] = POSTGRES_URL
    env.update(extra)
    return env


def _run(script: str, *args: str, env: dict[str, str] | None = None,
         timeout: float = 500) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *args],
        env=env or _env(), capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_benchmark_prints_its_figures(script: str) -> None:
    if script in NEEDS_POSTGRES and not POSTGRES_URL:
        pytest.skip(f"ARNO_TEST_POSTGRES_URL is not set: {script} needs PostgreSQL")
    out = _run(script, "--no-peer")
    figures = {m["name"]: m["ours"] for m in LINE.finditer(out)}
    assert sorted(figures) == sorted(EXPECTED[script]), out
    for name, value in figures.items():
        assert value != "n/a" and float(value) >= 0, (name, out)
    if script == "bench_durability.py":
        assert all(float(v) == 0 for v in figures.values()), out


# ---- one benchmark against its peer -------------------------------------------------------


def _mlflow_python() -> str:
    """MLflow's interpreter, as the benchmarks find or make it (``$ARNO_BENCH_MLFLOW_PYTHON``,
    else a venv of their own under the user's cache directory, made once)."""
    sys.path.insert(0, str(BENCH))
    try:
        import _common
    finally:
        sys.path.remove(str(BENCH))
    python = _common.mlflow_python()
    if python is None:
        pytest.skip("MLflow could not be installed for the peer run (see the output above)")
    return python


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_load_benchmark_runs_against_its_peer() -> None:
    """bench_load.py --quick with MLflow's server under the same scalar load: the scalar
    figures carry a peer value and a ratio, the others say n/a."""
    python = _mlflow_python()
    env = _env(ARNO_BENCH_MLFLOW_PYTHON=python)
    env.pop("ARNO_TEST_POSTGRES_URL", None)  # SQLite only: the peer is what is tested here
    out = _run("bench_load.py", env=env, timeout=800)
    lines = {m["name"]: m for m in PEER_LINE.finditer(out)}
    assert sorted(lines) == sorted(LOAD), out
    for name, m in lines.items():
        assert float(m["ours"]) >= 0, out
        with_peer = name.startswith("load_scalar_")
        assert (m["peer"] != "n/a") == with_peer and (m["ratio"] != "n/a") == with_peer, out
