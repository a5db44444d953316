"""One test per class of vulnerability in the public CVE history of two other MLOps platforms,
replayed against Arno's own routes, SDK and CLI. Each test makes the attack and then checks
both that it was refused and that nothing changed (no file read or written outside its root,
no code run, no page that runs injected script, no state changed, no secret stored or shown).

Classes (the CVE numbers name the class, the attacks are written for Arno):
- path traversal in artifact and file routes (CVE-2023-1177, CVE-2023-2780, CVE-2023-6018);
- a download writing outside its target on the client (CVE-2024-24591);
- code run by loading another user's artifact (CVE-2024-37052..37060, CVE-2024-24590);
- stored cross-site scripting (CVE-2024-24592/24593 class);
- cross-site request forgery with a signed-in browser;
- passwords and secrets kept or shown in clear (CVE-2024-24594/24595 class).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import re
import stat
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import numpy as np
import pytest
import zstandard
from sqlalchemy import create_engine, text
from tests.conftest import LiveServer
from tests.ui.conftest import browser_login, csrf_of, login_client

from arno import Dataset, Task
from arno.core.errors import ArnoError, Forbidden, InvalidInput
from arno.db.models import DatasetVersionRow
from arno.sdk import _context, set_session

# ---- helpers -------------------------------------------------------------------------------


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def raw_request(live: LiveServer, method: str, path: str, *, body: bytes | None = None,
                auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    """A request whose path goes on the wire byte for byte (httpx would resolve ``..``)."""
    url = urlsplit(live.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {"Authorization": _basic(*(auth or (live.admin_key, live.admin_secret))),
               "Accept": "text/html,application/json"}
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def traversals(target: str) -> list[str]:
    """Ways to spell "go up and read ``target``" in one path parameter."""
    out: list[str] = []
    for depth in (1, 3, 6):
        up = "../" * depth
        out += [
            up + target,
            up.replace("/", "%2f") + target,
            up.replace(".", "%2e").replace("/", "%2f") + target,
            up.replace(".", "%252e").replace("/", "%252f") + target,
            up.replace("/", "\\") + target,
            up.replace("/", "%5c") + target,
            "....//" * depth + target,
            "%c0%ae%c0%ae%2f" * depth + target,
        ]
    out += ["/" + target, "%2f" + target, "//" + target, "file:%2f%2f%2f" + target]
    return out


def files_named(root: Path, name: str) -> list[Path]:
    found = []
    for dirpath, _dirs, files in os.walk(root):
        found += [Path(dirpath) / f for f in files if name in f]
    return found


class Canary:
    """A file outside every root Arno serves from, that nothing may read or change."""

    def __init__(self, where: Path) -> None:
        self.token = f"canary-{uuid.uuid4().hex}"
        self.path = where / "canary.txt"
        self.path.write_text(self.token)
        os.utime(self.path, (1_000_000_000, 1_000_000_000))
        self.before = self.path.stat()

    def assert_untouched(self) -> None:
        after = self.path.stat()
        assert self.path.read_text() == self.token
        assert (after.st_mtime_ns, after.st_size) == (self.before.st_mtime_ns,
                                                      self.before.st_size)
        # atime is not checked: most mounts use relatime or noatime

    def assert_not_in(self, status: int, body: bytes, what: str) -> None:
        assert self.token.encode() not in body, (what, status)
        assert b"root:x:0:0" not in body, (what, status)


# ---- path traversal on the server (CVE-2023-1177, CVE-2023-2780, CVE-2023-6018) --------------


@pytest.fixture(scope="module")
def seeded(sqlite_server: LiveServer) -> dict[str, str]:
    """A task with one artifact and a final dataset version with one file."""
    with sqlite_server.client() as c:
        tid = c.post("/api/v1/tasks", json={"project": "cve/trav", "name": "t"}).json()["id"]
        data = b"hello artifact"
        from arno.blobstore.hashing import hash_bytes

        h = hash_bytes(data)
        assert c.put(f"/api/v1/blobs/{h}", content=data).status_code == 200
        assert c.put(f"/api/v1/tasks/{tid}/artifacts/ok", json={
            "type": "text", "hash": h, "file_name": "ok.txt"}).status_code == 200
    return {"task": tid, "hash": h}


def test_path_traversal_in_blob_pack_artifact_and_file_routes_reads_and_writes_nothing_outside(
        sqlite_server, seeded, tmp_path_factory):
    live = sqlite_server
    # canaries where a traversal from the blob store, the home or the static folder would land
    canaries = [Canary(live.home), Canary(live.home.parent)]
    tid, h = seeded["task"], seeded["hash"]
    vid = _final_dataset(live)
    written = f"pwned-{_uid()}"
    tried = 0
    for target in ("canary.txt", "etc/passwd", "arno.db"):
        for bad in traversals(target):
            for method, path in [
                ("GET", f"/api/v1/blobs/{bad}"),
                ("HEAD", f"/api/v1/blobs/{bad}"),
                ("GET", f"/api/v1/datasets/packs/{bad}"),
                ("GET", f"/api/v1/tasks/{tid}/artifacts/{bad}"),
                ("GET", f"/api/v1/datasets/{bad}/manifest"),
                ("GET", f"/api/v1/datasets/{vid}/files?prefix={bad}"),
                ("GET", f"/tasks/{tid}/artifact-file?name={bad}"),
                ("GET", f"/datasets/versions/{vid}/preview?path={bad}"),
                ("GET", f"/datasets/versions/{vid}/file?path={bad}"),
                ("GET", f"/datasets/versions/{vid}?prefix={bad}"),
                ("GET", f"/static/{bad}"),
                ("GET", f"/static/js/{bad}"),
                ("GET", f"/tasks/{tid}/samples/{bad}"),
            ]:
                status, body = raw_request(live, method, path)
                tried += 1
                assert status < 500, (method, path, status, body[:300])
                for c in canaries:
                    c.assert_not_in(status, body, f"{method} {path}")
                if target == "arno.db":
                    assert b"SQLite format 3" not in body, (method, path)
                file_route = ("/blobs/" in path or "/packs/" in path or "/file?" in path
                              or "artifact-file" in path or "/static/" in path)
                if file_route:
                    assert status != 200, (method, path, status)
            # writes: the upload routes with the same names
            for path in (f"/api/v1/blobs/{bad.replace(target, written)}",
                         f"/api/v1/datasets/packs/{bad.replace(target, written)}",
                         f"/api/v1/blobs/{bad}"):
                status, body = raw_request(live, "PUT", path, body=b"overwritten " + b"x" * 64)
                tried += 1
                assert status in (400, 404, 405, 422), (path, status, body[:300])
    for c in canaries:
        c.assert_untouched()
    base = tmp_path_factory.getbasetemp()
    assert files_named(base, written) == []
    assert not list(Path("/tmp").glob(f"{written}*"))
    assert not Path("/etc/" + written).exists()
    assert tried > 500
    # the honest routes still work (the test above did not pass because everything is broken)
    with live.client() as c:
        assert c.get(f"/api/v1/blobs/{h}").content == b"hello artifact"
        assert c.get(f"/tasks/{tid}/artifact-file", params={"name": "ok"}).status_code == 200


def _final_dataset(live: LiveServer, files: dict[str, bytes] | None = None) -> str:
    """A finalized dataset version made through the SDK's transfer code, as the admin."""
    from arno.client._session import ApiSession

    session = ApiSession(live.url, live.admin_key, live.admin_secret)
    previous = _context._session
    set_session(session)
    try:
        import tempfile

        src = Path(tempfile.mkdtemp(prefix="arno-cve-"))
        for name, data in (files or {"a.csv": b"x,y\n1,2\n"}).items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes(data)
        ds = Dataset.create(dataset_name=f"trav-{_uid()}", dataset_project="cve/data")
        ds.add_files(src)
        ds.finalize(auto_upload=True)
        return ds.id
    finally:
        set_session(previous)


