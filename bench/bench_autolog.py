"""Automatic logging's cost: a TensorBoard training loop with and without capture.

The loop (the same code on both sides): 10,000 steps (``--steps``), each one a small real
training step (a 64 -> 64 -> 1 MLP on a batch of 32: forward, backward, SGD) and two
``torch.utils.tensorboard.SummaryWriter.add_scalar`` calls (``loss/train`` and ``lr``), the
writer flushed at the end. The timed part is the loop and that flush; starting the run and
closing it are printed apart.

- plain: no tracking, in Arno's interpreter and in MLflow's (each side's overhead is against
  its own plain loop: the two environments may carry other TensorBoard versions).
- ours: ``Task.init`` (``auto_connect_frameworks`` default) against a live Arno server on
  127.0.0.1; the capture mirrors each ``add_scalar`` into the task. Afterwards the task's
  scalars are read back and counted (every point must be there).
- peer: ``mlflow.start_run()`` + ``mlflow.pytorch.autolog(log_every_n_step=1)`` against an
  MLflow tracking server: MLflow patches ``FileWriter.add_event`` to queue each summary's
  scalars for its background logger. Its default ``log_every_n_step=None`` mirrors no step
  scalar at all, so 1 is set to make both sides record every point; read back and counted too.

Each variant runs in a fresh process, 3 times (interleaved), and the median counts.
``overhead_pct = 100 * (median with capture / median plain - 1)``; target <= 5% for ours.

torch.utils.tensorboard needs the ``tensorboard`` package: when Arno's interpreter lacks it, it
is installed once with pip (``--target``, no dependencies but ``absl-py``) under the bench
cache and put on the client scripts' ``PYTHONPATH``. MLflow's cached environment gets
``torch`` and ``tensorboard`` with pip on first use (pip finds torch's CPU build).
``--profile`` runs our variant once more under pyinstrument (when importable) and prints where
the loop's time goes.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

LOOP = """
import json, os, sys, tempfile, time
args = json.loads(sys.argv[1])
variant = args["variant"]
t_import = time.perf_counter()
import torch
from torch.utils.tensorboard import SummaryWriter

torch.manual_seed(0)
torch.set_num_threads(1)
run_id = None
t_setup = time.perf_counter()
if variant == "ours":
    from arno import Task

    task = Task.init(project_name="bench", task_name="autolog", reuse_last_task_id=False)
    run_id = task.id
elif variant == "peer":
    import mlflow
    import mlflow.pytorch

    mlflow.set_experiment("bench-autolog")
    run = mlflow.start_run()
    mlflow.pytorch.autolog(log_every_n_step=1, log_models=False, log_datasets=False,
                           silent=True)
    run_id = run.info.run_id
setup_s = time.perf_counter() - t_setup

model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(32, 64)
y = torch.randn(32, 1)
writer = SummaryWriter(tempfile.mkdtemp(prefix="tb-", dir=args["tmp"]))


def loop(steps):
    for step in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        writer.add_scalar("loss/train", loss.item(), step)
        writer.add_scalar("lr", 0.01, step)
    writer.flush()


profiler = None
if args.get("profile"):
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
t0 = time.perf_counter()
loop(args["steps"])
loop_s = time.perf_counter() - t0
if profiler is not None:
    profiler.stop()
    open(args["profile"], "w").write(profiler.output_text(unicode=False, color=False,
                                                          show_all=False))
writer.close()

t1 = time.perf_counter()
points = None
if variant == "ours":
    task.close()
    close_s = time.perf_counter() - t1
    data = Task.get_task(task_id=run_id).get_reported_scalars()
    points = sum(len(s["y"]) for series in data.values() for s in series.values())
elif variant == "peer":
    from mlflow.utils.autologging_utils.metrics_queue import flush_metrics_queue

    flush_metrics_queue()
    mlflow.end_run()
    close_s = time.perf_counter() - t1
    client = mlflow.MlflowClient()
    points = sum(len(client.get_metric_history(run_id, key))
                 for key in client.get_run(run_id).data.metrics)
else:
    close_s = 0.0
json.dump({"loop_s": loop_s, "setup_s": setup_s, "close_s": close_s, "points": points,
           "import_s": t_setup - t_import}, open(sys.argv[2], "w"))
"""

TENSORBOARD = ["tensorboard==2.21.0", "absl-py==2.3.1"]
"""What torch.utils.tensorboard needs beyond Arno's test extras (numpy, protobuf, pillow,
werkzeug are there already)."""


def _arno_env(env: dict[str, str]) -> dict[str, str] | None:
    """``env`` with TensorBoard importable by Arno's interpreter, or None when it cannot be."""
    try:
        extra = c.pip_target("tensorboard-2.21.0", TENSORBOARD, check=(
            "from torch.utils.tensorboard import SummaryWriter"))
    except RuntimeError as exc:
        c.info(f"torch.utils.tensorboard is not usable in Arno's interpreter: {exc}")
        return None
    if extra is not None:
        env = {**env, "PYTHONPATH": os.pathsep.join(
            p for p in (str(extra), env.get("PYTHONPATH", "")) if p)}
    return env


