"""Folders: ``upload_folder`` and ``download_folder``, a file at a time on a few threads."""

from __future__ import annotations

import fnmatch
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from arno.core.errors import ArnoError, InvalidInput
from arno.sdk._storage.backends import Backend, retrying

log = logging.getLogger("arno.storage")


def _join(url: str, rel: str) -> str:
    return url.rstrip("/") + "/" + rel if url else rel


def upload_folder(backend: Backend, folder: Path, url: str, match_wildcard: str | None,
                  attempts: int) -> str:
    files = sorted(p for p in folder.rglob(match_wildcard or "*") if p.is_file())
    rels = [p.relative_to(folder).as_posix() for p in files]
    from arno.sdk._storage.arno_store import ArnoBackend

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 4)) as pool:
        if isinstance(backend, ArnoBackend):
            session = backend.session
            hashes = list(pool.map(lambda p: retrying(attempts, lambda: session.upload_file(p)),
                                   files))
            return backend.put_tree(dict(zip(rels, hashes, strict=True)))
        if url.startswith("file://") or "://" not in url:
            from arno.sdk._storage.backends import local_path

            base = str(local_path(url))
            targets = [str(Path(base, rel)) for rel in rels]
        else:
            targets = [_join(url, rel) for rel in rels]
        list(pool.map(lambda pt: retrying(attempts, lambda: backend.put(pt[0], pt[1])),
                      zip(files, targets, strict=True)))
    return url


def download_folder(backend: Backend, url: str, folder: Path, match_wildcard: str | None,
                    overwrite: bool, skip_zero_size_check: bool, silence_errors: bool,
                    max_workers: int | None) -> str:
    from arno.sdk._storage.manager import _download_to, _inside

    if max_workers is not None and max_workers < 1:
        raise InvalidInput("max_workers must be at least 1")
    items = [i for i in backend.walk(url)
             if not match_wildcard or fnmatch.fnmatch(i.url, match_wildcard)]
    targets = [_inside(folder, i.name, i.url) for i in items]  # all checked before any write
    folder.mkdir(parents=True, exist_ok=True)

    def one(pair: tuple[Any, Path]) -> None:
        item, target = pair
        try:
            _download_to(backend, item.url, target, overwrite, skip_zero_size_check)
        except ArnoError:
            if not silence_errors:
                raise
            log.warning("download of %s failed", item.url, exc_info=True)

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        list(pool.map(one, zip(items, targets, strict=True)))
    if not items and not silence_errors:
        log.warning("nothing to download under %s%s", url,
                    f" matching {match_wildcard}" if match_wildcard else "")
    return str(folder)