def test_artifact_names_and_file_names_that_look_like_paths_stay_database_keys(
        sqlite_server, seeded):
    """An artifact's name is a key in the database, its file name a label: registering one
    named like a path neither reads nor writes a file, and the UI download names it safely."""
    live = sqlite_server
    canary = Canary(live.home)
    tid, h = seeded["task"], seeded["hash"]
    names = ["..", "...", "..\\..\\..\\canary.txt", "%2e%2e%2fcanary.txt",
             "%252e%252e%252fcanary.txt", "C:\\Windows\\win.ini"]
    with live.client() as c:
        for name in names:
            r = c.put(f"/api/v1/tasks/{tid}/artifacts/{quote(name, safe='')}", json={
                "type": "file", "hash": h, "file_name": "../../../canary.txt"})
            if name == ".." and r.status_code in (404, 405):
                continue  # the client resolves ".." before sending: another route answers
            assert r.status_code == 200, (name, r.text)
            got = c.get(f"/api/v1/tasks/{tid}/artifacts/{quote(name, safe='')}")
            assert got.json()["name"] == name
            dl = c.get(f"/tasks/{tid}/artifact-file", params={"name": name})
            assert dl.status_code == 200 and dl.content == b"hello artifact"
            disposition = dl.headers["content-disposition"]
            assert "/" not in disposition.split("filename*=UTF-8''", 1)[1], disposition
            canary.assert_not_in(dl.status_code, dl.content, name)
        # a name with a slash never reaches the route: 404, nothing registered
        for name in ("../../canary.txt", "/etc/passwd", "a/../../b"):
            r = c.put(f"/api/v1/tasks/{tid}/artifacts/{quote(name, safe='')}", json={
                "type": "file", "hash": h})
            assert r.status_code in (404, 405, 422), (name, r.status_code)
        listed = {a["name"] for a in c.get(f"/api/v1/tasks/{tid}/artifacts").json()}
        assert not {"../../canary.txt", "/etc/passwd", "a/../../b"} & listed
    canary.assert_untouched()


