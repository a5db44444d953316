"""A model's weights as bytes: sent to the server as pieces of the content store datasets use
(cut by content-defined chunking, so a new version of a large file sends only the pieces that
changed) and written back into a folder, every piece checked against its hash on the way.

Downloads go to ``<home>/cache/models/<key>/`` by default (``key``: the model's weights hash),
built in a private staging folder and renamed into place when whole: a copy found there is
complete and is reused; a damaged piece leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import Any

from blake3 import blake3

from arno.client._dataset_download import materialize
from arno.client._dataset_files import Entry, LocalFile, check_path, hash_one, piece_spans
from arno.client._dataset_upload import UploadStats, send_pieces
from arno.core.errors import InvalidInput

CACHE_DIR = Path("cache") / "models"
"""Where downloaded weights go, under the client's home."""


def local_weights(path: str | os.PathLike[str], name: str) -> LocalFile:
    """``path`` as a weights file stored under ``name``; InvalidInput naming the path when it
    is missing or not a regular file (before anything is sent)."""
    source = Path(path).expanduser()
    if not source.exists():
        raise InvalidInput(f"weights file not found: {source}")
    if not source.is_file():
        raise InvalidInput(f"weights file {source} is not a regular file")
    st = source.stat()
    return LocalFile(check_path(name), str(source.absolute()), st.st_size, st.st_mtime_ns)


def package_files(folder: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(local path, name in the package)`` of every file under ``folder``."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise InvalidInput(f"weights folder not found: {root}")
    out: list[tuple[str, str]] = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            full = Path(dirpath) / name
            out.append((str(full), full.relative_to(root).as_posix()))
    if not out:
        raise InvalidInput(f"weights folder {root} holds no files")
    return out


def upload_weights(session: Any, paths: list[tuple[str, str]], *,
                   stats: UploadStats | None = None) -> list[Entry]:
    """Send the pieces of ``paths`` (``(local path, name in the package)``) the server lacks;
    returns the files' manifest entries for ``PUT /models/{id}/weights``. ``stats``, when
    given, is filled with what was sent."""
    if not paths:
        raise InvalidInput("no weights files given")
    items = [local_weights(p, name) for p, name in paths]  # every file checked first
    names = [i.path for i in items]
    if len(set(names)) != len(names):
        raise InvalidInput(f"two weights files are both named {_first_twice(names)!r}")
    hashed = [hash_one(item) for item in items]
    spans = piece_spans((h.entry(), h.source_info()) for h in hashed)
    sent = send_pieces(session, spans)
    if stats is not None:
        stats.pieces, stats.packs = sent.pieces, sent.packs
        stats.raw_bytes, stats.pack_bytes = sent.raw_bytes, sent.pack_bytes
    return [h.entry() for h in hashed]


def _first_twice(names: list[str]) -> str:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            return n
        seen.add(n)
    return ""


def weights_key(files: list[Entry]) -> str:
    """A name for a set of weights files: the file's hash for one, else a hash of the list."""
    if len(files) == 1:
        return str(files[0]["hash"])
    text = "\n".join(f"{f['path']}\0{f['hash']}" for f in sorted(files, key=lambda f: f["path"]))
    return blake3(text.encode()).hexdigest()


def _complete(folder: Path, files: list[Entry]) -> bool:
    for f in files:
        p = folder / f["path"]
        if not p.is_file() or p.stat().st_size != int(f.get("size") or 0):
            return False
    return True


def _result(folder: Path, files: list[Entry], package: bool) -> Path:
    return folder if package else folder / files[0]["path"]


def cache_root(home: Path) -> Path:
    return home / CACHE_DIR


def download_weights(session: Any, files: list[Entry], dest_dir: Path | None = None, *,
                     home: Path | None = None, key: str | None = None,
                     package: bool | None = None, force: bool = False) -> Path:
    """Write the weights ``files`` into ``dest_dir`` (default: the cache folder
    ``<home>/cache/models/<key>``), verified piece by piece. Returns the file for a single
    file, else the folder. A complete cached copy is reused unless ``force``."""
    if not files:
        raise InvalidInput("the model has no stored weights files")
    is_package = len(files) > 1 if package is None else package
    if dest_dir is not None:
        materialize(session, files, Path(dest_dir))
        return _result(Path(dest_dir), files, is_package)
    if home is None:
        from arno.client._config import load_config

        home = load_config().home
    root = cache_root(home)
    final = root / (key or weights_key(files))
    if final.is_dir() and not force and _complete(final, files):
        return _result(final, files, is_package)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = root / f".staging-{uuid.uuid4().hex}"
    staging.mkdir(mode=0o700)
    try:
        # written in place: the staging folder as a whole is what appears, renamed when whole
        materialize(session, files, staging, atomic=False)
        if final.exists():
            _rmtree(final)
        os.replace(staging, final)
    finally:
        if staging.exists():
            _rmtree(staging)
    return _result(final, files, is_package)


def _rmtree(root: Path) -> None:
    for dirpath, _dirs, _files in os.walk(root):
        try:
            os.chmod(dirpath, stat.S_IRWXU)
        except OSError:
            pass
    shutil.rmtree(root, ignore_errors=True)
