"""What a run needs to be reproduced: git state, entry point, Python and packages, CLI args.

``ScriptCapture`` splits the record in two: a quick part ready at once (no subprocess, no
package scan) and a slow part on a background thread that reads the repository with the
``git`` command line (short timeouts) and the requirements from what the code imports
(``_requirements``); ``collect_script_info`` does both at once. Neither raises.
The argparse hook lives in ``_argparse`` (re-exported here).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from arno.sdk._argparse import (
    ArgsCallback,
    apply_overrides,
    collect_argparse_args,
    patch_argparse,
    unpatch_argparse,
)

__all__ = [
    "INTERACTIVE_ENTRY_POINT",
    "NOTEBOOK_ENTRY_POINT",
    "ArgsCallback",
    "ScriptCapture",
    "apply_overrides",
    "collect_argparse_args",
    "collect_script_info",
    "installed_requirements",
    "patch_argparse",
    "strip_url_credentials",
    "unpatch_argparse",
]

NOTEBOOK_ENTRY_POINT = "<notebook>"
INTERACTIVE_ENTRY_POINT = "<interactive>"

GIT_TIMEOUT = 5.0  # seconds per git command
DIFF_LIMIT = 512 * 1024  # bytes of `git diff HEAD` kept
SOURCE_LIMIT = 1024 * 1024  # bytes of a script kept as its text (when there is no repository)

# ---------------------------------------------------------------------------------------------
# git


def _run_git(args: list[str], cwd: str, *, limit: int | None = None) -> bytes | None:
    """Run ``git args`` in ``cwd``; stdout (at most ``limit + 1`` bytes) or None on failure."""
    import subprocess  # on the capture's thread: not a cost of ``import arno``

    env = dict(os.environ)
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    try:
        proc = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    except (OSError, ValueError):
        return None
    timer = threading.Timer(GIT_TIMEOUT, proc.kill)
    timer.daemon = True
    timer.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read() if limit is None else proc.stdout.read(limit + 1)
        truncated = limit is not None and len(out) > limit
        if truncated:
            proc.kill()  # we have all we keep; do not wait for the rest
        code = proc.wait()
    except OSError:
        proc.kill()
        proc.wait()
        return None
    finally:
        timer.cancel()
        if proc.stdout is not None:
            proc.stdout.close()
    if code != 0 and not truncated:
        return None
    return out


def _git_text(args: list[str], cwd: str) -> str | None:
    out = _run_git(args, cwd)
    if out is None:
        return None
    text = out.decode("utf-8", "replace").strip()
    return text or None


def strip_url_credentials(url: str) -> str:
    """Drop ``user:password@`` from http(s) URLs and the password from other URLs.

    ``https://user:token@host/repo.git`` -> ``https://host/repo.git``;
    ``ssh://git:pw@host/repo`` -> ``ssh://git@host/repo``; scp-like ``git@host:repo`` is
    returned unchanged (it holds no secret).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if parts.scheme.lower() in ("http", "https"):
        netloc = hostport
    else:
        user = userinfo.partition(":")[0]
        netloc = f"{user}@{hostport}" if user else hostport
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _remote_url(root: str) -> str | None:
    url = _git_text(["config", "--get", "remote.origin.url"], root)
    if url is None:
        remotes = _git_text(["remote"], root)
        if remotes:
            first = remotes.splitlines()[0].strip()
            url = _git_text(["config", "--get", f"remote.{first}.url"], root)
    return strip_url_credentials(url) if url else None


def _diff(root: str) -> str:
    out = _run_git(
        ["-c", "core.quotepath=off", "diff", "--no-color", "--no-ext-diff", "HEAD"],
        root,
        limit=DIFF_LIMIT,
    )
    if not out:
        return ""
    if len(out) > DIFF_LIMIT:
        text = out[:DIFF_LIMIT].decode("utf-8", "ignore")
        return text + f"\n# arno: diff truncated at {DIFF_LIMIT} bytes\n"
    return out.decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------
# entry point, the quick and the slow capture


def _running_script() -> str | None:
    """Absolute path of the running script, a marker for notebooks/REPL, or None."""
    main = sys.modules.get("__main__")
    main_file: str | None = getattr(main, "__file__", None)
    if "ipykernel" in sys.modules and (not main_file or "ipykernel" in str(main_file)):
        return NOTEBOOK_ENTRY_POINT
    if main_file:
        return os.path.abspath(main_file)
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and argv0 not in ("-c", "-m") and os.path.isfile(argv0):
        return os.path.abspath(argv0)
    return INTERACTIVE_ENTRY_POINT


def _relative(path: str, base: str) -> str | None:
    try:
        rel = os.path.relpath(os.path.realpath(path), os.path.realpath(base))
    except ValueError:  # different drives on Windows
        return None
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return rel.replace(os.sep, "/")


def _find_worktree(start: str) -> str | None:
    """The nearest directory at or above ``start`` holding ``.git`` (a directory, or the file
    of a worktree or submodule): the repository root, found without running git."""
    current = os.path.realpath(start)
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _place(info: dict[str, Any], script: str | None, is_file: bool, cwd: str,
           root: str | None) -> None:
    """Set ``entry_point`` and ``working_dir`` relative to ``root`` (else to/as ``cwd``)."""
    info["entry_point"] = script
    if root is None:
        info["working_dir"] = cwd
        if is_file and script:
            info["entry_point"] = _relative(script, cwd) or script
        return
    info["working_dir"] = _relative(cwd, root) or cwd
    if is_file and script:
        info["entry_point"] = _relative(script, root) or script