# ---- path traversal on the client (CVE-2023-1177 class, CVE-2024-24591) --------------------


def _artifact_row(live: LiveServer, task_id: str, name: str, data: bytes, *, type_: str = "file",
                  file_name: str = "") -> None:
    """An artifact stored as a malicious uploader (or a tampered server) would leave it: any
    name, any file name (the API's router cannot take a name with a slash, the database can)."""
    from arno.core.schemas import ArtifactCreate
    from arno.services.principal import Principal

    h = live.services.store.put_bytes(data).hash
    admin = Principal(user_id=_admin_id(live), username="admin", role="admin")
    live.services.artifacts.register(task_id, name, ArtifactCreate(
        type=type_, hash=h, file_name=file_name), admin)


def _admin_id(live: LiveServer) -> str:
    return next(u.id for u in live.services.auth.list_users() if u.username == "admin")


EVIL_NAMES = ["../../escaped-name", "/tmp/escaped-abs", "..\\..\\escaped-bs", "..",
              "a/../../../escaped-mid"]
EVIL_FILE_NAMES = ["../../escaped-fn", "/tmp/escaped-fnabs", "..\\..\\escaped-fnbs", "..", ""]


def test_sdk_get_local_copy_of_artifacts_named_like_paths_writes_only_in_its_cache(sdk, tmp_path):
    task = Task.init(project_name="cve/client", task_name=f"names-{_uid()}")
    for i, (name, fname) in enumerate(zip(EVIL_NAMES, EVIL_FILE_NAMES, strict=True)):
        _artifact_row(sdk, task.id, name, f"payload {i}".encode(), file_name=fname)
    # a folder artifact whose zip climbs out (zip slip)
    evil_zip = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w") as zf:
        zf.writestr("fine.txt", "fine")
        zf.writestr("../../escaped-zip", "owned")
        zf.writestr("/tmp/escaped-zipabs", "owned")
    _artifact_row(sdk, task.id, "folder", evil_zip.read_bytes(), type_="folder",
                  file_name="evil.zip")
    cache = _context.home() / "cache"
    arts = Task.get_task(task_id=task.id).artifacts
    assert set(EVIL_NAMES) <= set(arts)
    for name in EVIL_NAMES:
        local = Path(arts[name].get_local_copy())
        assert cache.resolve() in local.resolve().parents, (name, local)
        assert local.read_bytes().startswith(b"payload")
        assert Path(arts[name].get()).resolve() == local.resolve()
    with pytest.raises(InvalidInput, match="escapes|absolute"):
        arts["folder"].get_local_copy()
    task.close()
    found = files_named(tmp_path, "escaped-")  # the client's home is in tmp_path
    assert found and all(cache in p.parents for p in found), found
    assert not list(Path("/tmp").glob("escaped-*"))


def test_cli_artifact_get_of_names_like_paths_writes_only_inside_dest(cli, tmp_path):
    tid = cli.task("cve/cli", f"names-{_uid()}")
    for i, (name, fname) in enumerate(zip(EVIL_NAMES, EVIL_FILE_NAMES, strict=True)):
        if "/" in name:
            continue  # the CLI asks the API by name, whose router cannot take a slash
        _artifact_row(cli.live, tid, name, f"payload {i}".encode(), file_name=fname)
    _artifact_row(cli.live, tid, "benign", b"payload b", file_name="../../../escaped-cli")
    _artifact_row(cli.live, tid, "absolute", b"payload a", file_name="/tmp/escaped-cliabs")
    outer = tmp_path / "outer"
    dest = outer / "inner" / "dest"
    dest.mkdir(parents=True)
    names = [n for n in EVIL_NAMES if "/" not in n] + ["benign", "absolute"]
    for name in names:
        # ".." included: the client sends the segment as it is, so the artifact named ".."
        # is the one fetched (and it must land inside dest like the others)
        result = cli("artifact", "get", tid, name, str(dest) + "/")
        assert result.exit_code == 0, (name, result.stdout, result.stderr)
    inside = sorted(p.name for p in dest.iterdir())
    assert inside and all(p.read_bytes().startswith(b"payload") for p in dest.iterdir()), inside
    outside = [p for p in outer.rglob("*") if p.is_file() and dest not in p.parents]
    assert outside == []
    assert {p.name for p in files_named(tmp_path, "escaped-")} == {
        "escaped-fnbs", "escaped-cli", "escaped-cliabs"}
    assert all(p.parent == dest for p in files_named(tmp_path, "escaped-"))
    assert not list(Path("/tmp").glob("escaped-cli*"))
    # a name that would escape through the API path: not found, nothing written
    result = cli("artifact", "get", tid, "../../escaped-name", str(dest) + "/")
    assert result.exit_code == 1
    assert not list(Path("/tmp").glob("escaped-*"))


BAD_DATASET_PATHS = ["../escaped-ds.txt", "../../../escaped-ds.txt", "/tmp/escaped-dsabs.txt",
                     "a/../../escaped-ds.txt", "a\\..\\..\\escaped-ds.txt", "C:/escaped-ds.txt",
                     "./../escaped-ds.txt", "a//../../escaped-ds.txt"]


