"""One real agent (a subprocess) serving a queue of a live server, on SQLite and PostgreSQL:
tasks created through the API run on it, their console and scalars reach the server, and set-up
failures read as one line at the top of the console."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.agent.conftest import (
    LEASE,
    AgentProc,
    console,
    create_task,
    enqueue,
    make_queue,
    start_agent,
    wait_console,
    wait_status,
)
from tests.conftest import LiveServer

GRACE = 2.0


@pytest.fixture(scope="module")
def queue(live: LiveServer) -> str:
    with live.client() as client:
        return make_queue(client, "runs")


@pytest.fixture(scope="module")
def agent(live: LiveServer, queue: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[AgentProc]:
    home = tmp_path_factory.mktemp("agent-home")
    proc = start_agent(live, home, "--queue", queue, "--gpus", "0,1", "--grace", str(GRACE))
    yield proc
    assert proc.stop() == 0, proc.output()[-3000:]


def test_a_stored_script_runs_with_its_server_side_parameter(live, queue, agent):
    source = (
        "import os\n"
        "from arno import Task\n"
        "task = Task.init()\n"
        "params = task.connect({'lr': 0.1, 'epochs': 2})\n"
        "print('devices', repr(os.environ.get('CUDA_VISIBLE_DEVICES')))\n"
        "for i in range(params['epochs']):\n"
        "    print(f'epoch {i}/{params[\"epochs\"]}\\r', end='', flush=True)\n"
        "    task.get_logger().report_scalar('loss', 'train', value=params['lr'] * (i + 1),"
        " iteration=i)\n"
        "print()\n"
        "print('lr used', params['lr'])\n"
    )
    with live.client() as client:
        tid = create_task(client, source, params={"General/lr": "0.5", "General/epochs": "3"})
        r = enqueue(client, tid, queue)
        assert r.status_code == 200, r.text
        task = wait_status(client, tid)
        lines = console(client, tid)
        assert task["status"] == "completed", (task["status_message"], lines)
        # the server-side values won over the script's defaults
        assert "lr used 0.5" in lines
        assert "devices '0,1'" in lines  # --gpus 0,1
        # a progress line rewritten with \r is kept as its final state only
        assert "epoch 2/3" in lines and not any("epoch 0/3" in ln for ln in lines)
        assert lines[0].startswith("arno-agent: worker ")
        metrics = client.get(f"/api/v1/tasks/{tid}/metrics").json()
        loss = next(m for m in metrics if m["metric"] == "loss")
        assert loss["count"] == 3 and loss["last"] == pytest.approx(1.5)
        worker = next(w for w in client.get("/api/v1/workers").json() if w["id"] == agent.name)
        assert worker["gpus"] == ["0", "1"] and worker["queues"] == [queue]
        assert "cpu_percent" in worker["stats"] and "memory_total_gb" in worker["stats"]


def test_a_failing_script_fails_with_its_traceback_in_the_console(live, queue, agent):
    source = "print('before the error')\nraise ValueError('bad value 42')\n"
    with live.client() as client:
        tid = create_task(client, source)
        enqueue(client, tid, queue)
        task = wait_status(client, tid)
        lines = console(client, tid)
    assert task["status"] == "failed"
    assert task["status_message"] == "process exited with code 1"
    assert "before the error" in lines
    assert "ValueError: bad value 42" in lines  # stderr is in the console too


def test_a_missing_python_version_fails_before_running_with_a_readable_reason(
        live, queue, agent):
    with live.client() as client:
        tid = create_task(client, "open('/tmp/should-not-exist', 'w')\n",
                          python_version="3.4.10")
        enqueue(client, tid, queue)
        task = wait_status(client, tid)
        lines = console(client, tid)
    assert task["status"] == "failed"
    first = lines[0]
    assert first.startswith("arno-agent: the task cannot run: this task needs Python 3.4")
    # it names what the agent has (at least the agent's own version)
    assert re.search(r"this agent has Python [\d., ]*3\.\d+", first), first
    assert "Traceback" not in "\n".join(lines)
    assert "needs Python 3.4" in task["status_message"]


def test_a_repository_that_cannot_be_cloned_fails_with_the_reason_first(live, queue, agent,
                                                                         tmp_path):
    missing = tmp_path / "no-such-repo.git"
    with live.client() as client:
        tid = create_task(client, None, repository=str(missing), commit="0" * 40)
        enqueue(client, tid, queue)
        task = wait_status(client, tid)
        lines = console(client, tid)
    assert task["status"] == "failed"
    assert lines[0].startswith(f"arno-agent: the task cannot run: cannot clone {missing}: fatal:")
    assert task["status_message"].startswith(f"cannot clone {missing}")


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_code_comes_from_the_recorded_commit_with_the_uncommitted_diff(live, queue, agent,
                                                                        tmp_path):
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    _git("init", "-q", "-b", "main", cwd=repo)
    (repo / "src" / "train.py").write_text("from helper import WORD\nprint('word', WORD)\n")
    (repo / "src" / "helper.py").write_text("WORD = 'committed'\n")
    _git("add", ".", cwd=repo)
    _git("commit", "-qm", "first", cwd=repo)
    commit = _git("rev-parse", "HEAD", cwd=repo)
    (repo / "src" / "helper.py").write_text("WORD = 'second commit'\n")
    _git("commit", "-qam", "second", cwd=repo)
    # the run was recorded at the first commit with a local change on top
    _git("checkout", "-q", commit, cwd=repo)
    (repo / "src" / "helper.py").write_text("WORD = 'uncommitted'\n")
    diff = _git("diff", "HEAD", cwd=repo) + "\n"
    _git("checkout", "-q", "--", ".", cwd=repo)
    _git("checkout", "-q", "main", cwd=repo)
    with live.client() as client:
        tid = create_task(client, None, repository=f"file://{repo}", commit=commit, diff=diff,
                          entry_point="src/train.py", working_dir="src", branch="main")
        enqueue(client, tid, queue)
        task = wait_status(client, tid)
        lines = console(client, tid)
        assert task["status"] == "completed", lines
        assert "word uncommitted" in lines
        assert "with uncommitted changes" in lines[0] and commit[:12] in lines[0]

        bad = create_task(client, None, repository=f"file://{repo}", commit="f" * 40,
                          entry_point="src/train.py")
        enqueue(client, bad, queue)
        task = wait_status(client, bad)
        lines = console(client, bad)
    assert task["status"] == "failed"
    assert lines[0].startswith(f"arno-agent: the task cannot run: cannot check out commit "
                               f"{'f' * 40}")


def _wheel(directory: Path, name: str, value: int) -> Path:
    """A minimal pure-Python wheel, so installing a requirement needs no package index."""
    module = name.replace("-", "_")
    files = {
        f"{module}/__init__.py": f"VALUE = {value}\n",
        f"{module}-1.0.dist-info/METADATA":
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{module}-1.0.dist-info/WHEEL":
            "Wheel-Version: 1.0\nGenerator: arno-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{module}-1.0.dist-info/RECORD,,")
    files[f"{module}-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{module}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def _env_line(lines: list[str]) -> tuple[str, str, float]:
    m = re.search(r"venv (\S+) \((built|reused) in ([\d.]+) s\)", lines[0])
    assert m, lines[0]
    return m.group(1), m.group(2), float(m.group(3))


def test_the_venv_of_the_same_requirements_is_built_once_and_reused(live, queue, agent,
                                                                     tmp_path):
    wheel = _wheel(tmp_path, f"arnotest-dep-{live.backend}", 7)
    requirements = f"# pinned\narnotest-dep-{live.backend} @ file://{wheel}\narno==0.1.0\n"
    source = (f"import arnotest_dep_{live.backend} as dep\nprint('dep value', dep.VALUE)\n"
              "import arno\nprint('arno importable')\n")
    with live.client() as client:
        runs = []
        for _ in range(2):
            tid = create_task(client, source, requirements=requirements)
            enqueue(client, tid, queue)
            task = wait_status(client, tid)
            lines = console(client, tid)
            assert task["status"] == "completed", lines
            assert "dep value 7" in lines and "arno importable" in lines
            runs.append(_env_line(lines))
    (first_path, first_how, first_s), (second_path, second_how, second_s) = runs
    assert first_how == "built" and second_how == "reused"
    assert second_path == first_path  # the cached directory itself
    assert (Path(first_path) / ".arno-ready").exists()
    assert second_s < 1.0 and second_s < first_s


def test_abort_stops_the_process_group_and_keeps_the_last_lines(live, queue, agent):
    # the script ignores SIGTERM after printing, so the agent must SIGKILL it after the grace
    source = (
        "import signal, sys, time\n"
        "def on_term(*_):\n"
        "    print('got SIGTERM, ignoring it', flush=True)\n"
        "signal.signal(signal.SIGTERM, on_term)\n"
        "for i in range(600):\n"
        "    print(f'tick {i}', flush=True)\n"
        "    time.sleep(0.1)\n"
    )
    with live.client() as client:
        tid = create_task(client, source)
        enqueue(client, tid, queue)
        wait_console(client, tid, "tick 3")
        # bad input while it runs: a running task cannot be queued again
        again = enqueue(client, tid, queue)
        assert again.status_code == 409, again.text
        unknown = enqueue(client, create_task(client, "print(1)\n"), "no-such-queue")
        assert unknown.status_code == 404 and "no-such-queue" in unknown.text
        t0 = time.monotonic()
        r = client.post(f"/api/v1/tasks/{tid}/abort", json={"message": "enough"})
        assert r.json()["state"] == "stopping"
        task = wait_status(client, tid, timeout=30)
        elapsed = time.monotonic() - t0
        lines = console(client, tid)
    assert task["status"] == "stopped", (task["status_message"], lines[-5:])
    assert task["status_message"].startswith("enough")
    # stopped by its agent (SIGTERM ignored, then SIGKILL), long before its 600 ticks
    assert "got SIGTERM, ignoring it" in lines
    assert lines[-1].startswith("arno-agent: stopped (SIGTERM, then SIGKILL after 2 s)")
    ticks = [ln for ln in lines if ln.startswith("tick ")]
    assert 4 <= len(ticks) < 600
    print(f"\nabort -> stopped in {elapsed:.1f} s (heartbeat every {LEASE / 3:.1f} s, "
          f"grace {GRACE} s)")


def test_requirements_that_cannot_be_installed_fail_with_the_installers_reason(
        live, queue, agent, tmp_path):
    missing = tmp_path / "nowhere" / "gone-1.0-py3-none-any.whl"
    with live.client() as client:
        tid = create_task(client, "print('never runs')\n",
                          requirements=f"gone @ file://{missing}\n")
        enqueue(client, tid, queue)
        task = wait_status(client, tid)
        lines = console(client, tid)
    assert task["status"] == "failed"
    assert lines[0].startswith("arno-agent: the task cannot run: installing the requirements "
                               "failed: "), lines
    assert str(missing) in lines[0]
    assert "never runs" not in lines and "Traceback" not in "\n".join(lines)
