"""End-to-end ingest of 1M scalar points from one script.

Ours: ``Task.init``, ``report_scalar`` over 10 series x 100k iterations, then
``task.flush(wait_for_uploads=True)``; timed from the first report to the return of flush, so the
figure includes sending, validating and committing every point to SQLite.
Peer: MLflow ``log_batch`` with 1000 metrics per call (its maximum), the same points in the same
order; when that would take over the time budget, the rate of the points sent in the budget.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

OURS = """
import json, sys, time
args = json.loads(sys.argv[1])
from arno import Task

task = Task.init(project_name="bench", task_name="ingest")
log = task.get_logger()
names = [f"s{i}" for i in range(args["series"])]
c0 = time.process_time()
t0 = time.perf_counter()
for it in range(args["iterations"]):
    v = it * 0.001
    for name in names:
        log.report_scalar("loss", name, v, it)
t_loop = time.perf_counter()
ok = task.flush(wait_for_uploads=True)
t1 = time.perf_counter()
c1 = time.process_time()
stored = sum(m["count"] for m in task._session.get(f"tasks/{task.id}/metrics")
             if m["metric"] == "loss")
task.close()
json.dump({"seconds": t1 - t0, "loop_seconds": t_loop - t0, "flushed": ok,
           "stored": stored, "cpu": c1 - c0}, open(sys.argv[2], "w"))
"""

PEER = """
import json, sys, time
args = json.loads(sys.argv[1])
from mlflow import MlflowClient
from mlflow.entities import Metric

client = MlflowClient()
exp = client.create_experiment("bench-ingest")
run = client.create_run(exp)
rid = run.info.run_id
names = [f"s{i}" for i in range(args["series"])]
total = args["series"] * args["iterations"]
budget = args["budget"]
sent = 0
batch = []
t0 = time.perf_counter()
for it in range(args["iterations"]):
    v = it * 0.001
    ts = int(time.time() * 1000)
    for name in names:
        batch.append(Metric(name, v, ts, it))
    if len(batch) >= 1000:
        client.log_batch(rid, metrics=batch)
        sent += len(batch)
        batch = []
        if time.perf_counter() - t0 > budget:
            break
if batch:
    client.log_batch(rid, metrics=batch)
    sent += len(batch)
t1 = time.perf_counter()
client.set_terminated(rid)
json.dump({"seconds": t1 - t0, "sent": sent, "total": total}, open(sys.argv[2], "w"))
"""


def main() -> None:
    args = c.parser(__doc__.splitlines()[0]).parse_args()
    series, iterations = (10, 5_000) if args.quick else (10, 100_000)
    total = series * iterations
    peer_py = c.peer_or_none(args)
    c.machine_note()
    with c.workdir("ingest") as tmp:
        with c.arno_server(tmp) as srv:
            cpu0 = c.cpu_seconds(srv.proc.pid)
            r = c.run_client(sys.executable, OURS, srv.client_env(tmp / "client"),
                             {"series": series, "iterations": iterations}, cwd=tmp)
            server_cpu = c.cpu_seconds(srv.proc.pid) - cpu0
        if not r["flushed"] or r["stored"] != total:
            raise SystemExit(f"ours stored {r['stored']} of {total} points "
                             f"(flushed={r['flushed']})")
        ours = total / r["seconds"]
        peer = None
        note = ""
        if peer_py:
            with c.mlflow_server(tmp, peer_py) as ml:
                p = c.run_client(peer_py, PEER, ml.client_env(),
                                 {"series": series, "iterations": iterations,
                                  "budget": 15 if args.quick else 60}, cwd=tmp)
            peer = p["sent"] / p["seconds"]
            if p["sent"] < total:
                note = (f"peer rate over the {p['sent']:,} of {total:,} points it sent in "
                        f"{p['seconds']:.0f} s")
    c.report("ingest_points_per_s", ours, peer, higher_is_better=True, note=note)
    c.info(f"ours: {total:,} points in {r['seconds']:.2f} s (report loop "
           f"{r['loop_seconds']:.2f} s, then flush until stored); CPU: client {r['cpu']:.2f} s "
           f"while timed, server {server_cpu:.2f} s; target >= 150000 points/s and >= 20x MLflow")


if __name__ == "__main__":
    main()
