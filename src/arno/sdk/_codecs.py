"""Turn Python objects into artifact files and back.

``encode_artifact`` picks a portable format for an object, writes it under a work directory and
describes it (type, MIME type, short preview, metadata) so the caller can upload it.
``decode_artifact`` turns a downloaded file back into an object.

numpy, pandas and Pillow are optional: they are imported only when an object of theirs is met
(an object cannot be an ``ndarray`` unless numpy is already imported) or a file of theirs is
decoded.

Formats:

    =========  ============  =========================================================
    type       file          object
    =========  ============  =========================================================
    numpy      .npy          ``numpy.ndarray`` (never pickled inside)
    pandas     .csv.gz       ``DataFrame`` / ``Series``, index kept
    image      .png          ``PIL.Image.Image``
    json       .json         ``dict`` / ``list``
    text       .txt          ``str`` that is not a path to an existing file or folder
    file       as is         path (``str`` or ``pathlib.Path``) to an existing file
    folder     .zip          path to an existing directory
    pickle     .pkl          anything else; only loaded again with ``allow_pickle=True``
    =========  ============  =========================================================
"""

from __future__ import annotations

import json
import mimetypes
import os
import pickle
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import Any, Final

from arno.core.errors import Forbidden, InvalidInput
from arno.core.files import human_size

__all__ = [
    "ARTIFACT_TYPES",
    "PREVIEW_LIMIT",
    "EncodedArtifact",
    "decode_artifact",
    "encode_artifact",
    "extract_zip",
]

ARTIFACT_TYPES: Final = ("numpy", "pandas", "image", "json", "text", "file", "folder", "pickle")
PREVIEW_LIMIT: Final = 2048
"""Largest preview, in UTF-8 bytes."""

_LISTED_FILES: Final = 50  # folder members named in metadata
_LISTED_COLUMNS: Final = 200  # DataFrame columns named in metadata
_ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)  # fixed member time: same folder, same zip bytes
_MAX_PATH_LEN: Final = 4096
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class EncodedArtifact:
    """An artifact written to disk, ready to upload.

    ``path`` sits in a fresh directory of its own under the ``work_dir`` given to
    ``encode_artifact`` (``path.parent``), which the caller may delete after the upload.
    """

    path: Path
    type: str
    content_type: str
    file_name: str
    preview: str
    metadata: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- encoding