def _read_source(path: str) -> str | None:
    try:
        if os.path.getsize(path) <= SOURCE_LIMIT:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
    except OSError:
        pass
    return None


def installed_requirements() -> str:
    """Installed distributions as sorted ``name==version`` lines (requirements.txt text)."""
    from arno.sdk import _requirements

    return _requirements.freeze()


class ScriptCapture:
    """What a run needs to be reproduced, in two parts.

    ``quick`` is ready when the object is made and costs no subprocess and no scan of the
    installed packages: ``entry_point`` and ``working_dir`` (relative to the repository root,
    found by looking for ``.git``), ``python_version``, ``python_executable``, ``argv``, and
    ``source`` (the script's text) outside a repository. The slow part (git remote, branch,
    commit and diff; the requirements from the imports and the full freeze; the platform)
    runs on a background thread after ``start``; ``on_done`` receives the whole record
    (``quick`` updated with it), ready to replace the task's ``script``. ``run`` does both in
    the caller's thread. Nothing here raises.
    """

    def __init__(self, entry_point: str | None = None) -> None:
        self.result: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        self.quick: dict[str, Any] = {}
        cwd = os.getcwd()
        script = entry_point if entry_point is not None else _running_script()
        self._is_file = script is not None and not script.startswith("<")
        if self._is_file and script is not None:
            script = os.path.abspath(script)
        self._script = script
        self._cwd = cwd
        probe = os.path.dirname(script) if self._is_file and script else cwd
        self._probe = probe if os.path.isdir(probe) else cwd
        quick: dict[str, Any] = {
            "python_version": sys.version.split()[0],  # platform.python_version()
            "python_executable": sys.executable,
            "argv": [str(a) for a in sys.argv],
        }
        try:
            root = _find_worktree(self._probe)
            _place(quick, script, self._is_file, cwd, root)
            if root is None and self._is_file and script:
                source = _read_source(script)
                if source is not None:
                    quick["source"] = source
        except Exception:  # noqa: BLE001 - a capture never fails the run
            quick.setdefault("entry_point", script)
            quick.setdefault("working_dir", cwd)
        self.quick = quick

    def run(self) -> dict[str, Any]:
        """The whole record, captured in this thread."""
        info = dict(self.quick)
        info.update(repository=None, branch=None, commit=None, diff="", platform=None,
                    requirements="", requirements_freeze="")
        try:
            import platform

            info["platform"] = platform.platform()
        except Exception:  # noqa: BLE001
            pass
        root: str | None = None
        try:
            root = self._fill_git(info)
        except Exception:  # noqa: BLE001
            pass
        try:
            from arno.sdk import _requirements

            notebook = self._script == NOTEBOOK_ENTRY_POINT
            info.update(_requirements.capture(self._script if self._is_file else None, root,
                                              notebook=notebook))
        except Exception:  # noqa: BLE001
            pass
        if info.get("repository"):
            info.pop("source", None)  # an agent clones the repository
        elif self._is_file and self._script and "source" not in info:
            source = _read_source(self._script)
            if source is not None:
                info["source"] = source
        self.result = info
        return info

    def _fill_git(self, info: dict[str, Any]) -> str | None:
        root = _git_text(["rev-parse", "--show-toplevel"], self._probe)
        if root is not None and not os.path.isdir(root):
            root = None
        _place(info, self._script, self._is_file, self._cwd, root)
        if root is None:
            return None
        info["repository"] = _remote_url(root)
        info["branch"] = _git_text(["symbolic-ref", "--short", "-q", "HEAD"], root)
        info["commit"] = _git_text(["rev-parse", "--verify", "-q", "HEAD"], root)
        info["diff"] = _diff(root) if info["commit"] else ""
        return root

    def start(self, on_done: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Capture the slow part on a daemon thread, then call ``on_done(record)`` there (its
        exceptions are reported as warnings). A second call does nothing."""
        if self._thread is not None:
            return

        def work() -> None:
            record = self.run()
            if on_done is not None:
                try:
                    on_done(record)
                except Exception as exc:  # noqa: BLE001
                    warnings.warn(f"arno: could not record the script's environment: {exc!r}",
                                  stacklevel=1)

        self._thread = threading.Thread(target=work, name="arno-script-capture", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The whole record once the background capture and its ``on_done`` are over; None
        if they take longer than ``timeout`` seconds (or ``start`` was never called)."""
        thread = self._thread
        if thread is None:
            return self.result
        thread.join(timeout)
        return None if thread.is_alive() else self.result


def collect_script_info(entry_point: str | None = None) -> dict[str, Any]:
    """Describe the running script and its environment, all of it now.  Never raises.

    Keys: ``repository`` (origin URL without credentials), ``branch``, ``commit``, ``diff``
    (uncommitted ``git diff HEAD``, capped at 512 KiB), ``entry_point`` (script path relative
    to the repository root, or to the working directory outside a repository, or
    ``"<notebook>"``/``"<interactive>"``), ``working_dir`` (relative to the repository root
    inside one, else absolute), ``python_version``, ``requirements`` (the distributions the
    code imports, what an agent installs), ``requirements_freeze`` (every installed
    distribution), ``python_executable``, ``argv``, ``platform``, and ``source`` (the script's
    text) when there is no repository to clone.  Git fields are None (``diff`` is ``""``)
    outside a repository or when git is missing.  ``entry_point`` overrides the detected
    script (a path or a marker).
    """
    return ScriptCapture(entry_point).run()