def _tamper_manifest(live: LiveServer, vid: str, bad: str) -> None:
    """Give the version a stored manifest that lists ``bad``, as a compromised server or store
    would: the server itself refuses such a manifest on upload."""
    svc = live.services
    doc = json.loads(svc.datasets.manifest_json(vid))
    real = next(f for f in doc["files"] if not f["path"].startswith(("..", "/")) and
                "\\" not in f["path"] and ":" not in f["path"] and "//" not in f["path"])
    doc["files"] = [f for f in doc["files"] if f is real or f["path"] == real["path"]]
    doc["files"].append({**real, "path": bad})
    blob = zstandard.ZstdCompressor().compress(json.dumps(doc).encode())
    h = svc.store.put_bytes(blob).hash
    with svc.db.write() as s:
        s.get(DatasetVersionRow, vid).manifest_hash = h


def test_dataset_download_with_a_manifest_path_escaping_writes_nothing_outside(
        sdk, cli, tmp_path):
    live = sdk
    src = tmp_path / "src"
    src.mkdir()
    (src / "real.txt").write_text("real content")
    ds = Dataset.create(dataset_name=f"escape-{_uid()}", dataset_project="cve/ds")
    ds.add_files(src)
    ds.finalize(auto_upload=True)
    work = tmp_path / "work"
    for bad in BAD_DATASET_PATHS:
        _tamper_manifest(live, ds.id, bad)
        served = json.loads(live.services.datasets.manifest_json(ds.id))["files"]
        assert bad in [f["path"] for f in served]
        got = Dataset.get(dataset_id=ds.id)
        with pytest.raises(InvalidInput):
            got.get_local_copy()
        target = work / "deep" / "target"
        with pytest.raises(InvalidInput):
            got.get_mutable_local_copy(target, overwrite=True)
        result = cli("data", "get", "--id", ds.id, "--copy", str(work / "deep" / "cli"))
        assert result.exit_code == 1, (bad, result.stdout, result.stderr)
        assert files_named(tmp_path, "escaped-") == [], bad
        assert not list(Path("/tmp").glob("escaped-ds*")), bad
        assert not Path("C:").exists()


# ---- unsafe loading (CVE-2024-37052..37060, CVE-2024-24590) ----------------------------------


class Payload:
    """What an attacker pickles: loading it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def _as_user(monkeypatch: pytest.MonkeyPatch, live: LiveServer, key: str, secret: str,
             home: Path) -> None:
    current = Task.current_task()
    if current is not None:
        current.close()
    monkeypatch.setenv("ARNO_HOME", str(home))
    monkeypatch.setenv("ARNO_API_KEY", key)
    monkeypatch.setenv("ARNO_API_SECRET", secret)
    set_session(None)


def test_loading_another_users_pickled_artifact_runs_no_code_without_allow_pickle(
        sdk, tmp_path, monkeypatch):
    live = sdk
    attacker = live.user(f"attacker-{_uid()}")
    victim = live.user(f"victim-{_uid()}")
    marker = tmp_path / "marker-code-ran"
    _as_user(monkeypatch, live, *attacker, tmp_path / "attacker-home")
    task = Task.init(project_name="cve/pickle", task_name=f"poisoned-{_uid()}")
    task.upload_artifact("model", artifact_object=Payload(marker))
    task.upload_artifact("objects", artifact_object=np.array([Payload(marker), 1], dtype=object))
    session = _context.session()
    pickled = (tmp_path / "evil.pkl")
    import pickle

    pickled.write_bytes(pickle.dumps(Payload(marker)))
    evil_npy = tmp_path / "evil.npy"
    np.save(evil_npy, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    disguised = {  # a pickle uploaded under every type the SDK decodes (and some it does not)
        "as-numpy": ("numpy", evil_npy), "as-pandas": ("pandas", pickled),
        "as-image": ("image", pickled), "as-json": ("json", pickled),
        "as-text": ("text", pickled), "as-folder": ("folder", pickled),
        "as-joblib": ("joblib", pickled), "as-torch": ("torch", pickled),
    }
    for name, (type_, path) in disguised.items():
        h, _ = session.upload_file(path)
        session.put(f"tasks/{task.id}/artifacts/{name}", {"type": type_, "hash": h,
                                                          "file_name": path.name})
    task.mark_completed()
    task.close()
    assert not marker.exists()  # pickling it ran nothing

    # the server shows the artifacts (previews) without loading any of them
    with live.client(*victim) as c:
        page = c.get(f"/tasks/{task.id}", params={"tab": "artifacts"},
                     headers={"Accept": "text/html"})
        assert page.status_code == 200
    assert not marker.exists()

    _as_user(monkeypatch, live, *victim, tmp_path / "victim-home")
    arts = Task.get_task(task_id=task.id).artifacts
    assert arts["model"].type == "pickle" and arts["objects"].type == "pickle"
    for name in ("model", "objects"):
        with pytest.raises(Forbidden, match="allow_pickle=True"):
            arts[name].get()
        assert not marker.exists(), name
    for name in disguised:
        with pytest.raises((ArnoError, ValueError, OSError, UnicodeDecodeError,
                            zipfile.BadZipFile, Exception)):
            value = arts[name].get()
            # a loader that returned something must not have run the payload either
            assert not marker.exists(), name
            raise ValueError(f"{name} decoded to {type(value).__name__}")
        assert not marker.exists(), name
        # allow_pickle opts in to pickles only: a file that claims another type stays inert
        try:
            arts[name].get(allow_pickle=True)
        except Exception:
            pass
        assert not marker.exists(), f"{name} ran code with allow_pickle=True"
    # the local copy is only bytes on disk: getting it runs nothing
    assert Path(arts["model"].get_local_copy()).is_file()
    assert not marker.exists()

    # the explicit opt-in does load a pickle (and so runs its code: the user chose to)
    arts["model"].get(allow_pickle=True)
    assert marker.read_text() == "code ran"
    marker.unlink()
    arts["objects"].get(allow_pickle=True)
    assert marker.exists()


# ---- stored XSS (CVE-2024-24592/24593 class) -------------------------------------------------

XSS = ("<script>alert('xss')</script><img src=x onerror=alert('xss')>"
       "\" autofocus onfocus=alert(1) x=\"")
JS_URL = "javascript:alert('xss')"
RAW_MARKERS = ["<script>alert", "<img src=x onerror", '" autofocus onfocus']
JS_ATTR = re.compile(r"""(?:href|src|action|formaction|data)\s*=\s*["']?\s*javascript:""", re.I)