def encode_artifact(
    obj: Any, *, name: str, work_dir: Path, allow_pickle_fallback: bool = True
) -> EncodedArtifact:
    """Write ``obj`` as an artifact file under ``work_dir`` and describe it.

    Raises ``InvalidInput`` for a ``pathlib.Path`` that does not exist, and for an object with
    no portable format when ``allow_pickle_fallback`` is false.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    stem = _safe_stem(name)
    out_dir = Path(tempfile.mkdtemp(prefix=f"{stem[:40]}-", dir=work_dir))
    try:
        return _encode(obj, stem=stem, out_dir=out_dir, allow_pickle=allow_pickle_fallback)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise


def _encode(obj: Any, *, stem: str, out_dir: Path, allow_pickle: bool) -> EncodedArtifact:
    if isinstance(obj, PurePath):
        path = Path(obj)
        if path.is_file():
            return _encode_file(path, out_dir)
        if path.is_dir():
            return _encode_folder(path, stem, out_dir)
        raise InvalidInput(f"artifact path {str(path)!r} is neither a file nor a folder")
    if isinstance(obj, str):
        path_or_none = _existing_path(obj)
        if path_or_none is not None and path_or_none.is_file():
            return _encode_file(path_or_none, out_dir)
        if path_or_none is not None and path_or_none.is_dir():
            return _encode_folder(path_or_none, stem, out_dir)
        return _encode_text(obj, stem, out_dir)
    if _is_instance(obj, "numpy", "ndarray"):
        return _encode_numpy(obj, stem, out_dir, allow_pickle)
    if _is_instance(obj, "pandas", "DataFrame") or _is_instance(obj, "pandas", "Series"):
        return _encode_pandas(obj, stem, out_dir)
    if _is_instance(obj, "PIL.Image", "Image"):
        return _encode_image(obj, stem, out_dir)
    if isinstance(obj, dict | list):
        try:
            text = json.dumps(obj, default=str, ensure_ascii=False, indent=1)
        except (TypeError, ValueError) as exc:  # unsortable keys, circular references
            if not allow_pickle:
                raise InvalidInput(f"cannot store {type(obj).__name__} as JSON: {exc}") from exc
            return _encode_pickle(obj, stem, out_dir, {})
        return _encode_json(obj, text, stem, out_dir)
    if not allow_pickle:
        raise InvalidInput(
            f"cannot store an object of type {_type_name(obj)} as an artifact without pickle; "
            "convert it, or allow the pickle fallback"
        )
    return _encode_pickle(obj, stem, out_dir, {})


def _encode_numpy(arr: Any, stem: str, out_dir: Path, allow_pickle: bool) -> EncodedArtifact:
    import numpy as np

    meta: dict[str, Any] = {"shape": [int(n) for n in arr.shape], "dtype": str(arr.dtype)}
    preview = _clip(f"ndarray shape={tuple(arr.shape)} dtype={arr.dtype}\n{_numpy_head(arr)}")
    path = out_dir / f"{stem}.npy"
    try:
        with path.open("wb") as fh:
            np.save(fh, np.asarray(arr), allow_pickle=False)
    except (ValueError, TypeError, NotImplementedError) as exc:  # object dtype and the like
        path.unlink(missing_ok=True)
        if not allow_pickle:
            raise InvalidInput(
                f"cannot store an ndarray of dtype {arr.dtype} without pickle: {exc}"
            ) from exc
        return _encode_pickle(arr, stem, out_dir, meta, preview=preview)
    return EncodedArtifact(path, "numpy", "application/x-npy", path.name, preview, meta)


def _numpy_head(arr: Any) -> str:
    import numpy as np

    flat = np.asarray(arr).ravel()
    head = np.array2string(flat[:10], threshold=20, max_line_width=200, separator=", ")
    more = f" ... ({flat.size} values)" if flat.size > 10 else ""
    return f"first values: {head}{more}"


def _encode_pandas(frame: Any, stem: str, out_dir: Path) -> EncodedArtifact:
    is_series = _is_instance(frame, "pandas", "Series")
    kind = "Series" if is_series else "DataFrame"
    columns = [str(frame.name)] if is_series else [str(c) for c in frame.columns]
    meta: dict[str, Any] = {
        "kind": kind,
        "shape": [int(n) for n in frame.shape],
        "rows": int(frame.shape[0]),
        "columns": columns[:_LISTED_COLUMNS],
        "index_levels": int(frame.index.nlevels),
        "column_levels": 1 if is_series else int(frame.columns.nlevels),
        "index_names": [None if n is None else str(n) for n in frame.index.names],
    }
    if is_series:
        meta["dtypes"] = {columns[0]: str(frame.dtype)}
        meta["series_name"] = None if frame.name is None else str(frame.name)
    else:
        meta["dtypes"] = {str(c): str(t) for c, t in list(frame.dtypes.items())[:_LISTED_COLUMNS]}
    if len(columns) > _LISTED_COLUMNS:
        meta["columns_truncated"] = True
    path = out_dir / f"{stem}.csv.gz"
    # mtime=0 keeps the gzip header, hence the content hash, stable for equal data.
    frame.to_csv(path, index=True, compression={"method": "gzip", "mtime": 0})
    head_frame = frame.head(5).to_frame() if is_series else frame.head(5)
    head = head_frame.to_string(max_cols=12, max_colwidth=40)
    preview = _clip(f"{kind} shape={tuple(frame.shape)}\n{head}")
    return EncodedArtifact(path, "pandas", "application/gzip", path.name, preview, meta)


_PNG_MODES: Final = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})


def _encode_image(image: Any, stem: str, out_dir: Path) -> EncodedArtifact:
    meta: dict[str, Any] = {"width": image.width, "height": image.height, "mode": image.mode}
    if image.mode not in _PNG_MODES:  # PNG cannot hold CMYK, YCbCr, float ...
        target = "RGBA" if "A" in image.mode or "a" in image.mode else "RGB"
        if image.mode in ("F", "I;16B", "I;16L", "I;16N"):
            target = "I"
        image = image.convert(target)
        meta["converted_to"] = target
    path = out_dir / f"{stem}.png"
    image.save(path, format="PNG")
    preview = f"image {meta['width']}x{meta['height']} mode={meta['mode']}"
    return EncodedArtifact(path, "image", "image/png", path.name, preview, meta)


def _encode_json(
    obj: dict[Any, Any] | list[Any], text: str, stem: str, out_dir: Path
) -> EncodedArtifact:
    path = out_dir / f"{stem}.json"
    path.write_bytes(text.encode("utf-8"))
    meta: dict[str, Any] = {"kind": type(obj).__name__, "length": len(obj)}
    if isinstance(obj, dict):
        meta["keys"] = [str(k) for k in list(obj)[:_LISTED_COLUMNS]]
    compact = json.dumps(obj, default=str, ensure_ascii=False)
    preview = _clip(f"{type(obj).__name__} of {len(obj)} items\n{compact}")
    return EncodedArtifact(path, "json", "application/json", path.name, preview, meta)


def _encode_text(text: str, stem: str, out_dir: Path) -> EncodedArtifact:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"text artifact is not valid Unicode: {exc}") from exc
    path = out_dir / f"{stem}.txt"
    path.write_bytes(data)
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    meta = {"length": len(text), "lines": lines}
    return EncodedArtifact(path, "text", "text/plain; charset=utf-8", path.name, _clip(text), meta)


def _encode_file(src: Path, out_dir: Path) -> EncodedArtifact:
    dest = out_dir / src.name
    shutil.copyfile(src, dest)
    size = dest.stat().st_size
    meta: dict[str, Any] = {"size": size, "source": str(src)}
    preview = _clip(f"file {src.name} ({human_size(size)})")
    return EncodedArtifact(dest, "file", _guess_type(src.name), src.name, preview, meta)


def _encode_folder(src: Path, stem: str, out_dir: Path) -> EncodedArtifact:
    entries = _folder_entries(src, skip=out_dir.parent)  # never zip our own work_dir
    path = out_dir / f"{stem}.zip"
    count = total = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel, full in entries:
            info = zipfile.ZipInfo.from_file(full, rel)
            info.date_time = _ZIP_EPOCH
            if info.is_dir():
                zf.writestr(info, b"")
                continue
            info.compress_type = zipfile.ZIP_DEFLATED
            with full.open("rb") as fin, zf.open(info, "w") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
            count += 1
            total += info.file_size
    files = [rel for rel, full in entries if not rel.endswith("/")]
    meta: dict[str, Any] = {
        "file_count": count,
        "total_size": total,
        "files": files[:_LISTED_FILES],
        "source": str(src),
    }
    if len(files) > _LISTED_FILES:
        meta["files_truncated"] = True
    listing = "\n".join(files[:20]) + ("\n..." if len(files) > 20 else "")
    preview = _clip(f"folder {src.name}: {count} files, {human_size(total)}\n{listing}")
    return EncodedArtifact(path, "folder", "application/zip", path.name, preview, meta)


def _folder_entries(root: Path, *, skip: Path) -> list[tuple[str, Path]]:
    """Every file (and empty directory, with a trailing slash) under ``root``, sorted.

    ``skip`` (the work directory the zip is written under, when it lies inside ``root``)
    and everything below it are left out.
    """
    skip = skip.resolve()
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() != skip)
        rel_dir = here.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else f"{rel_dir}/"
        for fname in sorted(filenames):
            full = here / fname
            if full.is_file():  # skips sockets, fifos and dangling links
                out.append((prefix + fname, full))
        if not dirnames and not filenames and prefix:
            out.append((prefix, here))
    out.sort(key=lambda item: item[0])
    return out


def _encode_pickle(
    obj: Any, stem: str, out_dir: Path, meta: dict[str, Any], *, preview: str | None = None
) -> EncodedArtifact:
    path = out_dir / f"{stem}.pkl"
    try:
        with path.open("wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # pickle raises many kinds for unpicklable objects
        raise InvalidInput(f"cannot pickle an object of type {_type_name(obj)}: {exc}") from exc
    meta = {**meta, "python_type": _type_name(obj)}
    if preview is None:
        preview = _clip(f"pickle of {_type_name(obj)}: {_safe_repr(obj)}")
    return EncodedArtifact(path, "pickle", "application/x-python-pickle", path.name, preview, meta)


# --------------------------------------------------------------------------- decoding


def decode_artifact(
    path: Path,
    type: str,
    *,
    allow_pickle: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """Turn a downloaded artifact file back into an object.

    ``metadata`` (as produced by ``encode_artifact``) is optional; when given, a pandas Series
    comes back as a Series and a multi-level index is restored.

    "file" returns ``path`` itself; "folder" extracts the zip into a directory named after it
    next to it and returns that directory. A "pickle" is refused with ``Forbidden`` unless
    ``allow_pickle`` is true: unpickling runs code chosen by whoever wrote the file.
    """
    path = Path(path)
    if type not in ARTIFACT_TYPES:
        raise InvalidInput(f"unknown artifact type {type!r}; expected one of {ARTIFACT_TYPES}")
    if type == "file":
        return path
    if type == "folder":
        return extract_zip(path, _folder_target(path))
    if type == "text":
        return path.read_bytes().decode("utf-8")
    if type == "json":
        return json.loads(path.read_bytes().decode("utf-8"))
    if type == "pickle":
        if not allow_pickle:
            raise Forbidden("artifact is a pickle; pass allow_pickle=True to load it")
        with path.open("rb") as fh:
            return pickle.load(fh)
    if type == "numpy":
        import numpy as np

        try:
            return np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise InvalidInput(f"{path.name} is not a plain .npy array: {exc}") from exc
    if type == "image":
        from PIL import Image

        with Image.open(path) as img:
            img.load()
        return img
    return _decode_pandas(path, metadata or {})


def _decode_pandas(path: Path, meta: Mapping[str, Any]) -> Any:
    import pandas as pd

    levels = meta.get("index_levels", 1)
    levels = levels if isinstance(levels, int) and levels >= 1 else 1
    col_levels = meta.get("column_levels", 1)
    col_levels = col_levels if isinstance(col_levels, int) and col_levels >= 1 else 1
    frame = pd.read_csv(
        path,
        index_col=list(range(levels)),
        header=list(range(col_levels)) if col_levels > 1 else 0,
        float_precision="round_trip",
    )
    names = meta.get("index_names")
    if isinstance(names, list) and len(names) == levels:
        frame.index.names = names
    dtypes = meta.get("dtypes")
    if isinstance(dtypes, Mapping) and col_levels == 1:
        _restore_dtypes(frame, dtypes)
    if meta.get("kind") == "Series" and frame.shape[1] == 1:
        series = frame.iloc[:, 0]
        series.name = meta.get("series_name", series.name)
        return series
    return frame


def _restore_dtypes(frame: Any, dtypes: Mapping[str, Any]) -> None:
    """Best effort: give back the datetime and category dtypes that CSV loses."""
    import pandas as pd

    for column in frame.columns:
        wanted = str(dtypes.get(str(column), ""))
        try:
            if wanted.startswith("datetime64") and str(frame[column].dtype) != wanted:
                frame[column] = pd.to_datetime(frame[column])
            elif wanted == "category":
                frame[column] = frame[column].astype("category")
        except (ValueError, TypeError):
            continue


def extract_zip(archive: Path, target: Path) -> Path:
    """Extract ``archive`` into ``target`` and return ``target``.

    Every member is checked before anything is written: an absolute name, a drive letter or
    a ``..`` that would leave ``target`` raises ``InvalidInput``. Symbolic links inside the
    archive are written as plain files. Existing files of the same name are overwritten.
    """
    target = Path(target)
    root = target.resolve()
    with zipfile.ZipFile(archive) as zf:
        plan: list[tuple[zipfile.ZipInfo, Path]] = []
        for info in zf.infolist():
            plan.append((info, _member_destination(root, info.filename)))
        root.mkdir(parents=True, exist_ok=True)
        for info, dest in plan:
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as fin, dest.open("wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
            exec_bits = (info.external_attr >> 16) & 0o111
            if exec_bits:  # keep scripts runnable; other permission bits are not restored
                dest.chmod(dest.stat().st_mode | exec_bits)
    return target


def _member_destination(root: Path, name: str) -> Path:
    posix = name.replace("\\", "/")
    pure = PurePosixPath(posix)
    if posix.startswith("/") or pure.is_absolute() or re.match(r"^[A-Za-z]:", posix):
        raise InvalidInput(f"refusing zip member with an absolute path: {name!r}")
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts:
        raise InvalidInput(f"refusing zip member with an empty path: {name!r}")
    dest = root.joinpath(*parts).resolve()
    if dest != root and root not in dest.parents:
        raise InvalidInput(f"refusing zip member that escapes the target folder: {name!r}")
    return dest


def _folder_target(archive: Path) -> Path:
    name = archive.name
    stem = name[: -len(".zip")] if name.lower().endswith(".zip") else f"{name}.d"
    return archive.parent / (stem or "folder")


# --------------------------------------------------------------------------- helpers


def _is_instance(obj: Any, module: str, cls: str) -> bool:
    """``isinstance`` against an optional library's class, without importing the library."""
    mod = sys.modules.get(module)
    klass = getattr(mod, cls, None) if mod is not None else None
    return isinstance(klass, type) and isinstance(obj, klass)


