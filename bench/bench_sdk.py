"""The SDK's own costs, as a training script pays them.

1. ``from arno import Task`` in a fresh process (median of N). Peers: ``from clearml import
   Task`` (ClearML 2.1.12) and ``import mlflow``, each in its own cached venv.
2. ``Task.init`` on a laptop (a fresh process, a local server, the script in a git repository:
   git state and requirements are captured in the background), the call alone. Peer: MLflow's
   ``mlflow.start_run()`` against its own server (the closest call; it captures no git diff
   nor requirements).
3. ``Task.init`` as an agent runs it (``ARNO_TASK_ID`` of a queued task, ``ARNO_AGENT_CONSOLE``),
   the call alone. Peer n/a (ClearML's agent needs its server; not installed here).
4. enqueue -> the first line printed after ``Task.init``, on an idle agent whose venv for the
   task is cached (p50 of N). Peer n/a (ClearML's agent alone polls its queues every 5 s).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
from bench_agent import create, start_agent, wait_done  # noqa: E402

CLEARML_VERSION = "2.1.12"
TIMED_IMPORT = ("import time; t = time.perf_counter(); {stmt}; "
                "print((time.perf_counter() - t) * 1000)")


def _median_ms(python: str, stmt: str, runs: int, env: dict[str, str] | None = None) -> float:
    values = []
    for _ in range(runs):
        out = subprocess.run([python, "-c", TIMED_IMPORT.format(stmt=stmt)], env=env,
                             capture_output=True, text=True, timeout=120, check=True)
        values.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(values)


def _peer_python(peer: str, version: str, requirement: str, check: str) -> str | None:
    try:
        return str(c.peer_venv(peer, version, [requirement], check=check) / "bin" / "python")
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        c.info(f"{peer}'s environment could not be made: {exc}")
        return None


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARNO_", "CLEARML_"))}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    return env


def imports(runs: int, no_peer: bool) -> None:
    ours = _median_ms(sys.executable, "from arno import Task", runs, _clean_env())
    clearml = None if no_peer else _peer_python(
        "clearml", CLEARML_VERSION, f"clearml=={CLEARML_VERSION}", "import clearml")
    peer = None
    if clearml:
        env = {**_clean_env(), "CLEARML_OFFLINE_MODE": "1", "HOME": str(Path(clearml).parents[2])}
        peer = _median_ms(clearml, "from clearml import Task", runs, env)
    c.report("sdk_import_ms", ours, peer, higher_is_better=False,
             note=f"from arno import Task vs from clearml import Task, median of {runs}")
    mlflow = None if no_peer else c.mlflow_python()
    peer = _median_ms(mlflow, "import mlflow", runs, _clean_env()) if mlflow else None
    c.report("sdk_import_vs_mlflow_ms", ours, peer, higher_is_better=False,
             note=f"import mlflow, median of {runs}")


INIT_LOCAL = """
import json, sys, time
from arno import Task
t = time.perf_counter()
task = Task.init(project_name="bench", task_name="init", reuse_last_task_id=False)
init_ms = (time.perf_counter() - t) * 1000
task.close()
open(sys.argv[2], "w").write(json.dumps({"init_ms": init_ms}))
"""

INIT_MLFLOW = """
import json, sys, time
import mlflow
t = time.perf_counter()
run = mlflow.start_run()
init_ms = (time.perf_counter() - t) * 1000
mlflow.end_run()
open(sys.argv[2], "w").write(json.dumps({"init_ms": init_ms}))
"""

INIT_AGENT = """
import json, sys, time
from arno import Task
t = time.perf_counter()
task = Task.init()
init_ms = (time.perf_counter() - t) * 1000
open(sys.argv[2], "w").write(json.dumps({"init_ms": init_ms}))
"""


def _git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "helper.py").write_text("import numpy\n")
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "add", "."], check=True)
    subprocess.run(["git", "-C", str(path), "-c", "user.email=b@b", "-c", "user.name=b",
                    "commit", "-qm", "init"], check=True)
    return path


def task_init(tmp: Path, runs: int, no_peer: bool) -> None:
    repo = _git_repo(tmp / "repo")
    with c.arno_server(tmp) as srv:
        env = srv.client_env(tmp / "client-home")
        c.run_client(sys.executable, INIT_LOCAL, env, {}, cwd=repo)  # warm the server
        local = [c.run_client(sys.executable, INIT_LOCAL, env, {}, cwd=repo)["init_ms"]
                 for _ in range(runs)]
        host, key, secret = srv.credentials()
        agent_ms = []
        with srv.http() as client:
            for _ in range(runs):
                tid = create(client, "pass\n")
                agent_env = {**_clean_env(), "ARNO_HOME": str(tmp / "agent-home"),
                             "ARNO_API_HOST": host, "ARNO_API_KEY": key,
                             "ARNO_API_SECRET": secret, "ARNO_TASK_ID": tid,
                             "ARNO_AGENT_CONSOLE": "1"}
                agent_ms.append(c.run_client(sys.executable, INIT_AGENT, agent_env, {},
                                             cwd=repo)["init_ms"])
    peer = None
    mlflow = None if no_peer else c.mlflow_python()
    if mlflow:
        with c.mlflow_server(tmp, mlflow) as ml:
            c.run_client(mlflow, INIT_MLFLOW, ml.client_env(), {}, cwd=repo)
            peer = statistics.median(
                c.run_client(mlflow, INIT_MLFLOW, ml.client_env(), {}, cwd=repo)["init_ms"]
                for _ in range(runs))
    c.report("task_init_laptop_ms", statistics.median(local), peer, higher_is_better=False,
             note=f"Task.init in a git repo vs mlflow.start_run, median of {runs}; "
                  "target <= 250 ms")
    c.report("task_init_under_agent_ms", statistics.median(agent_ms), None,
             higher_is_better=False, note=f"median of {runs}; target <= 100 ms")


FIRST_LINE = "from arno import Task\nTask.init()\nprint('after init', flush=True)\n"


def enqueue_to_first_line(tmp: Path, runs: int) -> None:
    with c.arno_server(tmp) as srv:
        agent = start_agent(srv, tmp / "agent-home", "default")
        try:
            with srv.http() as client:
                seen: list[float] = []
                for i in range(runs + 1):
                    tid = create(client, FIRST_LINE)
                    time.sleep(0.3)  # the agent is idle, in its long poll
                    t0 = time.time()
                    client.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": "default"})
                    deadline = time.monotonic() + 120
                    while time.monotonic() < deadline:
                        lines = client.get(f"/api/v1/tasks/{tid}/console").json()
                        if any(ln["text"] == "after init" for ln in lines):
                            break
                        time.sleep(0.005)
                    else:
                        raise RuntimeError(json.dumps(wait_done(client, tid))[:2000])
                    t1 = time.time()
                    done = wait_done(client, tid)
                    if done["status"] != "completed":
                        raise RuntimeError(f"the task ended {done['status']}")
                    if i:  # the first run builds the venv; the others find it cached
                        seen.append((t1 - t0) * 1000)
        finally:
            c.stop(agent)
    c.report("enqueue_to_first_line_after_task_init_p50_ms", statistics.median(seen), None,
             higher_is_better=False,
             note=f"p90 {sorted(seen)[int(0.9 * (len(seen) - 1))]:.0f} ms over {runs}; "
                  "target p50 <= 400 ms; ClearML's agent polls every 5 s")


def main() -> None:
    args = c.parser(__doc__.splitlines()[0]).parse_args()
    runs = 3 if args.quick else 15
    c.machine_note()
    imports(runs, args.no_peer)
    with c.workdir("sdk") as tmp:
        task_init(tmp, runs, args.no_peer)
    with c.workdir("sdk-agent") as tmp:
        enqueue_to_first_line(tmp, 3 if args.quick else 10)


if __name__ == "__main__":
    main()
