"""The Arno file store as ``StorageManager`` sees it: ``arno://`` URLs over the server's
content-addressed blobs.

Two kinds of address, both named by a BLAKE3 hash, so a URL always means the same bytes:

- ``arno://blobs/<hash>/<name>``: one file (``<name>`` is what a local copy is called; the
  older ``arno://blobs/<hash>``, used by debug samples, is read the same way).
- ``arno://trees/<hash>[/<path>]``: a folder stored by ``upload_folder``. ``<hash>`` is the blob
  of a JSON manifest (``{"format": "arno-tree/1", "files": {path: {"hash", "size"}}}``);
  ``<path>`` names a file in it, or a prefix for ``list`` and ``download_folder``.

Every download is checked against its hash by the client session; a manifest is read once and
kept in the local cache (it cannot change: its name is its hash).
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlparse

from arno.core.errors import InvalidInput, NotFound
from arno.sdk._storage.backends import Listed, Stat

SCHEME = "arno://"
TREE_FORMAT = "arno-tree/1"
MAX_MANIFEST_BYTES = 64 << 20
_HASH = re.compile(r"[0-9a-f]{64}")


def _check_hash(url: str, value: str) -> str:
    if not _HASH.fullmatch(value):
        raise InvalidInput(f"{url}: {value!r} is not a content hash (64 hex digits)")
    return value


def check_tree_path(url: str, path: str) -> str:
    """A path inside a tree: relative, no ``..``, no empty parts."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or (
            "\\" in path):
        raise InvalidInput(f"{url}: {path!r} is not a relative path inside the folder")
    return path