def _existing_path(text: str) -> Path | None:
    if not text or len(text) > _MAX_PATH_LEN or "\n" in text or "\x00" in text:
        return None
    try:
        path = Path(text).expanduser()
        return path if path.exists() else None
    except (OSError, ValueError):
        return None


def _safe_stem(name: str) -> str:
    stem = _SAFE_NAME.sub("_", name).strip("._")
    return stem[:120] or "artifact"


def _guess_type(file_name: str) -> str:
    ctype, encoding = mimetypes.guess_type(file_name, strict=False)
    if encoding is not None:
        return {
            "gzip": "application/gzip",
            "bzip2": "application/x-bzip2",
            "xz": "application/x-xz",
        }.get(encoding, "application/octet-stream")
    return ctype or "application/octet-stream"


def _clip(text: str, limit: int = PREVIEW_LIMIT) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 4].decode("utf-8", errors="ignore") + "\n..."


def _type_name(obj: Any) -> str:
    klass = type(obj)
    return (
        klass.__name__
        if klass.__module__ == "builtins"
        else f"{klass.__module__}.{klass.__qualname__}"
    )


def _safe_repr(obj: Any) -> str:
    try:
        text = repr(obj)
    except Exception:  # a broken __repr__ must not break the upload
        return "<unrepresentable>"
    return text[:500]