def _peer_python(no_peer: bool) -> str | None:
    if no_peer:
        return None
    python = c.mlflow_python()
    if python is None:
        return None
    try:
        c.peer_pip_install(python, ["torch==2.13.0", "tensorboard"], check=(
            "import torch, mlflow.pytorch; from torch.utils.tensorboard import SummaryWriter"))
    except RuntimeError as exc:
        c.info(f"MLflow's environment has no torch and TensorBoard: {exc}")
        return None
    return python


def _pct(with_capture: float, plain: float) -> float:
    """Percent extra; noise can make a run with capture faster: that counts as 0."""
    return max(0.0, 100.0 * (with_capture / plain - 1.0))


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=None, help="training steps (default 10,000)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each variant (median)")
    p.add_argument("--profile", action="store_true",
                   help="one more run of ours under pyinstrument; prints its profile")
    args = p.parse_args()
    steps = args.steps or (500 if args.quick else 10_000)
    repeat = 1 if args.quick else args.repeat
    c.machine_note()
    c.info(f"{steps} steps, 2 add_scalar calls each, median of {repeat} fresh processes")
    peer_python = _peer_python(args.no_peer)
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "ours": [], "peer_plain": [],
                                               "peer": []}
    with c.workdir("autolog") as tmp:
        with c.arno_server(tmp) as srv:
            env = _arno_env(srv.client_env(tmp / "client-home"))
            if env is None:
                raise SystemExit("torch.utils.tensorboard cannot be imported: no figures")
            ml = c.mlflow_server(tmp, peer_python) if peer_python else None
            ml_srv = ml.__enter__() if ml else None
            try:
                def run(variant: str, python: str, environ: dict[str, str],
                        **extra: Any) -> dict[str, Any]:
                    return c.run_client(python, LOOP, environ, {
                        "variant": variant, "steps": steps, "tmp": str(tmp), **extra},
                        cwd=tmp)

                # one unmeasured run of each warms the servers and the interpreters' caches
                order = [("plain", "plain", sys.executable, env), ("ours", "ours",
                                                                   sys.executable, env)]
                if ml_srv and peer_python:
                    order += [("peer_plain", "plain", peer_python, ml_srv.client_env()),
                              ("peer", "peer", peer_python, ml_srv.client_env())]
                for _key, variant, python, environ in order:
                    run(variant, python, environ, steps=min(steps, 200))
                for _ in range(repeat):
                    for key, variant, python, environ in order:
                        runs[key].append(run(variant, python, environ))
                if args.profile:
                    out = tmp / "profile.txt"
                    run("ours", sys.executable, env, profile=str(out))
                    print(out.read_text(), flush=True)
            finally:
                if ml:
                    ml.__exit__(None, None, None)

    def med(key: str, field: str = "loop_s") -> float | None:
        values = [r[field] for r in runs[key]]
        return statistics.median(values) if values else None

    for key in ("ours", "peer"):
        for r in runs[key]:
            if r["points"] != 2 * steps:
                raise SystemExit(f"{key}: {r['points']} points recorded, {2 * steps} logged")
    plain, ours = med("plain"), med("ours")
    peer_plain, peer = med("peer_plain"), med("peer")
    assert plain is not None and ours is not None
    ours_pct = _pct(ours, plain)
    peer_pct = _pct(peer, peer_plain) if peer is not None and peer_plain else None
    # percent overhead can be ~0 or negative (noise): the ratio compares the extra seconds
    c.report("autolog_tensorboard_overhead_pct", ours_pct, peer_pct, higher_is_better=False,
             note=f"extra over the plain loop, {steps} steps; target <= 5% for ours")
    c.report("autolog_tensorboard_loop_s", ours, peer, higher_is_better=False,
             note=f"plain loop {c.fmt(plain)} s (ours' interpreter), "
                  f"{c.fmt(peer_plain)} s (MLflow's)")
    c.report("autolog_tensorboard_close_s", med("ours", "close_s"), med("peer", "close_s"),
             higher_is_better=False,
             note="task.close() vs flush_metrics_queue() + mlflow.end_run(), after the loop")
    c.info(f"per step: plain {1e6 * plain / steps:.0f} us, ours {1e6 * ours / steps:.0f} us"
           + (f", peer {1e6 * peer / steps:.0f} us" if peer else ""))
    c.info(f"run start: Task.init {c.fmt(med('ours', 'setup_s'))} s, mlflow.start_run + "
           f"autolog {c.fmt(med('peer', 'setup_s'))} s")
    c.info("loops (s): " + "; ".join(
        f"{k} " + ", ".join(c.fmt(r["loop_s"]) for r in v) for k, v in runs.items() if v))


if __name__ == "__main__":
    main()
