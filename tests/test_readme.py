"""The README is a promise: its first command starts a working server, and its tour runs."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
from tests.conftest import free_port

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_opens_with_install_and_test_commands():
    text = README.read_text()
    first = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first is not None
    lines = [line.split("#")[0].strip() for line in first.group(1).strip().splitlines()]
    assert lines[0] == "pip install -e . && arno up"
    assert lines[1] == 'pip install -e ".[test]" && python -m pytest -n 2'
    ci = (README.parent / ".ci" / "run").read_text()
    assert lines[1] in ci


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            output = proc.stdout.read().decode() if proc.stdout else ""
            raise AssertionError(f"arno up exited: {output}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("arno up did not become healthy")


def test_arno_up_then_the_tour_just_works(tmp_path: Path):
    """`arno up`, then a script with no configuration of its own: it finds the server and the
    credentials in $ARNO_HOME/config.toml, as the README says."""
    home = tmp_path / "home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    env["ARNO_HOME"] = str(home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "arno.cli.main", "up", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        config_path = home / "config.toml"
        assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
        config = tomllib.loads(config_path.read_text())
        assert config["api"]["host"] == url
        # the web page asks for credentials, and takes the printed web login
        assert httpx.get(url + "/").status_code == 401
        page = httpx.get(url + "/", auth=(config["web"]["username"], config["web"]["password"]))
        assert page.status_code == 200 and "Arno" in page.text

        tour, later = python_blocks()[:2]
        script = tmp_path / "tour.py"
        script.write_text(tour + "\nprint('TASK', task.id)\n")
        run = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        task_id = re.search(r"TASK (\w+)", run.stdout).group(1)  # type: ignore[union-attr]

        check = tmp_path / "later.py"
        check.write_text(later + "\nprint('FOUND', task.id)\n"
                         "print('LAST', task.get_last_scalar_metrics()['loss']['train']['last'])\n")
        run = subprocess.run([sys.executable, str(check)], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert f"FOUND {task_id}" in run.stdout
        assert "LAST 0.001" in run.stdout
        with httpx.Client(base_url=url, auth=(config["api"]["access_key"],
                                              config["api"]["secret_key"])) as client:
            task = client.get(f"/api/v1/tasks/{task_id}").json()
            assert task["status"] == "completed"
            assert task["project"] == "parking/forecast"
            assert {a["name"] for a in client.get(f"/api/v1/tasks/{task_id}/artifacts").json()} \
                == {"features"}

        datasets = tmp_path / "datasets.py"
        datasets.write_text(python_blocks()[3] + "\nprint('COPY', folder)\n")
        run = subprocess.run([sys.executable, str(datasets)], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert "['day2.csv']" in run.stdout
        copy = Path(re.search(r"COPY (.+)", run.stdout).group(1))  # type: ignore[union-attr]
        assert sorted(p.name for p in copy.iterdir()) == ["day1.csv", "day2.csv"]
        assert (copy / "day2.csv").read_text() == "sensor,value\nA,3\n"

        # "Running elsewhere": the script stops here and runs again on arno up's own agent
        remote = tmp_path / "remote.py"
        remote.write_text("from arno import Task\n" + python_blocks()[2]
                          + "print('REMOTE lr', params['lr'], flush=True)\n"
                          "task.get_logger().report_single_value('ran_remotely', 1)\n")
        run = subprocess.run([sys.executable, str(remote)], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert "REMOTE" not in run.stdout
        queued = re.search(r"arno: task (\w+) queued in default; exiting", run.stderr)
        assert queued, run.stderr
        with httpx.Client(base_url=url, auth=(config["api"]["access_key"],
                                              config["api"]["secret_key"])) as client:
            remote_id = queued.group(1)
            deadline = time.monotonic() + 300
            while (task := client.get(f"/api/v1/tasks/{remote_id}").json())["status"] in (
                    "queued", "in_progress"):
                assert time.monotonic() < deadline, task
                time.sleep(0.2)
            lines = [ln["text"] for ln in client.get(
                f"/api/v1/tasks/{remote_id}/console", params={"limit": 1000}).json()]
            assert task["status"] == "completed", (task["status_message"], lines[-20:])
            assert "REMOTE lr 0.01" in lines, lines
            values = client.get(f"/api/v1/tasks/{remote_id}/single_values").json()
            assert [(v["name"], v["value"]) for v in values] == [("ran_remotely", 1.0)]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
