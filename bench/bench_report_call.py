"""Cost of one ``Logger.report_scalar`` call in the calling thread (the training loop).

Ours: 200k calls against a live server, each timed on its own with ``perf_counter_ns``; the
timer's own cost (median of back-to-back reads) is subtracted. The background sender runs as
usual, so its batches (and the GIL it takes to encode them) show in the tail.
Peer: MLflow's ``mlflow.log_metric`` (synchronous, the default), 300 calls timed the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

TIMING = """
import statistics, time

def measure(call, n):
    pc = time.perf_counter_ns
    over = []
    for _ in range(min(n, 20000)):
        a = pc(); b = pc(); over.append(b - a)
    overhead = statistics.median(over)
    costs = [0] * n
    for i in range(n):
        a = pc(); call(i); b = pc()
        costs[i] = b - a
    costs = sorted(max(0.0, x - overhead) for x in costs)
    return {"median_us": costs[n // 2] / 1000, "p99_us": costs[min(n - 1, n * 99 // 100)] / 1000,
            "mean_us": sum(costs) / n / 1000, "overhead_ns": overhead, "calls": n}
"""

OURS = TIMING + """
import json, sys
args = json.loads(sys.argv[1])
from arno import Task

task = Task.init(project_name="bench", task_name="report-call")
log = task.get_logger()
for i in range(1000):  # warm-up
    log.report_scalar("warmup", "train", 0.5, i)
out = measure(lambda i: log.report_scalar("loss", "train", i * 0.001, i), args["calls"])
out["flushed"] = task.flush(wait_for_uploads=True)
task.close()
json.dump(out, open(sys.argv[2], "w"))
"""

PEER = TIMING + """
import json, sys
args = json.loads(sys.argv[1])
import mlflow

mlflow.set_experiment("bench-report-call")
with mlflow.start_run():
    for i in range(10):  # warm-up
        mlflow.log_metric("warmup", 0.5, step=i)
    out = measure(lambda i: mlflow.log_metric("loss", i * 0.001, step=i), args["calls"])
json.dump(out, open(sys.argv[2], "w"))
"""


def main() -> None:
    args = c.parser(__doc__.splitlines()[0]).parse_args()
    calls, peer_calls = (20_000, 50) if args.quick else (200_000, 300)
    peer_py = c.peer_or_none(args)
    c.machine_note()
    with c.workdir("report-call") as tmp:
        with c.arno_server(tmp) as srv:
            r = c.run_client(sys.executable, OURS, srv.client_env(tmp / "client"),
                             {"calls": calls}, cwd=tmp)
        p = None
        if peer_py:
            with c.mlflow_server(tmp, peer_py) as ml:
                p = c.run_client(peer_py, PEER, ml.client_env(), {"calls": peer_calls}, cwd=tmp)
    c.report("report_scalar_median_us", r["median_us"], p and p["median_us"],
             higher_is_better=False)
    c.report("report_scalar_p99_us", r["p99_us"], p and p["p99_us"], higher_is_better=False)
    c.info(f"ours: {calls:,} calls, mean {r['mean_us']:.2f} us, timer overhead "
           f"{r['overhead_ns']:.0f} ns subtracted; peer: {peer_calls} synchronous calls; "
           "target median <= 5 us")


if __name__ == "__main__":
    main()
