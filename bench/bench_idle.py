"""Server footprint: idle memory and the time from start to healthy.

Ours: ``arno up --port P`` (``python -m arno.cli.main up``) with ``ARNO_HOME`` a fresh
directory: time from spawning the process to ``/health`` answering 200 (this first start creates
the database, runs the migrations, creates the admin and writes config.toml); then, 5 s after it
became healthy, the RSS of the server process (what ``arno server`` runs) and, as a note, with
the local agent ``arno up`` also starts; then a second start on the same home.
Peer: ``mlflow server`` on SQLite in a fresh directory, the same measures (its RSS counts its
uvicorn workers and job consumers, which it starts by default).
Each side is started once untimed first, so both read their code from a warm disk cache with
bytecode compiled, as after a normal install. Figures are medians over the repetitions.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402


def rss_mb(pid: int, children: bool = True) -> float:
    import psutil

    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)] if children else [root]
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def measure(make, tmp: Path, repeat: int, idle_wait: float) -> dict[str, list[float]]:
    """``make(dir)`` builds an unstarted server for a state directory."""
    out: dict[str, list[float]] = {"fresh": [], "second": [], "rss": [], "rss_root": [],
                                   "procs": []}
    warm = make(tmp / "warm-up")
    warm.start()
    warm.stop()
    for i in range(repeat):
        home = tmp / f"run-{i}"
        srv = make(home)
        try:
            out["fresh"].append(srv.start())
            time.sleep(idle_wait)
            out["rss"].append(rss_mb(srv.proc.pid))
            out["rss_root"].append(rss_mb(srv.proc.pid, children=False))
            import psutil

            out["procs"].append(1 + len(psutil.Process(srv.proc.pid).children(recursive=True)))
        finally:
            srv.stop()
        again = make(home)
        try:
            out["second"].append(again.start())
        finally:
            again.stop()
        shutil.rmtree(home, ignore_errors=True)
    return out


def main() -> None:
    args = c.parser(__doc__.splitlines()[0]).parse_args()
    repeat = 1 if args.quick else 3
    idle_wait = 1.0 if args.quick else 5.0
    peer_py = c.peer_or_none(args)
    c.machine_note()
    with c.workdir("idle") as tmp:
        ours = measure(lambda d: c.ArnoServer(d / "arno-home", c.free_port(), command="up"),
                       tmp / "ours", repeat, idle_wait)
        peer = None
        if peer_py:
            peer = measure(lambda d: c.MlflowServer(peer_py, d, c.free_port()),
                           tmp / "peer", repeat, idle_wait)

    def med(d: dict[str, list[float]] | None, key: str) -> float | None:
        return statistics.median(d[key]) if d else None

    c.report(f"idle_rss_mb_after_{idle_wait:.0f}s", med(ours, "rss_root"), med(peer, "rss"),
             higher_is_better=False)
    c.report("start_to_healthy_fresh_s", med(ours, "fresh"), med(peer, "fresh"),
             higher_is_better=False)
    c.report("start_to_healthy_second_s", med(ours, "second"), med(peer, "second"),
             higher_is_better=False)
    procs = ours["procs"][0]
    c.info(f"ours: `arno up`, {repeat} runs; RSS of the server process, whose local agent runs "
           f"on a thread; all {procs:.0f} process{'es' if procs != 1 else ''} of `arno up`: "
           f"{med(ours, 'rss'):.0f} MB; "
           f"fresh starts {', '.join(f'{x:.2f}' for x in ours['fresh'])} s; targets RSS "
           "< 150 MB, start < 3 s")
    if peer:
        c.info(f"peer: `mlflow server`, {peer['procs'][0]:.0f} processes (RSS summed); fresh "
               f"{', '.join(f'{x:.2f}' for x in peer['fresh'])} s")


if __name__ == "__main__":
    main()
