"""Offline mode: a whole task recorded to a local folder, uploaded later.

The recorder answers the SDK's requests itself and keeps every change in ``calls.jsonl``
(plus the files of uploaded artifacts under ``blobs/``). ``import_offline_task``
(``_offline_import``) checks the package and replays the log against a real server under a
fresh task id. The folder (or a zip of it) is portable.
"""

from __future__ import annotations

import json
import shutil
import threading
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arno.core.errors import InvalidInput, NotFound
from arno.core.ids import new_id

FORMAT = "arno-offline-task/1"


class _Response:
    """Enough of ``httpx.Response`` for the SDK's callers."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self.content = b"" if body is None else b"1"
        self.status_code = 200

    def json(self) -> Any:
        return self._body


class OfflineSession:
    offline = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = f"offline:{root}"
        self.has_credentials = True
        root.mkdir(parents=True, exist_ok=True)
        (root / "blobs").mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._task: dict[str, Any] | None = None
        self._params: dict[tuple[str, str], dict[str, Any]] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._artifacts: dict[str, dict[str, Any]] = {}
        meta = root / "meta.json"
        if not meta.exists():
            meta.write_text(json.dumps({"format": FORMAT}))

    def _log(self, method: str, path: str, body: Any) -> None:
        line = json.dumps({"method": method, "path": path, "body": body}, separators=(",", ":"))
        with self._lock, (self.root / "calls.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def close(self) -> None:
        pass

    # ---- the ApiSession surface ------------------------------------------------------------
    def request(
        self, method: str, path: str, *, json_body: Any = None, content: bytes | None = None,
        params: Any = None, retry: bool | None = None, headers: dict[str, str] | None = None,
    ) -> _Response:
        body = json_body if json_body is not None else (json.loads(content) if content else None)
        path = path.removeprefix("/api/v1/")
        if method == "GET":
            return _Response(self._get(path))
        return _Response(self._mutate(method, path, body))

    def get(self, path: str, **params: Any) -> Any:
        return self._get(path.removeprefix("/api/v1/"))

    def post(self, path: str, body: Any = None, *, retry: bool | None = None) -> Any:
        return self._mutate("POST", path, body or {})

    def put(self, path: str, body: Any) -> Any:
        return self._mutate("PUT", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self._mutate("PATCH", path, body)

    def delete(self, path: str, **params: Any) -> None:
        self._mutate("DELETE", path, None)

    def _now(self) -> str:
        return datetime.now(UTC).isoformat()

    def _mutate(self, method: str, path: str, body: Any) -> Any:
        if method == "POST" and path == "tasks":
            if self._task is not None:
                raise InvalidInput("an offline session records one task")
            tid = new_id()
            self._task = {
                "id": tid, "project_id": "", "project": body["project"], "name": body["name"],
                "type": body.get("type", "training"), "status": body.get("status", "created"),
                "status_message": "", "tags": body.get("tags", []), "comment": "",
                "archived": False, "parent_id": None, "owner_id": None, "owner": None,
                "created_at": self._now(), "started_at": self._now(), "completed_at": None,
                "updated_at": self._now(), "last_iteration": None,
                "script": body.get("script") or {}, "user_properties": {}, "runtime": {},
            }
            for p in body.get("hyperparams", []):
                self._params[(p["section"], p["name"])] = p
            for c in body.get("configurations", []):
                self._configs[c["name"]] = c
            self._log(method, path, body)
            (self.root / "task.json").write_text(json.dumps({"id": tid}))
            return dict(self._task)
        self._log(method, path, body)
        task = self._task or {}
        if path.endswith("/params") and method == "PUT":
            if body.get("replace"):
                self._params.clear()
            for p in body["params"]:
                self._params[(p["section"], p["name"])] = p
            return list(self._params.values())
        if path.endswith("/configurations"):
            for c in body["items"]:
                self._configs[c["name"]] = c
            return list(self._configs.values())
        if path.endswith("/status"):
            task["status"] = body["status"]
            return dict(task)
        if path.endswith("/archive"):
            task["archived"] = bool(body.get("archived", True))
            return dict(task)
        if path.endswith("/events"):
            return {"batch_id": body["batch_id"], "duplicate": False, "points": 0}
        if "/artifacts/" in path and method == "PUT":
            name = path.rsplit("/", 1)[1]
            art = {"task_id": task.get("id"), "name": name, "size": 0, "created_at": self._now(),
                   **{k: body.get(k) for k in ("type", "mode", "file_name", "content_type",
                                                "hash", "uri", "preview")},
                   "metadata": body.get("metadata", {})}
            self._artifacts[name] = art
            return art
        if method == "PATCH" and path.startswith("tasks/"):
            task.update({k: v for k, v in body.items() if v is not None})
            return dict(task)
        return None

    def _get(self, path: str) -> Any:
        task = self._task or {}
        if path.endswith("/params"):
            return list(self._params.values())
        if path.endswith("/configurations"):
            return list(self._configs.values())
        if path.endswith("/artifacts"):
            return list(self._artifacts.values())
        if path == f"tasks/{task.get('id')}":
            return {**task, "hyperparams": list(self._params.values()),
                    "configurations": list(self._configs.values()), "metrics": []}
        raise NotFound(f"{path} is not available offline")

    def blob_exists(self, hash_: str) -> bool:
        return (self.root / "blobs" / hash_).exists()

    def upload_file(self, path: Path) -> tuple[str, int]:
        from arno.client._session import hash_file

        hash_, size = hash_file(path)
        dest = self.root / "blobs" / hash_
        if not dest.exists():
            shutil.copyfile(path, dest)
        return hash_, size

    def upload_bytes(self, data: bytes) -> tuple[str, int]:
        tmp = self.root / "blobs" / ".incoming"
        tmp.write_bytes(data)
        try:
            return self.upload_file(tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def download_blob(self, hash_: str, dest: Path) -> Path:
        src = self.root / "blobs" / hash_
        if not src.exists():
            raise NotFound(f"blob {hash_} is not in this offline session")
        shutil.copyfile(src, dest)
        return dest

    def package(self) -> Path:
        """Zip the session folder next to it as ``<task id>.zip`` and return the zip's path."""
        target = self.root.parent / f"{self._task['id'] if self._task else self.root.name}.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for item in sorted(self.root.rglob("*")):
                if item.is_file():
                    zf.write(item, item.relative_to(self.root).as_posix())
        return target