def assert_escaped(html: str, where: str) -> None:
    for raw in RAW_MARKERS:
        assert raw not in html, (where, raw, html[max(0, html.find(raw) - 200):][:400])
    assert not JS_ATTR.search(html), (where, JS_ATTR.search(html))


@pytest.fixture(scope="module")
def xss_world(sqlite_server: LiveServer) -> dict[str, Any]:
    """Every free-form field the UI shows, filled with markup by a user who may write it."""
    live = sqlite_server
    key = live.user(f"xss-{_uid()}")
    now = time.time()
    with live.client(*key) as c:
        project = f"xss-{_uid()}/{XSS}"
        r = c.post("/api/v1/tasks", json={
            "project": project, "name": f"task {XSS}", "tags": [f"tag{XSS}"[:64], JS_URL],
            "comment": f"comment {XSS} {JS_URL}",
            "hyperparams": [{"section": f"Sec{XSS}"[:128], "name": f"p{XSS}"[:128],
                             "value": f"v{XSS}", "type": "str", "description": XSS}],
            "configurations": [{"name": f"cfg{XSS}"[:128], "value": f"cv{XSS}",
                                "type": "text", "description": XSS}],
            "user_properties": {f"k{XSS}": f"v{XSS}", "link": JS_URL},
            "script": {"repository": JS_URL, "branch": XSS, "entry_point": XSS,
                       "diff": XSS, "working_dir": XSS},
        })
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        batch = {
            "batch_id": uuid.uuid4().hex,
            "scalars": [{"metric": f"m{XSS}"[:200], "variant": f"v{XSS}"[:200],
                         "iterations": [0, 1], "values": [1.0, 2.0],
                         "timestamps": [now, now]}],
            "single_values": [{"name": f"sv{XSS}"[:200], "value": 1.0, "timestamp": now}],
            "plots": [{"metric": f"plot{XSS}"[:200], "variant": f"pv{XSS}"[:200],
                       "timestamp": now, "figure": {
                           "data": [{"type": "scatter", "x": [1], "y": [1], "name": XSS}],
                           "layout": {"title": {"text": f"<a href='{JS_URL}'>t</a>{XSS}"}}}}],
            "debug_samples": [{"metric": f"ds{XSS}"[:200], "variant": f"dv{XSS}"[:200],
                               "kind": "image", "url": JS_URL, "timestamp": now},
                              {"metric": "link", "variant": "html", "kind": "html",
                               "url": JS_URL, "timestamp": now}],
            "console": [{"text": f"console {XSS}\n", "timestamp": now, "stream": "stdout"},
                        {"text": f"err {XSS}\n", "timestamp": now, "stream": "stderr"}],
        }
        r = c.post(f"/api/v1/tasks/{tid}/events", json=batch)
        assert r.status_code == 200, r.text
        from arno.blobstore.hashing import hash_bytes

        preview_text = f"col{XSS}\n{XSS}\n".encode()
        h = hash_bytes(preview_text)
        c.put(f"/api/v1/blobs/{h}", content=preview_text)
        for name, type_ in (("text", "text"), ("table", "file")):
            slashless = name + XSS.replace("/", "")  # a name with "/" cannot reach the route
            r = c.put(f"/api/v1/tasks/{tid}/artifacts/{quote(slashless, safe='')}", json={
                "type": type_, "hash": h, "file_name": f"f{XSS}.csv",
                "preview": f"preview {XSS}", "metadata": {"k": XSS}})
            assert r.status_code == 200, r.text
        r = c.put(f"/api/v1/tasks/{tid}/artifacts/external", json={
            "type": "file", "uri": JS_URL, "preview": XSS})
        assert r.status_code in (200, 422), r.text
        r = c.post("/api/v1/workers", json={"id": f"w-{_uid()}", "host": f"host{XSS}",
                                            "queues": ["default"], "info": {"x": XSS}})
        assert r.status_code == 200, r.text
        c.post(f"/api/v1/workers/{r.json()['id']}/heartbeat", json={"stats": {"host": XSS}})
        key_label = c.post("/api/v1/keys", json={"label": f"label{XSS}"[:256]})
        assert key_label.status_code == 201, key_label.text
    vid = _xss_dataset(live, key)
    with live.client() as admin:
        dsid = admin.get(f"/api/v1/datasets/{vid}").json()["dataset_id"]
    return {"task": tid, "version": vid, "dataset": dsid, "key": key, "project": project}


