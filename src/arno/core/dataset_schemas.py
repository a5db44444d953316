"""API schemas of versioned datasets, shared by the server and the client.

A manifest lists every file of a version (inherited ones included). A file's ``path`` is a
relative POSIX path that can never leave the folder it is written into: no leading ``/``, no
``..``, ``.`` or empty components, no backslash, no NUL, no drive letter (``C:``), at most
``MAX_PATH`` characters. A stored file has the BLAKE3 ``hash`` of its bytes and the ``pieces``
it is cut into (a small file is one piece, its own hash; an empty file has no pieces); an
external file (``uri``) has no pieces, ``hash`` may be empty.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, with_config
from typing_extensions import TypedDict

from arno.core.limits import MAX_LIST, MAX_TAGS, MAX_TEXT, Id
from arno.core.schemas import clean_tags

EMPTY_HASH = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
"""BLAKE3 of no bytes: the hash of every empty file."""
MAX_PATH = 4096
MAX_HASHES = 100_000
"""Most piece hashes one ``pieces/missing`` or ``pieces/locate`` request may name."""

Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
VersionState = Literal["draft", "final"]
FileStatus = Literal["added", "modified", "unchanged", "removed"]
_DOT_PART = re.compile(r"(?:\A|/)\.{1,2}(?:/|\Z)")
_DRIVE = re.compile(r"(?:\A|/)[A-Za-z]:")


def check_dataset_path(path: str) -> str:
    """``path`` if it is a normalised relative POSIX path, else ValueError saying why."""
    if not path:
        raise ValueError("a file path is empty")
    if len(path) > MAX_PATH:
        raise ValueError(f"file path longer than {MAX_PATH} characters: {path[:80]!r}...")
    if "\x00" in path:
        raise ValueError(f"file path contains NUL: {path!r}")
    if "\\" in path:
        raise ValueError(f"file path contains a backslash: {path!r}")
    if path[0] == "/":
        raise ValueError(f"file path is absolute: {path!r}")
    if _DRIVE.search(path):
        raise ValueError(f"file path names a drive: {path!r}")
    if path[-1] == "/" or "//" in path or _DOT_PART.search(path):
        raise ValueError(f"file path is not a normalised relative path: {path!r}")
    return path


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- versions -------------------------------------------------------------------------------


class DatasetCreate(_Model):
    name: str = Field(min_length=1, max_length=512)
    project: str = Field(min_length=1, max_length=512)
    parents: list[Id] = Field(default_factory=list, max_length=1024)
    """Version ids, merged in order (a later parent wins on the same path)."""
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    version: str | None = Field(default=None, min_length=1, max_length=64)
    """None: ``1.0.0`` for a dataset's first version, else the highest parent's (or, without
    parents, the dataset's highest) version with its last number raised to the first free one."""
    description: str = Field(default="", max_length=MAX_TEXT)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        return clean_tags(tags)


class DatasetStats(_Model):
    file_count: int = 0
    total_size: int = 0
    added_files: int = 0
    modified_files: int = 0
    removed_files: int = 0
    added_bytes: int = 0
    modified_bytes: int = 0
    """Size of the new content of modified files."""
    removed_bytes: int = 0
    new_stored_bytes: int = 0
    """Bytes of the packs this version was the first to reference."""


class DatasetVersionOut(_Model):
    id: str
    """The version id, which is also its task's id."""
    dataset_id: str
    name: str
    project: str
    project_id: str
    version: str
    state: VersionState
    parents: list[str]
    tags: list[str]
    """The user's tags (the task also carries the system tag ``dataset``)."""
    description: str
    owner_id: str | None
    owner: str | None
    manifest_hash: str | None
    created_at: datetime
    finalized_at: datetime | None
    stats: DatasetStats
    """Counts against the merged parents."""


class SquashRequest(_Model):
    name: str = Field(min_length=1, max_length=512)
    project: str = Field(min_length=1, max_length=512)
    ids: list[Id] = Field(min_length=1, max_length=MAX_LIST)
    """Final versions, merged in order (a later one wins on the same path)."""


# ---- manifests ------------------------------------------------------------------------------
# Files are TypedDicts, not models: a manifest of 10k files is validated in C (types, hash
# patterns) plus one Python pass over the list (paths, duplicates, consistency), several times
# faster than 10k model instances.


@with_config(ConfigDict(extra="forbid"))
class ManifestFile(TypedDict):
    """One file of a manifest (``hash``/``pieces`` may be left out for an external file)."""

    path: Annotated[str, Field(max_length=MAX_PATH)]
    size: Annotated[int, Field(ge=0)]
    hash: NotRequired[Annotated[str, Field(pattern=r"^([0-9a-f]{64})?$")]]
    pieces: NotRequired[list[Hash]]
    uri: NotRequired[Annotated[str, Field(min_length=1, max_length=8192)]]


def check_manifest_files(files: list[ManifestFile]) -> list[ManifestFile]:
    """Refuse (ValueError) bad or duplicate paths and inconsistent files. Every file comes out
    with all its keys in one order: path, size, hash, pieces (and uri for an external file)."""
    _check_paths([f["path"] for f in files])
    for i, f in enumerate(files):
        if len(f) != 4 or "uri" in f:  # a key left out, or an external file
            f = files[i] = _complete(f)
            uri = f.get("uri")
            if uri is not None:
                if "://" not in uri:
                    raise ValueError(f"{f['path']}: uri {uri!r} has no scheme")
                if f["pieces"]:
                    raise ValueError(f"{f['path']}: an external file has no pieces")
                continue
        size = f["size"]
        if size and f["pieces"] and f["hash"]:
            continue  # the usual file
        if not f["hash"]:
            raise ValueError(f"{f['path']}: a stored file needs its hash")
        if size == 0:
            if f["pieces"] or f["hash"] != EMPTY_HASH:
                raise ValueError(
                    f"{f['path']}: an empty file has the empty hash and no pieces")
        else:
            raise ValueError(f"{f['path']}: a file of {size} bytes needs its pieces")
    return files


def _check_paths(paths: list[str]) -> None:
    """Every path well-formed and listed once. All paths are looked at together, joined by
    NUL (which no path may hold), with substring tests that run at C speed; each path is
    looked at on its own only when something may be wrong."""
    joined = "\x00".join(paths)
    if (joined.count("\x00") != len(paths) - 1 or len(set(paths)) != len(paths)
            or "" in paths or not _plausible(joined)):
        seen: set[str] = set()
        for path in paths:
            check_dataset_path(path)
            if path in seen:
                raise ValueError(f"file path listed twice: {path!r}")
            seen.add(path)


def _plausible(joined: str) -> bool:
    """No backslash, empty part, absolute path, ``.``/``..`` part or colon (a drive letter
    perhaps, looked at path by path) in NUL-joined paths."""
    if (joined[0] == "/" or joined[-1] == "/" or "\\" in joined or "//" in joined
            or "\x00/" in joined or "/\x00" in joined or ":" in joined):
        return False
    for start in ("/.", "\x00."):
        at = joined.find(start)
        while at != -1:
            end = at + 2 + (joined[at + 2:at + 3] == ".")
            if end == len(joined) or joined[end] in "/\x00":
                return False
            at = joined.find(start, at + 1)
    if joined[0] == ".":
        end = 1 + (joined[1:2] == ".")
        if end == len(joined) or joined[end] in "/\x00":
            return False
    return True


def _complete(f: ManifestFile) -> ManifestFile:
    out = ManifestFile(path=f["path"], size=f["size"], hash=f.get("hash", ""),
                       pieces=f.get("pieces", []))
    if "uri" in f:
        out["uri"] = f["uri"]
    return out


class Manifest(_Model):
    files: Annotated[list[ManifestFile], AfterValidator(check_manifest_files)] = Field(
        default_factory=list
    )


class DatasetFileOut(ManifestFile):
    status: FileStatus


class DatasetFilesPage(_Model):
    total: int
    files: list[DatasetFileOut]


class DatasetDiff(_Model):
    added: list[ManifestFile]
    modified: list[ManifestFile]
    """The files as they are in this version."""
    removed: list[ManifestFile]
    """The files as they were in the version compared against."""


# ---- pieces and packs -----------------------------------------------------------------------


class PieceHashes(_Model):
    hashes: list[Hash] = Field(max_length=MAX_HASHES)


class MissingPieces(_Model):
    missing: list[str]


class PieceLocations(_Model):
    pieces: dict[str, tuple[str, int, int, int]]
    """piece hash -> [pack hash, offset, length, decoded size]"""


class PackOut(_Model):
    hash: str
    size: int
    pieces: int
    new_pieces: int
    """Pieces stored for the first time (the others already had a home)."""


class GcResult(_Model):
    packs_deleted: int
    bytes_freed: int
