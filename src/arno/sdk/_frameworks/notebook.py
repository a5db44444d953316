"""A Jupyter notebook stored as the task's script, so an agent can run it.

``capture(task)`` (called by ``Task.init``) does nothing outside a Jupyter kernel. Inside one it
finds the notebook file: ``JPY_SESSION_NAME`` (set by Jupyter Server 2), ``__vsc_ipynb_file__``
in the user's namespace (VS Code), else the running Jupyter servers' ``/api/sessions`` asked
with their token for the session of this kernel. On a background thread, once the task's own
capture of the environment is stored (requirements from the cells, the kernel's installed
packages as the freeze), it stores the notebook's code cells as the script's text (IPython
magics and shell escapes commented out) with ``<notebook name>.py`` as the entry point, and
attaches the ``.ipynb`` as the artifact "notebook". ``Task.close`` waits for it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arno.sdk._frameworks import guarded, on_close

if TYPE_CHECKING:
    from arno.sdk._task import Task

log = logging.getLogger("arno.frameworks")

ARTIFACT_NAME = "notebook"
CAPTURE_WAIT = 30.0
"""Seconds the notebook capture waits for the task's environment capture."""
SERVER_TIMEOUT = 2.0
"""Seconds for a running Jupyter server to answer ``/api/sessions``."""

_threads: dict[str, threading.Thread] = {}
_MAGIC = re.compile(r"^\s*(%|!|\?)|^\s*[\w.\[\], ]+\s*=\s*[!%]|\?\s*$")


def _shell() -> Any:
    if "ipykernel" not in sys.modules:
        return None
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return shell if shell is not None and hasattr(shell, "kernel") else None


def capture(task: Task) -> threading.Thread | None:
    """Store the running notebook as ``task``'s script (in the background); None when this is
    not a notebook, the notebook cannot be found, or it was stored already."""
    shell = _shell()
    if shell is None or task.id in _threads:
        return None
    path = guarded("finding the notebook file", find_notebook, shell)
    if path is None:
        log.warning("arno: running in a notebook whose file was not found: its code is not "
                    "stored with the task")
        return None
    thread = threading.Thread(target=guarded, args=("the notebook", _store, task, path),
                              name="arno-notebook", daemon=True)
    _threads[task.id] = thread
    thread.start()
    return thread


def _wait(task: Task) -> None:
    thread = _threads.get(task.id)
    if thread is not None:
        thread.join(CAPTURE_WAIT * 2)


on_close(_wait)


# ---- finding the file -----------------------------------------------------------------------


def find_notebook(shell: Any = None) -> Path | None:
    """The ``.ipynb`` file the running kernel executes, if it can be found."""
    named = os.environ.get("JPY_SESSION_NAME")
    if named:
        found = _existing(named)
        if found is not None:
            return found
    user_ns = getattr(shell, "user_ns", None) or {}
    vscode = user_ns.get("__vsc_ipynb_file__")
    if vscode:
        found = _existing(str(vscode))
        if found is not None:
            return found
    return _from_servers(named)


def _existing(name: str) -> Path | None:
    path = Path(name).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, Path.cwd() / path.name]
    for candidate in candidates:
        if candidate.suffix == ".ipynb" and candidate.is_file():
            return candidate.resolve()
    return None


def _kernel_id() -> str | None:
    try:
        from ipykernel.connect import get_connection_file

        name = Path(get_connection_file()).name
    except Exception:  # noqa: BLE001 - not a kernel started with a connection file
        return None
    match = re.match(r"kernel-(.+)\.json$", name)
    return match.group(1) if match else None


def _server_files() -> list[Path]:
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime = Path(jupyter_runtime_dir())
    except Exception:  # noqa: BLE001
        return []
    if not runtime.is_dir():
        return []
    return sorted([*runtime.glob("jpserver-*.json"), *runtime.glob("nbserver-*.json")])


def _from_servers(named: str | None = None) -> Path | None:
    import httpx

    kernel = _kernel_id()
    if kernel is None:
        return None
    for info_file in _server_files():
        try:
            info = json.loads(info_file.read_text())
            url = str(info["url"]).rstrip("/") + "/"
            token = info.get("token") or ""
            resp = httpx.get(f"{url}api/sessions", timeout=SERVER_TIMEOUT,
                             headers={"Authorization": f"token {token}"} if token else {})
            resp.raise_for_status()
            sessions = resp.json()
        except Exception:  # noqa: BLE001 - a server gone or not ours
            continue
        for session in sessions:
            if (session.get("kernel") or {}).get("id") != kernel:
                continue
            rel = session.get("path") or (session.get("notebook") or {}).get("path")
            root = info.get("root_dir") or info.get("notebook_dir") or ""
            if rel:
                path = Path(str(root)).expanduser() / str(rel)
                if path.is_file():
                    return path.resolve()
    return None


# ---- the notebook as a script ---------------------------------------------------------------


def notebook_script(notebook: dict[str, Any]) -> str:
    """The code cells joined as a Python script; magics and shell escapes commented out."""
    parts = []
    for index, cell in enumerate(notebook.get("cells") or []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source") or ""
        text = "".join(source) if isinstance(source, list) else str(source)
        if not text.strip():
            continue
        lines = text.splitlines()
        if lines and lines[0].lstrip().startswith("%%"):  # a cell magic: the whole cell
            lines = [f"# {line}" for line in lines]
        else:
            lines = [f"# {line}" if _MAGIC.search(line) else line for line in lines]
        parts.append(f"# In[{index}]:\n" + "\n".join(lines) + "\n")
    return "\n\n".join(parts)


def _store(task: Task, path: Path) -> None:
    capture_obj = getattr(task, "_capture", None)
    record: dict[str, Any] = {}
    if capture_obj is not None:
        record = dict(capture_obj.wait(CAPTURE_WAIT) or capture_obj.quick)
    notebook = json.loads(path.read_text(encoding="utf-8"))
    script = {k: v for k, v in record.items()
              if k not in ("repository", "branch", "commit", "diff")}
    script.update(source=notebook_script(notebook), entry_point=f"{path.stem}.py",
                  working_dir=".", notebook=str(path))
    if not script.get("requirements_freeze"):
        from arno.sdk import _requirements

        script["requirements_freeze"] = _requirements.freeze()
    task._client.patch(task.id, {"script": script})
    task.upload_artifact(ARTIFACT_NAME, artifact_object=str(path), wait_on_upload=True)