def _xss_dataset(live: LiveServer, key: tuple[str, str]) -> str:
    from arno.client._session import ApiSession

    previous = _context._session
    set_session(ApiSession(live.url, *key))
    try:
        import tempfile

        src = Path(tempfile.mkdtemp(prefix="arno-xss-"))
        table = f"name,value\n\"{XSS}\",1\n".encode()
        (src / "table.csv").write_bytes(table)
        (src / "notes.txt").write_text(f"notes {XSS}")
        (src / "page.html").write_text(f"<html><body>{XSS}</body></html>")
        (src / "sub<img src=x onerror=alert(1)>").mkdir()
        (src / "sub<img src=x onerror=alert(1)>" / "in.txt").write_text("in")
        ds = Dataset.create(dataset_name=f"ds{XSS}", dataset_project=f"xssdata/{XSS}",
                            dataset_tags=[f"t{XSS}"[:64]], description=XSS)
        ds.add_files(src)
        ds.finalize(auto_upload=True)
        return ds.id
    finally:
        set_session(previous)


def xss_pages(w: dict[str, Any]) -> list[str]:
    tid, vid, dsid = w["task"], w["version"], w["dataset"]
    pages = ["/", "/projects", "/tasks", f"/tasks?project={quote(w['project'])}",
             f"/tasks?search={quote(XSS)}", f"/tasks?tag={quote(XSS)}",
             f"/compare?ids={tid}", "/datasets", f"/datasets?q={quote(XSS)}",
             f"/datasets/{dsid}", f"/datasets/versions/{vid}",
             f"/datasets/versions/{vid}?prefix={quote('sub<img src=x onerror=alert(1)>/')}",
             "/workers", "/settings"]
    pages += [f"/tasks/{tid}?tab={t}" for t in ("execution", "configuration", "artifacts",
                                                "info", "console", "scalars", "plots",
                                                "debug")]
    pages += [f"/tasks/{tid}?tab=console&q={quote(XSS)}"]
    pages += [f"/datasets/versions/{vid}/preview?path={quote(p)}"
              for p in ("table.csv", "notes.txt", "page.html")]
    return pages


def test_stored_xss_in_every_field_is_escaped_on_every_page(sqlite_server, xss_world):
    live = sqlite_server
    client = login_client(live.url, *_password_user(live))
    shown = 0
    try:
        for page in xss_pages(xss_world):
            r = client.get(page)
            assert r.status_code == 200, (page, r.status_code, r.text[:300])
            assert_escaped(r.text, page)
            shown += r.text.count("&lt;script&gt;alert") + r.text.count("\\u003cscript")
        # a signed-in visit to the login form goes to a page of this site only
        r = client.get(f"/login?next={quote(JS_URL)}")
        assert r.status_code == 303 and r.headers["location"] == "/", r.headers
        for nxt in (JS_URL, XSS, "//evil.example/", "https://evil.example/"):
            r = httpx.get(live.url + "/login", params={"next": nxt})
            assert r.status_code == 200
            assert_escaped(r.text, f"/login?next={nxt}")
            assert "evil.example" not in r.text
        # the JSON the pages load is JSON, never HTML
        tid = xss_world["task"]
        for api in (f"/api/v1/tasks/{tid}/plots", f"/api/v1/tasks/{tid}/console",
                    f"/api/v1/tasks/{tid}/debug_samples", f"/tasks/live.json?ids={tid}",
                    "/tasks/columns.json"):
            r = client.get(api, headers={"Accept": "application/json"})
            assert r.status_code == 200, api
            assert r.headers["content-type"].startswith("application/json"), api
    finally:
        client.close()
    assert shown > 10  # the payloads were on the pages, escaped


def _password_user(live: LiveServer, prefix: str = "web") -> tuple[str, str]:
    name = f"{prefix}-{_uid()}"
    live.user(name)
    return name, f"{name}-password"