class ArnoUrl:
    """``arno://<kind>/<hash>[/<rest>]`` taken apart."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.url = url
        self.kind = parsed.netloc
        parts = unquote(parsed.path).lstrip("/").split("/", 1)
        if self.kind not in ("blobs", "trees") or not parts[0]:
            raise InvalidInput(
                f"{url} is not an address in the Arno file store: those read "
                "arno://blobs/<hash>/<name> (a file) or arno://trees/<hash>/<path> (a folder)")
        self.hash = _check_hash(url, parts[0])
        self.rest = parts[1] if len(parts) > 1 else ""


def blob_url(hash_: str, name: str) -> str:
    return f"{SCHEME}blobs/{hash_}/{quote(name)}"


def tree_url(hash_: str, path: str = "") -> str:
    return f"{SCHEME}trees/{hash_}" + (f"/{quote(path)}" if path else "")


class ArnoBackend:
    def __init__(self, session: Any, manifest_dir: Path) -> None:
        self.session = session
        self.manifest_dir = manifest_dir

    # ---- trees ------------------------------------------------------------------------------
    def manifest(self, url: ArnoUrl) -> dict[str, dict[str, Any]]:
        path = self.manifest_dir / f"{url.hash}.json"
        if not path.exists():
            size = self._blob_size(url.hash)
            if size is None:
                raise NotFound(f"{url.url}: the server holds no folder {url.hash}")
            if size > MAX_MANIFEST_BYTES:
                raise InvalidInput(f"{url.url}: {url.hash} is not a folder manifest")
            path.parent.mkdir(parents=True, exist_ok=True)
            self.session.download_blob(url.hash, path)  # verified against the hash
        try:
            doc = json.loads(path.read_bytes())
            if doc.get("format") != TREE_FORMAT:
                raise ValueError("no arno-tree format marker")
            files = {check_tree_path(url.url, p): {"hash": _check_hash(url.url, e["hash"]),
                                                   "size": int(e["size"])}
                     for p, e in doc["files"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(f"{url.url}: {url.hash} is not a folder stored by "
                               f"upload_folder ({exc})") from exc
        return files

    def _tree_file(self, url: ArnoUrl) -> dict[str, Any]:
        if not url.rest:
            raise InvalidInput(f"{url.url} is a folder; name a file in it "
                               f"({url.url.rstrip('/')}/<path>) or use download_folder")
        entry = self.manifest(url).get(url.rest)
        if entry is None:
            raise NotFound(f"{url.url}: no file {url.rest!r} in that folder")
        return entry

    def put_tree(self, files: dict[str, tuple[str, int]]) -> str:
        """Store the manifest of ``files`` (path -> (hash, size), already uploaded)."""
        doc = {"format": TREE_FORMAT,
               "files": {p: {"hash": h, "size": s} for p, (h, s) in sorted(files.items())}}
        hash_, _ = self.session.upload_bytes(json.dumps(doc, separators=(",", ":")).encode())
        return tree_url(hash_)

    # ---- the backend protocol -------------------------------------------------------------
    def _blob_size(self, hash_: str) -> int | None:
        from arno.core.errors import ArnoError

        try:
            resp = self.session.request("HEAD", f"blobs/{hash_}")
        except ArnoError as exc:
            if exc.status == 404:
                return None
            raise
        size = resp.headers.get("content-length")
        return int(size) if size is not None else -1

    def _target(self, url: str) -> tuple[ArnoUrl, str, int | None]:
        """(parsed URL, content hash of the file, its size when the manifest says)."""
        parsed = ArnoUrl(url)
        if parsed.kind == "blobs":
            return parsed, parsed.hash, None
        entry = self._tree_file(parsed)
        return parsed, entry["hash"], entry["size"]

    def identity(self, url: str) -> str:
        return "blake3:" + self._target(url)[1]

    def file_name(self, url: str) -> str:
        parsed = ArnoUrl(url)
        return PurePosixPath(parsed.rest).name or parsed.hash

    def relative_path(self, url: str) -> str:
        parsed = ArnoUrl(url)
        if parsed.kind == "trees":
            return check_tree_path(url, parsed.rest)
        return PurePosixPath(parsed.rest).name or parsed.hash

    def stat(self, url: str) -> Stat | None:
        try:
            parsed, hash_, size = self._target(url)
        except NotFound:
            return None
        if size is None:
            size = self._blob_size(hash_)
            if size is None:
                return None
        return Stat(size, etag=hash_, hash=hash_)

    def fetch(self, url: str, dest: Path) -> None:
        _, hash_, _ = self._target(url)
        from arno.core.errors import ArnoError

        try:
            self.session.download_blob(hash_, dest)
        except ArnoError as exc:
            if exc.status == 404:
                raise NotFound(f"{url}: the server holds no such file") from exc
            raise

    def put(self, local: Path, url: str) -> str:
        hash_, _size = self.session.upload_file(local)
        return blob_url(hash_, upload_name(url, local))

    def walk(self, url: str) -> list[Listed]:
        if not urlparse(url).path.strip("/"):
            raise InvalidInput(f"cannot list {url}: the Arno file store is listed one folder at "
                               "a time (arno://trees/<hash>, as upload_folder returns)")
        parsed = ArnoUrl(url)
        if parsed.kind == "blobs":
            st = self.stat(url)
            return [] if st is None else [Listed(url, self.file_name(url), st.size, parsed.hash)]
        prefix = parsed.rest
        return [Listed(tree_url(parsed.hash, p), p, e["size"], e["hash"])
                for p, e in sorted(self.manifest(parsed).items()) if p.startswith(prefix)]


def content_hash(path: Path) -> str:
    """The BLAKE3 of a file, as the server names it."""
    from blake3 import blake3

    h = blake3()
    with path.open("rb") as fh:
        while chunk := fh.read(4 << 20):
            h.update(chunk)
    return str(h.hexdigest())


def upload_name(url: str | None, local: Path) -> str:
    """The name an uploaded file gets: the last part of ``url`` when it names one, else the
    local file's name."""
    if url:
        parsed = urlparse(url)
        path = unquote(parsed.path)
        if path.strip("/") and not path.endswith("/"):
            name = PurePosixPath(path).name
            if name not in ("", ".", ".."):
                return name
    return local.name
