"""The dataset benchmark still runs: ``bench/bench_datasets.py --small`` starts its real Arno
server (and moto S3, PostgreSQL for the second variant), versions its data with our SDK and,
when DVC is installed (``$ARNO_BENCH_DVC``), with DVC, and prints its five
``name: ours X, peer Y, ratio Z`` lines. The figures are not judged here, except that a 1 MiB
edit inside a 10 MiB file must not store the whole file again."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
NUMBER = r"[0-9][0-9.e+-]*"
LINE = re.compile(rf"^(?P<name>\w+): ours (?P<ours>{NUMBER}), peer (?P<peer>{NUMBER}|n/a), "
                  rf"ratio (?P<ratio>{NUMBER}|n/a)\b", re.M)
FIGURES = ["create_upload_v1_s", "child_1pct_changed_s", "fresh_get_local_copy_s",
           "1mib_edit_stored_growth_mib", "v1_stored_per_unique_byte"]


def _dvc(s3: bool) -> str | None:
    spec = importlib.util.spec_from_file_location("_bench_dvc", BENCH / "_dvc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    exe, _why = module.dvc_executable(s3=s3)
    return exe


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("variant", [[], ["--s3", "--postgres"]], ids=["local", "s3-postgres"])
def test_dataset_benchmark_prints_its_figures(variant: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    if "--postgres" in variant:
        pg = os.environ.get("ARNO_TEST_POSTGRES_URL")
        if not pg:
            pytest.skip("ARNO_TEST_POSTGRES_URL is not set: the PostgreSQL variant needs a server")
        env["ARNO_TEST_POSTGRES_URL"] = pg
    if "ARNO_BENCH_DVC" in os.environ:
        env["ARNO_BENCH_DVC"] = os.environ["ARNO_BENCH_DVC"]
    peer = _dvc(s3="--s3" in variant) is not None
    argv = [sys.executable, str(BENCH / "bench_datasets.py"), "--small", *variant]
    if not peer:
        argv.append("--no-peer")
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=840)
    out = proc.stdout
    assert proc.returncode == 0, f"failed:\n{out}\n{proc.stderr[-4000:]}"

    prefix = "dataset_" + ("s3_pg_" if variant else "")
    lines = {m["name"]: m for m in LINE.finditer(out)}
    assert sorted(lines) == sorted(prefix + f for f in FIGURES), out
    for m in lines.values():
        assert float(m["ours"]) >= 0, out
        if peer:
            assert float(m["peer"]) >= 0 and m["ratio"] != "n/a", out
        else:
            assert m["peer"] == "n/a" and m["ratio"] == "n/a", out
    assert float(lines[prefix + "1mib_edit_stored_growth_mib"]["ours"]) < 10, out
