"""Hand-made offline task packages, shaped as ``OfflineSession`` writes them, for the tests of
what ``import_offline_task`` refuses."""

from __future__ import annotations

import json
import zipfile

OLD_ID = "ab" * 16


def craft_package(path, calls, *, blobs=None, extra=None, task_id=OLD_ID, create=None):
    """A zip shaped like an offline package: a genuine task creation, then ``calls``."""
    create = {"method": "POST", "path": "tasks",
              "body": {"project": "offline/crafted", "name": "crafted",
                       "status": "in_progress", **(create or {})}}
    lines = [create, *calls]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.json", json.dumps({"format": "arno-offline-task/1"}))
        zf.writestr("task.json", json.dumps({"id": task_id}))
        zf.writestr("calls.jsonl", "".join(json.dumps(c) + "\n" for c in lines))
        for name, data in (blobs or {}).items():
            zf.writestr(f"blobs/{name}", data)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path
