"""Reading back a 100k-point metric history.

Ours: a task with one 100k-point series (reported with the SDK and flushed), then, from another
process, ``Task.get_task(task_id=...).get_reported_scalars()`` (every point, no thinning) and the
raw ``GET /api/v1/tasks/{id}/scalars?metric=..&variant=..`` with httpx (response parsed).
Peer: the same points as rows of its ``metrics`` table (inserted straight into its SQLite
database, as ``log_batch`` would store them: logging 100k points through its API takes minutes
here), read with ``MlflowClient().get_metric_history``.
Each figure is the median of several reads (the first read is shown too).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

WRITE = """
import json, sys
args = json.loads(sys.argv[1])
from arno import Task

task = Task.init(project_name="bench", task_name="history")
log = task.get_logger()
for it in range(args["points"]):
    log.report_scalar("loss", "train", it * 0.5, it)
ok = task.flush(wait_for_uploads=True)
task.close()
json.dump({"task_id": task.id, "flushed": ok}, open(sys.argv[2], "w"))
"""

READ = """
import json, statistics, sys, time
args = json.loads(sys.argv[1])
import httpx
from arno import Task
from arno.client import load_config

n = args["points"]
task = Task.get_task(task_id=args["task_id"])
sdk = []
for _ in range(args["repeat"]):
    t0 = time.perf_counter()
    data = task.get_reported_scalars()
    sdk.append(time.perf_counter() - t0)
    ys = data["loss"]["train"]["y"]
    assert len(ys) == n and ys[-1] == (n - 1) * 0.5, (len(ys), ys[-1])

cfg = load_config()
raw = []
with httpx.Client(base_url=cfg.host, auth=(cfg.access_key, cfg.secret_key), timeout=60) as http:
    for _ in range(args["repeat"]):
        t0 = time.perf_counter()
        resp = http.get(f"/api/v1/tasks/{task.id}/scalars",
                        params={"metric": "loss", "variant": "train"})
        body = resp.json()
        raw.append(time.perf_counter() - t0)
        assert resp.status_code == 200 and len(body[0]["x"]) == n
json.dump({"sdk": sdk, "raw": raw, "bytes": len(resp.content)}, open(sys.argv[2], "w"))
"""

PEER = """
import json, sys, time
args = json.loads(sys.argv[1])
from mlflow import MlflowClient
from mlflow.entities import Metric
import sqlalchemy as sa

n = args["points"]
client = MlflowClient()
run = client.create_run(client.create_experiment("bench-history"))
rid = run.info.run_id
ts = int(time.time() * 1000)
client.log_batch(rid, metrics=[Metric("loss", it * 0.5, ts + it, it) for it in range(1000)])
t0 = time.perf_counter()
engine = sa.create_engine(args["db_uri"])
metrics = sa.Table("metrics", sa.MetaData(), autoload_with=engine)
with engine.begin() as conn:
    conn.execute(metrics.insert(), [
        {"key": "loss", "value": it * 0.5, "timestamp": ts + it, "step": it, "is_nan": False,
         "run_uuid": rid} for it in range(1000, n)])
    conn.execute(sa.text("UPDATE latest_metrics SET value = :v, timestamp = :t, step = :s "
                         "WHERE run_uuid = :r AND key = 'loss'"),
                 {"v": (n - 1) * 0.5, "t": ts + n - 1, "s": n - 1, "r": rid})
engine.dispose()
write = time.perf_counter() - t0
reads = []
for _ in range(args["repeat"]):
    t0 = time.perf_counter()
    hist = client.get_metric_history(rid, "loss")
    reads.append(time.perf_counter() - t0)
    assert len(hist) == n, len(hist)
json.dump({"reads": reads, "write": write}, open(sys.argv[2], "w"))
"""


def main() -> None:
    import statistics

    args = c.parser(__doc__.splitlines()[0]).parse_args()
    points = 10_000 if args.quick else 100_000
    repeat = 3 if args.quick else 7
    peer_py = c.peer_or_none(args)
    c.machine_note()
    with c.workdir("history") as tmp:
        with c.arno_server(tmp) as srv:
            env = srv.client_env(tmp / "client")
            w = c.run_client(sys.executable, WRITE, env, {"points": points}, cwd=tmp)
            if not w["flushed"]:
                raise SystemExit("ours: the points were not stored")
            r = c.run_client(sys.executable, READ, env,
                             {"points": points, "task_id": w["task_id"], "repeat": repeat},
                             cwd=tmp)
        p = None
        if peer_py:
            with c.mlflow_server(tmp, peer_py) as ml:
                p = c.run_client(peer_py, PEER, ml.client_env(),
                                 {"points": points, "repeat": 1 if args.quick else 3,
                                  "db_uri": f"sqlite:///{ml.root / 'mlflow.db'}"}, cwd=tmp)
    peer_ms = statistics.median(p["reads"]) * 1000 if p else None
    sdk_ms = statistics.median(r["sdk"]) * 1000
    raw_ms = statistics.median(r["raw"]) * 1000
    c.report(f"history_{points // 1000}k_sdk_ms", sdk_ms, peer_ms, higher_is_better=False)
    c.report(f"history_{points // 1000}k_raw_get_ms", raw_ms, peer_ms, higher_is_better=False)
    c.info(f"ours: median of {repeat} reads (first read: sdk {r['sdk'][0] * 1000:.0f} ms, raw "
           f"{r['raw'][0] * 1000:.0f} ms), response {r['bytes'] / 1e6:.1f} MB; target < 150 ms")
    if p:
        c.info(f"peer: median of {len(p['reads'])} get_metric_history reads (1k points "
               f"logged with log_batch, the rest inserted in {p['write']:.1f} s)")


if __name__ == "__main__":
    main()
