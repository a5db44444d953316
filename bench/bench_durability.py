"""Durability: ``kill -9`` the server while a script reports 1M points; nothing is lost or doubled.

A script reports 10 series x 100k iterations of known values (``s * 1e6 + iteration + 0.25``),
paced over about 10 s as a training loop would. When the server has stored about 30 % of the
points, it is killed with SIGKILL, and restarted 2 s later on the same port and ``ARNO_HOME``.
Meanwhile the script's reporter retries, then spools batches to disk; at the end the script calls
``task.flush(wait_for_uploads=True)`` until it reports everything stored. Then every series is
read back through the API: each must hold every iteration exactly once with its exact value, and
the server's own point count per series must equal the iterations (a batch stored twice would
show there).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

CLIENT = """
import json, sys, time
from pathlib import Path
args = json.loads(sys.argv[1])
from arno import Task

task = Task.init(project_name="bench", task_name="durability")
Path(args["id_file"]).write_text(task.id)
log = task.get_logger()
names = [f"s{i}" for i in range(args["series"])]
n = args["iterations"]
per_s = args["series"] * n / args["seconds"]
t0 = time.perf_counter()
done = 0
for it in range(n):
    for s, name in enumerate(names):
        log.report_scalar("value", name, s * 1_000_000 + it + 0.25, it)
    done += len(names)
    if it % 100 == 99:
        ahead = done / per_s - (time.perf_counter() - t0)
        if ahead > 0:
            time.sleep(ahead)
t_loop = time.perf_counter() - t0
flushes = 0
deadline = time.monotonic() + args["flush_deadline"]
ok = False
while not ok and time.monotonic() < deadline:
    flushes += 1
    ok = task.flush(wait_for_uploads=True, timeout=60)
rep = task._reporter
stats = {"flushed": ok, "flush_calls": flushes, "loop_seconds": t_loop,
         "total_seconds": time.perf_counter() - t0, "sent_batches": rep.sent_batches,
         "dropped_batches": rep.dropped_batches, "last_error": rep.last_error}
task.close()
json.dump(stats, open(sys.argv[2], "w"))
"""


def stored_points(http, task_id: str) -> int:
    try:
        resp = http.get(f"/api/v1/tasks/{task_id}/metrics", timeout=5)
    except Exception:  # noqa: BLE001 - the server may be busy or away: try again
        return -1
    if resp.status_code != 200:
        return -1
    return sum(m["count"] for m in resp.json() if m["metric"] == "value")


def main() -> None:
    import json
    import subprocess
    import textwrap

    args = c.parser(__doc__.splitlines()[0]).parse_args()
    series, iterations, seconds = (10, 10_000, 3.0) if args.quick else (10, 100_000, 10.0)
    total = series * iterations
    c.machine_note()
    with c.workdir("durability") as tmp:
        srv = c.ArnoServer(tmp / "arno-home", c.free_port())
        srv.start()
        try:
            env = srv.client_env(tmp / "client")
            id_file = tmp / "task-id"
            script = tmp / "client.py"
            script.write_text(textwrap.dedent(CLIENT))
            out = tmp / "client.json"
            client_args = {"series": series, "iterations": iterations, "seconds": seconds,
                           "id_file": str(id_file), "flush_deadline": 240}
            client = subprocess.Popen(
                [sys.executable, str(script), json.dumps(client_args), str(out)],
                env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            while not id_file.exists() or not id_file.read_text():
                if client.poll() is not None:
                    raise SystemExit(f"client failed: {client.communicate()}")
                time.sleep(0.02)
            task_id = id_file.read_text()
            spool = tmp / "client" / "spool" / task_id
            # kill when about 30 % of the points are stored
            killed_at = 0
            with srv.http() as http:
                while client.poll() is None:
                    killed_at = stored_points(http, task_id)
                    if killed_at >= total * 0.3:
                        break
                    time.sleep(0.05)
            t_kill = time.perf_counter()
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            max_spool = 0
            while time.perf_counter() - t_kill < 2.0:
                max_spool = max(max_spool, len(list(spool.glob("*.json"))))
                time.sleep(0.05)
            restart_s = srv.start()
            while client.poll() is None:
                max_spool = max(max_spool, len(list(spool.glob("*.json"))))
                time.sleep(0.05)
            stdout, stderr = client.communicate()
            if client.returncode != 0 or not out.exists():
                raise SystemExit(f"client failed ({client.returncode}):\n{stdout}\n{stderr}")
            result = json.loads(out.read_text())
            # read everything back
            with srv.http() as http:
                data = http.get(f"/api/v1/tasks/{task_id}/scalars",
                                params={"metric": "value"}).json()
                counts = {m["variant"]: m["count"] for m in
                          http.get(f"/api/v1/tasks/{task_id}/metrics").json()
                          if m["metric"] == "value"}
        finally:
            srv.stop()
    unique = lost = wrong = 0
    by_variant = {s["variant"]: s for s in data}
    for s in range(series):
        got = by_variant.get(f"s{s}")
        xs, ys = (got["x"], got["y"]) if got else ([], [])
        stored = dict(zip(xs, ys, strict=True))
        unique += len(stored)
        lost += sum(1 for it in range(iterations) if it not in stored)
        wrong += sum(1 for it, v in stored.items() if v != s * 1_000_000 + it + 0.25)
    counted = sum(counts.values())
    duplicated = counted - unique
    c.report("durability_points_lost", lost, None, higher_is_better=False)
    c.report("durability_points_duplicated", duplicated, None, higher_is_better=False)
    c.report("durability_points_wrong_value", wrong, None, higher_is_better=False)
    c.info(f"{total:,} points reported over {result['loop_seconds']:.1f} s; server killed "
           f"(SIGKILL) with {killed_at:,} stored ({killed_at / total:.0%}), restarted after 2 s "
           f"(healthy in {restart_s:.2f} s); up to {max_spool} batches waited in the spool; "
           f"flush returned {result['flushed']} after {result['flush_calls']} call(s), "
           f"{result['total_seconds']:.1f} s after the first report")
    c.info(f"read back: {unique:,} distinct points, server count {counted:,}; "
           f"batches sent {result['sent_batches']}, refused {result['dropped_batches']}")
    if lost or duplicated or wrong or not result["flushed"]:
        c.info(f"FAILED; last reporter error: {result['last_error']}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