def test_stored_xss_fires_no_dialog_and_injects_no_element_in_chromium(
        sqlite_server, xss_world, browser):  # noqa: F811
    live = sqlite_server
    name, password = _password_user(live, "browser")
    page = browser_login(browser, live.url, name, password)
    hits: list[str] = []
    try:
        for path in xss_pages(xss_world):
            page.goto(live.url + path)
            page.wait_for_load_state("networkidle")
            injected = page.evaluate("""() => {
                const bad = [];
                for (const el of document.querySelectorAll('*')) {
                    for (const a of el.attributes) {
                        const v = (a.value || '').trim().toLowerCase();
                        if (a.name.startsWith('on')) bad.push(el.tagName + '[' + a.name + ']');
                        if (['href', 'src', 'action', 'formaction'].includes(a.name)
                            && v.startsWith('javascript:')) bad.push(el.tagName + ' ' + a.name);
                    }
                }
                for (const s of document.scripts) {
                    if (!s.src && s.type !== 'application/json' && s.textContent.includes('xss'))
                        bad.push('inline script');
                }
                return bad;
            }""")
            if injected:
                hits.append(f"{path}: {injected}")
        assert hits == []
        assert page.arno_dialogs == []
    finally:
        page.context.close()


# ---- CSRF --------------------------------------------------------------------------------------


def test_csrf_cookie_requests_without_the_sessions_token_or_from_a_foreign_origin_change_nothing(
        sqlite_server):
    live = sqlite_server
    alice_name, alice_pw = _password_user(live, "csrf-a")
    bob_name, bob_pw = _password_user(live, "csrf-b")
    alice = login_client(live.url, alice_name, alice_pw)
    bob = login_client(live.url, bob_name, bob_pw)
    try:
        cookie = next(c for c in alice.cookies.jar if c.name == "arno_session")
        assert cookie.has_nonstandard_attr("HttpOnly") or "httponly" in {
            k.lower() for k in cookie._rest}
        assert (cookie.get_nonstandard_attr("SameSite") or "").lower() in ("lax", "strict")
        login_page = httpx.get(live.url + "/login")
        set_cookie = login_page.headers.get("set-cookie", "").lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie
        r = httpx.post(live.url + "/login", data={"username": alice_name,
                                                  "password": alice_pw, "csrf_token": "x"})
        assert r.status_code == 403  # login CSRF: no form cookie, no session

        tid = alice.post("/api/v1/tasks", json={"project": "cve/csrf", "name": "mine"},
                         headers={"X-CSRF-Token": csrf_of(alice.get("/").text)}).json()["id"]
        before = alice.get(f"/api/v1/tasks/{tid}").json()
        keys_before = alice.get("/api/v1/keys").json()
        bob_token = csrf_of(bob.get("/").text)
        evil = {"Origin": "https://evil.example", "Referer": "https://evil.example/page"}
        attempts: list[tuple[str, str, dict[str, Any]]] = []
        for headers in ({}, {"X-CSRF-Token": bob_token}, {"X-CSRF-Token": ""},
                        {"X-CSRF-Token": "0" * 40}, evil):
            attempts += [
                ("PATCH", f"/api/v1/tasks/{tid}", {"json": {"comment": "forged"},
                                                   "headers": headers}),
                ("POST", f"/api/v1/tasks/{tid}/archive", {"json": {}, "headers": headers}),
                ("DELETE", f"/api/v1/tasks/{tid}", {"headers": headers}),
                ("POST", "/api/v1/keys", {"json": {"label": "forged"}, "headers": headers}),
            ]
        for form in ({}, {"csrf_token": bob_token}, {"csrf_token": ""}):
            for headers in ({}, evil):
                attempts += [
                    ("POST", f"/tasks/{tid}/edit", {"data": {"name": "forged", **form},
                                                    "headers": headers}),
                    ("POST", f"/tasks/{tid}/action", {"data": {"action": "archive", **form},
                                                      "headers": headers}),
                    ("POST", "/settings/keys", {"data": {"label": "forged", **form},
                                                "headers": headers}),
                    ("POST", "/settings/password", {"data": {
                        "current": alice_pw, "password": "forged-password", **form},
                        "headers": headers}),
                    ("POST", "/logout", {"data": form, "headers": headers}),
                    ("POST", "/tasks/bulk", {"data": {"ids": tid, "action": "delete",
                                                      **form}, "headers": headers}),
                ]
        for method, path, kw in attempts:
            r = alice.request(method, path, follow_redirects=False, **kw)
            assert r.status_code == 403, (method, path, kw, r.status_code, r.text[:200])
        after = alice.get(f"/api/v1/tasks/{tid}").json()
        assert {k: after[k] for k in ("name", "comment", "archived", "updated_at")} == \
            {k: before[k] for k in ("name", "comment", "archived", "updated_at")}
        assert alice.get("/api/v1/keys").json() == keys_before
        assert alice.get("/settings").status_code == 200  # still signed in: no forged logout
        # the same change with the session's own token goes through (the refusals were CSRF)
        own = csrf_of(alice.get("/").text)
        r = alice.patch(f"/api/v1/tasks/{tid}", json={"comment": "mine"},
                        headers={"X-CSRF-Token": own})
        assert r.status_code == 200 and r.json()["comment"] == "mine"
    finally:
        alice.close()
        bob.close()
    # the password was not changed by the forged form
    login_client(live.url, alice_name, alice_pw).close()


