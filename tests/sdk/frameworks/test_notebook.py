"""A notebook run in a real ipykernel (nbclient) against the live server: ``Task.init`` in it,
then the notebook capture; the task's script is the notebook's code (magics and shell escapes
commented out) with the kernel's installed packages, and the .ipynb is an artifact."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from arno.sdk._frameworks import notebook as nb

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed")
pytest.importorskip("ipykernel", reason="ipykernel is not installed")

CELLS = [
    "import os\nfrom arno import Task\nfrom arno.sdk._frameworks import notebook\n"
    "task = Task.init(project_name='frameworks/notebook', task_name='nb run',\n"
    "                 auto_resource_monitoring=False)\n"
    "notebook.capture(task)\nprint('TASK_ID', task.id)",
    "%time total = sum(range(10))\n!echo from-the-shell\nlisting = !ls\nprint('TOTAL', total)",
    "%%bash\necho a whole bash cell",
    "task.close()",
]


@pytest.fixture
def api(sqlite_server):
    with sqlite_server.client() as client:
        yield client


def test_notebook_is_stored_as_a_script_with_its_requirements(sqlite_server, api, tmp_path,
                                                              monkeypatch):
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_markdown_cell("# A training notebook")]
    book.cells += [nbformat.v4.new_code_cell(source) for source in CELLS]
    path = tmp_path / "train_nb.ipynb"
    nbformat.write(book, path)
    for name in ("ARNO_TASK_ID", "ARNO_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARNO_HOME", str(tmp_path / "client-home"))
    monkeypatch.setenv("ARNO_API_HOST", sqlite_server.url)
    monkeypatch.setenv("ARNO_API_KEY", sqlite_server.admin_key)
    monkeypatch.setenv("ARNO_API_SECRET", sqlite_server.admin_secret)
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))

    ran = nbclient.NotebookClient(book, timeout=120, kernel_name="python3",
                                  resources={"metadata": {"path": str(tmp_path)}})
    ran.execute()
    out = "".join(o.get("text", "") for c in book.cells if c.cell_type == "code"
                  for o in c.get("outputs", []))
    task_id = out.split("TASK_ID ", 1)[1].split()[0]
    assert "TOTAL 45" in out

    task = api.get(f"/api/v1/tasks/{task_id}").json()
    script = task["script"]
    assert script["entry_point"] == "train_nb.py"
    source = script["source"]
    assert "task = Task.init(project_name='frameworks/notebook'" in source
    assert "# %time total = sum(range(10))" in source
    assert "# !echo from-the-shell" in source
    assert "# listing = !ls" in source
    assert "# %%bash" in source and "# echo a whole bash cell" in source
    assert "print('TOTAL', total)" in source
    compile(source, "train_nb.py", "exec")  # an agent can run it
    assert "A training notebook" not in source
    freeze = script["requirements_freeze"]
    assert "ipykernel==" in freeze and "nbformat==" in freeze
    assert script.get("requirements") is not None
    assert not script.get("repository")

    arts = {a["name"]: a for a in api.get(f"/api/v1/tasks/{task_id}/artifacts").json()}
    assert "notebook" in arts and arts["notebook"].get("hash")


def test_notebook_script_conversion():
    book = {"cells": [
        {"cell_type": "code", "source": ["x = 1\n", "%matplotlib inline\n", "y = x?"]},
        {"cell_type": "markdown", "source": "text"},
        {"cell_type": "code", "source": "  !pip install foo\nfiles = %sx ls\nprint(x)"},
    ]}
    script = nb.notebook_script(book)
    assert "x = 1" in script and "# %matplotlib inline" in script and "# y = x?" in script
    assert "# " + "  !pip install foo" in script and "# files = %sx ls" in script
    assert "\nprint(x)" in script and "text" not in script
    compile(script, "s.py", "exec")


def test_notebook_found_through_a_running_servers_sessions(tmp_path, monkeypatch):
    """No JPY_SESSION_NAME, no VS Code: the running server's /api/sessions (with its token)
    names the notebook of this kernel."""
    (tmp_path / "work").mkdir()
    target = tmp_path / "work" / "found.ipynb"
    target.write_text("{}")
    seen: list[str | None] = []

    class Sessions(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Authorization"))
            body = json.dumps([{"path": "other.ipynb", "kernel": {"id": "k-other"}},
                               {"path": "found.ipynb", "kernel": {"id": "k-mine"}}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Sessions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        runtime = tmp_path / "runtime"
        runtime.mkdir()
        (runtime / "jpserver-1.json").write_text(json.dumps({
            "url": f"http://127.0.0.1:{server.server_port}/", "token": "s3cret",
            "root_dir": str(tmp_path / "work")}))
        monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
        monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
        monkeypatch.setattr(nb, "_kernel_id", lambda: "k-mine")
        assert nb.find_notebook(None) == target.resolve()
        assert seen == ["token s3cret"]
    finally:
        server.shutdown()


def test_outside_a_kernel_nothing_happens():
    assert nb.capture(object()) is None  # type: ignore[arg-type]
