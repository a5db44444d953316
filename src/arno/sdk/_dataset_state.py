"""A draft dataset version as it is being edited here: its files (inherited and added), where
the added ones are read from, and whether it has changes the server has not seen.

The state is kept in ``$ARNO_HOME/datasets/drafts/<id>.json`` while it has such changes, so
that ``arno data add`` and ``arno data upload`` can run as separate commands, and a script that
stopped can go on with ``Dataset.get(id, only_completed=False)``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from arno.client._dataset_files import (
    Entry,
    HashedFile,
    LocalFile,
    clean_folder,
    hash_one,
    join_dataset_path,
    matches,
    piece_spans,
    run_all,
)
from arno.core.errors import InvalidInput

log = logging.getLogger("arno.dataset")

EXTERNAL_SCHEMES = ("s3", "gs", "azure", "az", "http", "https", "file")


class Working:
    def __init__(self, files: dict[str, Entry], sources: dict[str, dict[str, Any]] | None = None,
                 dirty: bool = False) -> None:
        self.files = files
        self.sources = sources or {}
        """dataset path -> {"source", "mtime_ns", "lengths"} for files added here."""
        self.dirty = dirty

    # ---- persistence -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> Working | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return cls({e["path"]: e for e in data["files"]}, data.get("sources") or {}, dirty=True)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps({"files": self.entries(), "sources": self.sources},
                                  separators=(",", ":")))
        os.replace(tmp, path)

    # ---- reading -----------------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        return [self.files[p] for p in sorted(self.files)]

    def spans(self) -> dict[str, tuple[str, int, int]]:
        return piece_spans((self.files[p], src) for p, src in self.sources.items()
                           if p in self.files)

    def check_sources(self) -> None:
        """Every file added here is still as it was when it was hashed."""
        for path, src in self.sources.items():
            entry = self.files.get(path)
            if entry is None:
                continue
            try:
                st = os.stat(src["source"])
            except OSError as exc:
                raise InvalidInput(f"{src['source']} (added as {path!r}) cannot be read: "
                                   f"{exc.strerror}") from None
            if st.st_size != entry["size"] or st.st_mtime_ns != src["mtime_ns"]:
                raise InvalidInput(f"{src['source']} changed since it was added as {path!r}; "
                                   "add it again")

    # ---- changing ----------------------------------------------------------------------------
    def add(self, hashed: list[HashedFile]) -> int:
        """Add or replace files; returns how many were new or changed. Nothing is added when
        one path clashes with a file or folder of the dataset."""
        self._check_clashes([h.path for h in hashed])
        changed = 0
        for h in hashed:
            old = self.files.get(h.path)
            if old is not None and not old.get("uri") and old["hash"] == h.hash:
                continue
            self.files[h.path] = h.entry()
            if h.pieces:
                self.sources[h.path] = h.source_info()
            else:
                self.sources.pop(h.path, None)
            changed += 1
        self.dirty = self.dirty or changed > 0
        return changed

    def link(self, entries: list[Entry]) -> int:
        self._check_clashes([e["path"] for e in entries])
        for e in entries:
            self.files[e["path"]] = e
            self.sources.pop(e["path"], None)
        self.dirty = self.dirty or bool(entries)
        return len(entries)

    def remove(self, pattern: str, recursive: bool = True) -> int:
        gone = [p for p in self.files if matches(p, pattern, recursive)]
        for p in gone:
            del self.files[p]
            self.sources.pop(p, None)
        self.dirty = self.dirty or bool(gone)
        return len(gone)

    def sync(self, hashed: list[HashedFile], folder: str | None) -> tuple[int, int, int]:
        """Mirror a local folder into dataset ``folder``: ``(removed, added, modified)``."""
        prefix = clean_folder(folder)
        present = {h.path for h in hashed}
        trial = Working(dict(self.files), dict(self.sources), self.dirty)  # all or nothing
        stale = [p for p in trial.files
                 if (not prefix or p.startswith(prefix + "/")) and p not in present]
        for p in stale:
            del trial.files[p]
            trial.sources.pop(p, None)
        added = sum(1 for h in hashed if h.path not in trial.files)
        changed = trial.add(hashed)
        self.files, self.sources = trial.files, trial.sources
        self.dirty = trial.dirty or bool(stale)
        return len(stale), added, changed - added

    def _check_clashes(self, paths: list[str]) -> None:
        new = set(paths)
        keep = [p for p in self.files if p not in new]
        folders = {p.rsplit("/", i)[0] for p in (*keep, *paths) for i in range(1, p.count("/") + 1)}
        for p in paths:
            if p in folders:
                raise InvalidInput(f"cannot add {p!r}: the dataset has a folder of that name")
        files = set(keep) | new
        for f in folders:
            if f in files:
                raise InvalidInput(f"cannot add under {f!r}: the dataset has a file of that name")


def diff(base: dict[str, Entry], files: dict[str, Entry]) -> dict[str, list[Entry]]:
    """``{"added", "modified", "removed"}`` going from ``base`` to ``files``."""
    added = [files[p] for p in sorted(files) if p not in base]
    modified = [files[p] for p in sorted(files) if p in base and _differs(base[p], files[p])]
    removed = [base[p] for p in sorted(base) if p not in files]
    return {"added": added, "modified": modified, "removed": removed}


def _differs(a: Entry, b: Entry) -> bool:
    return (a.get("hash"), a.get("uri"), a.get("size")) != (b.get("hash"), b.get("uri"),
                                                            b.get("size"))


def merge(manifests: list[list[Entry]]) -> dict[str, Entry]:
    """Parents merged in order: a later one wins on the same path."""
    out: dict[str, Entry] = {}
    for files in manifests:
        for e in files:
            out[e["path"]] = e
    return out


def external_entries(urls: list[str], dataset_path: str | None) -> list[Entry]:
    """Manifest entries for links (no pieces: the bytes stay where the link points)."""
    entries: list[Entry] = []
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in EXTERNAL_SCHEMES:
            raise InvalidInput(f"{url!r} is not a link Arno can fetch "
                               f"({', '.join(EXTERNAL_SCHEMES)})")
        name = PurePosixPath(parsed.path).name
        if not name:
            raise InvalidInput(f"{url!r} does not name a file")
        size = 0
        if parsed.scheme == "file":
            local = Path(parsed.path)
            if not local.is_file():
                raise InvalidInput(f"no file at {url}")
            size = local.stat().st_size
        entries.append({"path": join_dataset_path(dataset_path, name), "size": size,
                        "hash": "", "pieces": [], "uri": url})
    return entries


def hash_links(entries: list[Entry], fetch: Callable[[str], Path], workers: int | None) -> None:
    """Read each linked file once (through ``fetch``, which returns a local copy) and record
    its size and content hash in its entry."""
    def one(entry: Entry) -> None:
        local = fetch(str(entry["uri"]))
        st = local.stat()
        hashed = hash_one(LocalFile(entry["path"], str(local), st.st_size, st.st_mtime_ns))
        entry["size"], entry["hash"] = hashed.size, hashed.hash

    run_all(one, entries, workers or 4, "arno-link-hash")


def upload_as_links(state: Working, base_url: str) -> None:
    """Copy the files added to ``state`` to ``<base_url>/<dataset path>`` and make their
    entries links to those copies (size and hash kept)."""
    from arno.sdk._storage import StorageManager

    for path in sorted(state.sources):
        entry = state.files.get(path)
        if entry is None:
            continue
        url = f"{base_url}/{path}"
        StorageManager.upload_file(state.sources[path]["source"], url)
        state.files[path] = {"path": path, "size": entry["size"], "hash": entry["hash"],
                             "pieces": [], "uri": url}
    state.sources.clear()


def delete_links(urls: list[str]) -> None:
    """Delete the files at these URLs; one that cannot be deleted is a warning."""
    if not urls:
        return
    import fsspec

    for url in urls:
        try:
            if urlparse(url).scheme in ("http", "https"):
                raise InvalidInput("files behind http(s) links cannot be deleted from here")
            fs, path = fsspec.core.url_to_fs(url)
            fs.rm(path)
        except Exception as exc:
            log.warning("the linked file %s was not deleted: %s", url, exc)