# ---- plaintext secrets (CVE-2024-24594/24595 class) ------------------------------------------


def test_no_password_or_secret_is_stored_logged_or_shown_in_clear(server, caplog, capfd,
                                                                   cli):
    live = server
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = []
    responses: list[str] = []
    with live.client() as admin:
        users = []
        for i in range(3):
            name = f"secret-{i}-{_uid()}"
            password = f"Pw-{uuid.uuid4().hex}"
            r = admin.post("/api/v1/users", json={"username": name, "password": password,
                                                  "role": "admin" if i == 0 else "user"})
            assert r.status_code == 201, r.text
            responses.append(r.text)
            secrets.append(password)
            users.append((name, password))
        made = admin.post("/api/v1/keys", json={"user": users[1][0], "label": "for-1"})
        assert made.status_code == 201
        created_secrets = [made.json()["secret_key"]]
        for name, password in users:
            with httpx.Client(base_url=live.url, auth=(name, password), timeout=30) as u:
                k = u.post("/api/v1/keys", json={"label": "mine"})
                assert k.status_code == 201, k.text
                created_secrets.append(k.json()["secret_key"])
                # a wrong password is not logged either (one failure: far below the limit)
                wrong = f"Wrong-{uuid.uuid4().hex}"
                secrets.append(wrong)
                assert httpx.get(live.url + "/api/v1/me", auth=(name, wrong)).status_code == 401
                for path in ("/api/v1/me", "/api/v1/keys"):
                    responses.append(u.get(path).text)
                key_id = k.json()["id"]
                assert u.delete(f"/api/v1/keys/{key_id}").status_code == 200
        secrets += created_secrets
        secrets.append(live.admin_secret)
        for path in ("/api/v1/users", "/api/v1/keys", "/api/v1/keys?all=true", "/api/v1/me"):
            responses.append(admin.get(path).text)
        # the web pages: settings lists keys, never their secrets
        web = login_client(live.url, *users[2])
        try:
            responses.append(web.get("/settings").text)
            token = csrf_of(web.get("/").text)
            new_pw = f"Pw2-{uuid.uuid4().hex}"
            secrets.append(new_pw)
            r = web.post("/settings/password", data={
                "current": users[2][1], "password": new_pw, "csrf_token": token},
                follow_redirects=False)
            assert r.status_code == 303, r.text[:300]
        finally:
            web.close()
    # creating keys answers the secret once, by design; nothing else does
    for body in responses:
        for s in secrets:
            assert s not in body, "a secret was echoed back"
    logs = caplog.text + "".join(capfd.readouterr())
    for s in secrets:
        assert s not in logs, "a secret was logged"
    # the database: every byte of the SQLite files, every row of every table on PostgreSQL
    url = live.services.settings.resolved_database_url
    if url.startswith("sqlite"):
        db = Path(url.split("sqlite:///", 1)[1])
        blobs = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
        for s in secrets:
            assert s.encode() not in blobs
            assert s.encode("utf-16-le") not in blobs
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            if url.startswith("postgresql"):
                tables = [r[0] for r in conn.execute(text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public'"))]
                dump = "\n".join(str(r[0]) for t in tables for r in conn.execute(
                    text(f'SELECT CAST(t AS text) FROM "{t}" t')))
            else:
                tables = [r[0] for r in conn.execute(text(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"))]
                dump = "\n".join(repr(tuple(r)) for t in tables
                                 for r in conn.execute(text(f'SELECT * FROM "{t}"')))
    finally:
        engine.dispose()
    assert len(tables) > 5 and "argon2" in dump
    for s in secrets:
        assert s not in dump, "a secret is stored in clear"
    # the credentials file the CLI writes is private to its user
    result = cli("login", "--host", cli.live.url, "--key", cli.live.admin_key, "--secret",
                 cli.live.admin_secret)
    assert result.exit_code == 0, result.stderr
    config = cli.home / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.home.stat().st_mode) & 0o077 == 0


def test_arno_up_first_start_writes_a_private_config_and_stores_only_hashes(tmp_path):
    from arno.core.settings import Settings
    from arno.server.bootstrap import ensure_local_admin
    from arno.services.container import Services

    home = tmp_path / "home"
    svc = Services(Settings(home=home))
    try:
        boot = ensure_local_admin(svc, "http://127.0.0.1:1")
        assert boot.created and boot.password
        config = boot.config_path.read_text()
        secret = re.search(r'secret_key\s*=\s*"([^"]+)"', config).group(1)
        assert stat.S_IMODE(boot.config_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        db = b"".join(p.read_bytes() for p in home.glob("arno.db*"))
        assert db and boot.password.encode() not in db and secret.encode() not in db
    finally:
        close = getattr(svc, "close", None)
        if close:
            close()
