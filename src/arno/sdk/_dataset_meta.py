"""What a dataset version says about itself besides its files: tags, description, publishing,
lineage, where and in how many packs its bytes are stored, links, and checking a local copy
against its manifest."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from arno.client._dataset_download import _locate
from arno.client._dataset_files import EMPTY_HASH, LocalFile, hash_one
from arno.core.errors import ArnoError, Conflict, InvalidInput, NotFound
from arno.sdk import _context

log = logging.getLogger("arno.dataset")

SYSTEM_TAG = "dataset"
"""The tag every version's task carries beside the user's (the server keeps it there)."""


class DatasetMeta:
    _session: Any
    _info: dict[str, Any]
    id: str

    def is_final(self) -> bool:
        raise NotImplementedError

    def _manifest(self, version_id: str | None = None) -> list[Any]:
        raise NotImplementedError

    def _state(self) -> Any:
        raise NotImplementedError

    if TYPE_CHECKING:
        def get_local_copy(self, *args: Any, **kwargs: Any) -> str | None: ...

    def _vid(self) -> str:
        return quote(self.id, safe="")

    # ---- version string, name and project ---------------------------------------------------
    @property
    def version(self) -> str:
        return str(self._info["version"])

    @version.setter
    def version(self, version: str) -> None:
        """Set a draft version's version string (``"2.0.1"``); a finalized version's never
        changes (``Immutable``), and two versions of a dataset never share one (``Conflict``)."""
        if not isinstance(version, str) or not version.strip():
            raise InvalidInput("a dataset version must be a non-empty string")
        self._info = self._session.patch(f"datasets/{self._vid()}/dataset",
                                         {"version": version})

    @classmethod
    def rename(cls, new_dataset_name: str, dataset_project: str, dataset_name: str) -> None:
        """Rename the dataset ``dataset_project``/``dataset_name``: every version of it."""
        if not new_dataset_name:
            raise InvalidInput("Dataset.rename needs new_dataset_name")
        _change(dataset_project, dataset_name, {"name": new_dataset_name})

    @classmethod
    def move_to_project(cls, new_dataset_project: str, dataset_project: str,
                        dataset_name: str) -> None:
        """Move the dataset ``dataset_project``/``dataset_name`` (every version of it) into
        ``new_dataset_project``, created when it does not exist."""
        if not new_dataset_project:
            raise InvalidInput("Dataset.move_to_project needs new_dataset_project")
        _change(dataset_project, dataset_name, {"project": new_dataset_project})

    # ---- tags and description --------------------------------------------------------------
    @property
    def tags(self) -> list[str]:
        return list(self._info.get("tags") or [])

    @tags.setter
    def tags(self, tags: list[str] | str | None) -> None:
        """Replace the version's tags (allowed on a final version too, as in the UI)."""
        new = [tags] if isinstance(tags, str) else list(tags or [])
        if not all(isinstance(t, str) for t in new):
            raise InvalidInput("tags must be strings")
        self._session.patch(f"tasks/{self._vid()}", {"tags": [SYSTEM_TAG, *new]})
        self._info["tags"] = [t for t in dict.fromkeys(new) if t != SYSTEM_TAG]

    def add_tags(self, tags: str | list[str]) -> None:
        """Add tags to the version, keeping those it has."""
        new = [tags] if isinstance(tags, str) else list(tags)
        self.tags = list(dict.fromkeys([*self.tags, *new]))

    def set_description(self, description: str) -> None:
        """Replace the version's description."""
        if not isinstance(description, str):
            raise InvalidInput("description must be a string")
        self._session.patch(f"tasks/{self._vid()}", {"comment": description})
        self._info["description"] = description

    def publish(self, raise_on_error: bool = True) -> bool:
        """Publish a final version: it is marked as the one to use, and can no longer be
        deleted or changed in any way. Returns whether it is published."""
        try:
            if not self.is_final():
                raise Conflict(f"dataset version {self.id} is not finalized; finalize() it "
                               "before publishing")
            status = self._session.get(f"tasks/{self._vid()}").get("status")
            if status != "published":
                self._session.post(f"tasks/{self._vid()}/status", {"status": "published"})
            return True
        except ArnoError:
            if raise_on_error:
                raise
            return False

    # ---- lineage and storage ---------------------------------------------------------------
    def get_dependency_graph(self) -> dict[str, list[str]]:
        """Every version this one descends from, each with its parents:
        ``{"<this id>": ["<parent 1>", ...], "<parent 1>": [...], ...}``."""
        graph: dict[str, list[str]] = {self.id: list(self._info.get("parents") or [])}
        todo = list(graph[self.id])
        while todo:
            vid = todo.pop()
            if vid in graph:
                continue
            try:
                parents = list(self._session.get(f"datasets/{quote(vid, safe='')}")["parents"])
            except NotFound:  # deleted with force: shown without parents
                parents = []
            graph[vid] = parents
            todo.extend(parents)
        return graph

    def get_default_storage(self) -> str:
        """Where the version's files are stored: the Arno server's dataset store."""
        host = str(getattr(self._session, "host", "")).rstrip("/")
        return f"{host}/api/v1/datasets/packs"

    def get_num_chunks(self, include_parents: bool = True) -> int:
        """How many stored packs hold the version's files; without ``include_parents`` only
        those holding the files added or changed in this version."""
        if include_parents:
            entries = self._manifest()
        else:
            diff = self._session.get(f"datasets/{self._vid()}/diff")
            entries = [*diff["added"], *diff["modified"]]
        pieces = list(dict.fromkeys(p for e in entries for p in e.get("pieces") or []))
        if not pieces:
            return 0
        # piece -> [pack, offset, length, size]
        return len({where[0] for where in _locate(self._session, pieces).values()})

    # ---- links -----------------------------------------------------------------------------
    @property
    def link_entries(self) -> list[Any]:
        """The files that are links to storage elsewhere (``add_external_files``)."""
        entries: list[Any] = getattr(self, "file_entries")  # noqa: B009 - defined beside
        return [f for f in entries if f.link]

    @property
    def link_entries_dict(self) -> dict[str, Any]:
        return {f.relative_path: f for f in self.link_entries}

    # ---- checking a local copy ---------------------------------------------------------------
    def verify_dataset_hash(self, local_copy_path: str | None = None, skip_hash: bool = False,
                            verbose: bool = False) -> list[str]:
        """Check a local copy (default: the cached one) against the manifest. Returns the
        dataset paths of the files that are missing or differ, by size only with
        ``skip_hash``. Links are checked only when the copy has them."""
        root = Path(local_copy_path or self.get_local_copy(show_progress=False) or "")
        if not root.is_dir():
            raise InvalidInput(f"{root} is not a folder")
        bad: list[str] = []
        for entry in self._state().entries():
            path = root / entry["path"]
            try:
                size = os.stat(path).st_size
            except OSError:
                bad.append(entry["path"])
                continue
            if entry.get("uri") and not entry.get("hash"):
                continue  # a link whose content was never hashed
            if size != int(entry.get("size") or 0) or (not skip_hash and _hash(path, entry)
                                                        != (entry.get("hash") or EMPTY_HASH)):
                bad.append(entry["path"])
        if verbose:
            for path in bad:
                log.warning("dataset %s: %s does not match its manifest", self.id, path)
        return bad


def _change(project: str, name: str, body: dict[str, str]) -> None:
    """Apply ``body`` to the dataset ``project``/``name`` through any one of its versions."""
    if not project or not name:
        raise InvalidInput("name the dataset by dataset_project and dataset_name")
    session = _context.session()
    rows = [r for r in session.get("datasets", project=project, name=name, limit=500)
            if r["name"] == name]
    exact = [r for r in rows if r["project"] == project.strip("/")]
    if not exact and len({r["dataset_id"] for r in rows}) == 1:
        exact = rows  # the project named differently (spaces, slashes) but only one match
    if not exact:
        raise NotFound(f"no dataset {name!r} in project {project!r}")
    session.patch(f"datasets/{quote(exact[0]['id'], safe='')}/dataset", body)


def _hash(path: Path, entry: dict[str, Any]) -> str:
    st = path.stat()
    return hash_one(LocalFile(entry["path"], str(path), st.st_size, st.st_mtime_ns)).hash
