"""Web UI server times on big data.

1. Experiment table: 100k tasks, sorted by a metric column with a tag filter: the HTML page
   (and the same query as JSON through /api/v1/tasks). Target < 100 ms.
2. Scalars tab of a task with 20 metrics x 100k points: the JSON the tab draws from (every
   series thinned to ~2k points, minimum and maximum kept). Target < 300 ms.
3. Compare 10 tasks x 10 metrics: the compare page plus the ten scalar requests its charts
   make (sent 6 at a time, as a browser does). Target < 500 ms.
4. With Chromium present: first contentful paint of the experiment table page (< 1 s).

Times are wall times of requests on loopback against a real ``arno server`` on SQLite
(median of 7 after one warm-up; the first, cold request is printed too). Data is written
straight into the server's database through the services (the same code the API runs).

Peer: MLflow's UI on the same data is not measured: seeding 100k runs takes about 36 min at
the 46 runs/s measured here, and 2M metric points about 4 min at 8k points/s per run (see
TESTING.md); its ``get_metric_history`` of one 100k-point metric was measured at 5.7 s.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from arno.core.ids import utcnow  # noqa: E402
from arno.core.schemas import EventBatch, ScalarSeriesIn, TaskCreate  # noqa: E402
from arno.core.settings import Settings  # noqa: E402
from arno.db.models import HyperParamRow, SeriesRow, TaskRow, TaskTagRow  # noqa: E402
from arno.services.container import Services  # noqa: E402
from arno.services.principal import Principal  # noqa: E402
from arno.services.projects import ensure_project  # noqa: E402

PEER_NOTE = "MLflow UI not run: seeding 100k runs takes ~36 min at 46 runs/s here"


def seed_table(svc: Services, owner: str, n: int) -> None:
    """``n`` tasks with 10 tags spread over them, 3 hyperparameters, 2 metric summaries."""
    rng = random.Random(1)
    now = utcnow()
    with svc.db.write() as s:
        pid = ensure_project(s, "bench/table", owner).id
        for start in range(0, n, 10_000):
            tasks, tags, params, series = [], [], [], []
            for i in range(start, min(n, start + 10_000)):
                tid = uuid.uuid4().hex
                t = [f"t{i % 10}", "bench"]
                at = now - timedelta(seconds=n - i)
                tasks.append({
                    "id": tid, "project_id": pid, "name": f"run {i}", "type": "training",
                    "status": "completed", "status_message": "", "tags": t, "comment": "",
                    "archived": False, "owner_id": owner, "created_at": at, "started_at": at,
                    "completed_at": at + timedelta(seconds=60), "updated_at": at,
                    "last_iteration": 1000, "script": {}, "user_properties": {},
                    "runtime": {}, "abort_requested": False, "attempt": 0, "max_retries": 0})
                tags += [{"task_id": tid, "tag": x} for x in t]
                params += [{"task_id": tid, "section": "General", "name": k, "value": v,
                            "type": "", "description": ""}
                           for k, v in (("lr", str(rng.choice([1e-2, 1e-3, 1e-4]))),
                                        ("batch", str(rng.choice([32, 64, 128]))),
                                        ("opt", rng.choice(["adam", "sgd"])))]
                loss = rng.uniform(0.01, 5)
                series += [
                    {"task_id": tid, "metric": "loss", "variant": "val", "last_value": loss,
                     "last_iteration": 1000, "min_value": loss * 0.9, "max_value": loss * 3,
                     "count": 1000},
                    {"task_id": tid, "metric": "acc", "variant": "val",
                     "last_value": rng.random(), "last_iteration": 1000, "min_value": 0.0,
                     "max_value": 1.0, "count": 1000},
                ]
            s.execute(insert(TaskRow), tasks)
            s.execute(insert(TaskTagRow), tags)
            s.execute(insert(HyperParamRow), params)
            s.execute(insert(SeriesRow), series)


def seed_scalars(svc: Services, who: Principal, name: str, metrics: int, points: int,
                 project: str = "bench/charts") -> str:
    tid = svc.tasks.create(TaskCreate(project=project, name=name), who).id
    step = 20_000
    for start in range(0, points, step):
        its = list(range(start, min(points, start + step)))
        ts = [1.7e9 + i for i in its]
        svc.events.ingest(tid, EventBatch(batch_id=uuid.uuid4().hex, scalars=[
            ScalarSeriesIn(metric=f"metric{m:02d}", variant="train", iterations=its,
                           values=[(m + 1) / (i + 1) + (i % 97) * 1e-4 for i in its],
                           timestamps=ts)
            for m in range(metrics)]))
    return tid


def timed(fn, runs: int = 7) -> tuple[float, float]:
    """(first call, median of ``runs`` more), in milliseconds."""
    t0 = time.perf_counter()
    fn()
    first = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return first, statistics.median(times)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_ms(pid: int, fn, runs: int = 20) -> float | None:
    """CPU time the server process spends per call: unlike wall time, not inflated when
    other work shares the machine."""
    if not Path(f"/proc/{pid}/stat").exists():
        return None
    before = _cpu_seconds(pid)
    for _ in range(runs):
        fn()
    return (_cpu_seconds(pid) - before) * 1000 / runs


def login(url: str, user: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=120, headers={"Accept": "text/html"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    resp = client.post("/login", data={"username": user, "password": password,
                                       "csrf_token": token.group(1)})
    assert resp.status_code == 303, resp.text[:300]
    return client


def first_paint(url: str, path: str, password: str) -> float | None:
    if not Path("/usr/bin/chromium").exists():
        c.info("no /usr/bin/chromium: first paint not measured")
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        c.info("playwright missing: first paint not measured")
        return None
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        # the page's CSP forbids eval, which Playwright's wait_for_function polls with; the
        # page's own scripts and paint are the same either way
        page = browser.new_page(bypass_csp=True)
        page.goto(url + "/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(url + "/")
        paints = []
        for _ in range(3):
            page.goto(url + path)
            page.wait_for_function(
                "performance.getEntriesByName('first-contentful-paint').length > 0")
            fcp = page.evaluate(
                "performance.getEntriesByName('first-contentful-paint')[0]?.startTime")
            paints.append(float(fcp) if fcp is not None else float("nan"))
        browser.close()
    return statistics.median(paints)


def main() -> None:
    args = c.parser(__doc__.splitlines()[0]).parse_args()
    n_tasks, points = (10_000, 10_000) if args.quick else (100_000, 100_000)
    with c.workdir("ui") as tmp, c.arno_server(tmp) as srv:
        svc = Services(Settings(home=srv.home))
        password = "bench-password"
        svc.auth.set_password("admin", password)
        admin = next(u for u in svc.auth.list_users() if u.username == "admin")
        who = Principal(admin.id, "admin", "admin")
        t0 = time.perf_counter()
        seed_table(svc, admin.id, n_tasks)
        c.info(f"seeded {n_tasks:,} tasks in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        big = seed_scalars(svc, who, "20 metrics", 20, points)
        c.info(f"seeded 20 x {points:,} points in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        cmp_ids = [seed_scalars(svc, who, f"compare {i}", 10, points // 10,
                                project="bench/compare") for i in range(10)]
        c.info(f"seeded 10 tasks x 10 metrics x {points // 10:,} points in "
               f"{time.perf_counter() - t0:.1f} s")
        svc.close()

        web = login(srv.url, "admin", password)
        table = ("/tasks?project=bench/table&sort=metric:loss/val&tag=t3"
                 "&col=metric:loss/val&col=param:General/lr")
        page = web.get(table)
        assert page.status_code == 200 and "10000 tasks" in page.text or args.quick, \
            page.text[:300]
        pid = srv.proc.pid if srv.proc else 0
        first, med = timed(lambda: web.get(table).raise_for_status())
        cpu = server_cpu_ms(pid, lambda: web.get(table).raise_for_status())
        c.report("ui_table_100k_sorted_by_metric_tag_filter_ms", med, None,
                 higher_is_better=False, note=f"cold {first:.0f} ms; server CPU {cpu:.0f} ms "
                 f"per page; target < 100 ms; " + PEER_NOTE)
        api = ("/api/v1/tasks?project=bench/table&sort=metric:loss/val&tag=t3"
               "&column=metric:loss/val&limit=50")
        first, med = timed(lambda: web.get(api).raise_for_status())
        cpu = server_cpu_ms(pid, lambda: web.get(api).raise_for_status())
        c.report("api_tasks_100k_sorted_by_metric_tag_filter_ms", med, None,
                 higher_is_better=False, note=f"cold {first:.0f} ms; server CPU {cpu:.0f} ms")
        deep = table + "&f.param:General/opt=adam&f.metric:acc/val=>0.5&sort=-duration"
        first, med = timed(lambda: web.get(deep).raise_for_status())
        c.report("ui_table_100k_two_column_filters_sorted_by_duration_ms", med, None,
                 higher_is_better=False, note=f"cold {first:.0f} ms")

        scalars = f"/api/v1/tasks/{big}/scalars?max_points=2000&timestamps=true"
        data = web.get(scalars).json()
        assert len(data) == 20 and all(s["total"] == points for s in data)
        drawn = sum(len(s["x"]) for s in data)
        first, med = timed(lambda: web.get(scalars).raise_for_status())
        cpu = server_cpu_ms(pid, lambda: web.get(scalars).raise_for_status())
        c.report("ui_scalars_tab_20x100k_ms", med, None, higher_is_better=False,
                 note=f"cold {first:.0f} ms; server CPU {cpu:.0f} ms; "
                      f"{drawn:,} of {20 * points:,} points drawn; "
                      "target < 300 ms; MLflow get_metric_history of one 100k series: 5.7 s")
        first, med = timed(lambda: web.get(f"/tasks/{big}?tab=scalars").raise_for_status())
        c.info(f"scalars tab page itself: {med:.1f} ms")

        ids = ",".join(cmp_ids)
        pool = ThreadPoolExecutor(6)

        def compare() -> None:
            web.get(f"/compare?tab=scalars&ids={ids}").raise_for_status()
            list(pool.map(lambda t: web.get(
                f"/api/v1/tasks/{t}/scalars?max_points=600&timestamps=true").raise_for_status(),
                cmp_ids))

        first, med = timed(compare)
        cpu = server_cpu_ms(pid, compare, runs=10)
        c.report("ui_compare_10_tasks_x_10_metrics_ms", med, None, higher_is_better=False,
                 note=f"cold {first:.0f} ms; server CPU {cpu:.0f} ms; page + 10 scalar "
                      "requests; target < 500 ms")
        first, med = timed(lambda: web.get(f"/compare?ids={ids}").raise_for_status())
        c.info(f"compare details page: {med:.1f} ms; table tab: "
               f"{timed(lambda: web.get(f'/compare?tab=table&ids={ids}'))[1]:.1f} ms")
        fcp = first_paint(srv.url, table, password)
        if fcp is not None:
            c.report("ui_table_first_contentful_paint_ms", fcp, None, higher_is_better=False,
                     note="Chromium, 100k tasks, target < 1000 ms")


if __name__ == "__main__":
    main()
