"""Bytes and a MIME type for debug images and media samples.

``encode_image`` turns a Pillow image, a numpy array or an image file into bytes the server can
store and a browser can show; ``encode_media`` does the same for audio, video, HTML and other
files (text, CSV, JSON, PDF...), and ``media_kind`` says which kind of debug sample a file is.
numpy and Pillow are optional: an image file can be sent with neither installed.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path, PurePath
from typing import Any, Final, Literal

from arno.core.errors import InvalidInput

__all__ = [
    "MEDIA_KINDS",
    "content_type_for",
    "encode_image",
    "encode_media",
    "media_kind",
    "sniff_content_type",
]

MediaKind = Literal["audio", "video", "html", "image", "file"]
MEDIA_KINDS: Final = ("audio", "video", "html", "image", "file")
_HTML: Final = "text/html; charset=utf-8"
_PNG: Final = "image/png"
_PNG_MODES: Final = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})

# Fixed table rather than ``mimetypes``, whose answers depend on the machine's mime.types.
_BY_EXTENSION: Final[dict[str, str]] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".avif": "image/avif",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/opus",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".weba": "audio/webm",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".mkv": "video/x-matroska",
    ".html": _HTML,
    ".htm": _HTML,
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".tsv": "text/tab-separated-values; charset=utf-8",
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".xml": "application/xml",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
}


# --------------------------------------------------------------------------- images


def encode_image(image: Any, *, max_size: int | tuple[int, int] | None = None) -> tuple[bytes, str]:
    """PNG bytes (or a file's own bytes) and their MIME type.

    ``image`` is one of:

    - a Pillow image, saved as PNG (modes PNG cannot hold are converted to RGB/RGBA);
    - a numpy array: H x W (gray), H x W x 1, H x W x 3 (RGB) or H x W x 4 (RGBA). Float
      arrays whose values all lie in [0, 1] are scaled to 0..255, other floats and integer
      types are clipped to 0..255, booleans become 0/255, NaN becomes 0;
    - a path to an image file, or the bytes of one, sent unchanged with the MIME type of its
      extension (or, failing that, of its first bytes).

    ``max_size`` (the longest side in pixels, or a (width, height) box) shrinks larger images,
    keeping their aspect ratio; a file that has to shrink is re-encoded as PNG. Files are only
    measured when Pillow is installed and can read them.
    """
    box = _box(max_size)
    if _is_instance(image, "PIL.Image", "Image"):
        return _png(image, box), _PNG
    if _is_instance(image, "numpy", "ndarray"):
        return _png(_array_to_image(image), box), _PNG
    if isinstance(image, str | PurePath):
        path = Path(image)
        if not _is_file(path):
            raise InvalidInput(f"no image file at {str(path)!r}")
        data = path.read_bytes()
        ctype = _image_type(data, path.suffix)
        if ctype is None:
            raise InvalidInput(f"{path.name} is not an image file this platform can show")
        return _shrunk_file(data, ctype, box)
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        ctype = _image_type(data, "")
        if ctype is None:
            raise InvalidInput("the bytes given are not a PNG, JPEG, GIF, WebP, BMP or TIFF image")
        return _shrunk_file(data, ctype, box)
    raise InvalidInput(
        f"cannot report an image of type {type(image).__name__}; "
        "pass a PIL image, a numpy array or a path to an image file"
    )


def _array_to_image(array: Any) -> Any:
    import numpy as np

    Image = _pil()
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise InvalidInput(
            f"image array must be H x W, H x W x 3 or H x W x 4, got shape {arr.shape}"
        )
    if arr.size == 0:
        raise InvalidInput(f"image array is empty (shape {arr.shape})")
    kind = arr.dtype.kind
    if kind == "b":
        arr = arr.astype(np.uint8) * 255
    elif kind == "f":
        values = arr.astype(np.float64)
        finite = values[np.isfinite(values)]
        unit = finite.size == 0 or (finite.min() >= 0.0 and finite.max() <= 1.0)
        scale = 255.0 if unit else 1.0
        values = np.nan_to_num(values, nan=0.0, posinf=255.0 / scale, neginf=0.0)
        arr = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    elif kind in "iu":
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    else:
        raise InvalidInput(f"image array has dtype {arr.dtype}; expected numbers or booleans")
    return Image.fromarray(np.ascontiguousarray(arr))


def _png(image: Any, box: tuple[int, int] | None) -> bytes:
    image = _png_ready(image)
    if box is not None and (image.width > box[0] or image.height > box[1]):
        image = image.copy()  # thumbnail() works in place; leave the caller's image alone
        image.thumbnail(box)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _png_ready(image: Any) -> Any:
    """``image`` in a mode PNG can store."""
    mode = image.mode
    if mode in _PNG_MODES:
        return image
    if mode == "F":  # float pixels follow the same rules as float arrays
        try:
            import numpy as np
        except ImportError:
            return image.convert("L")
        return _array_to_image(np.asarray(image))
    if mode.startswith("I;16"):
        return image.convert("I")
    if mode == "PA" or "A" in mode or "a" in mode:
        return image.convert("RGBA")
    return image.convert("RGB")


def _shrunk_file(data: bytes, ctype: str, box: tuple[int, int] | None) -> tuple[bytes, str]:
    """The file's own bytes, or a smaller PNG when it is larger than ``box``."""
    if box is None or ctype == "image/svg+xml":
        return data, ctype
    try:
        Image = _pil()
    except ImportError:
        return data, ctype
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width <= box[0] and img.height <= box[1]:
                return data, ctype
            img.load()
            return _png(img, box), _PNG
    except (OSError, ValueError, Image.DecompressionBombError):
        return data, ctype


def _box(max_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if max_size is None:
        return None
    if isinstance(max_size, int) and not isinstance(max_size, bool):
        box = (max_size, max_size)
    elif isinstance(max_size, tuple) and len(max_size) == 2:
        box = (int(max_size[0]), int(max_size[1]))
    else:
        raise InvalidInput("max_size must be an int or a (width, height) pair")
    if box[0] < 1 or box[1] < 1:
        raise InvalidInput("max_size must be at least 1 pixel")
    return box


def _image_type(data: bytes, suffix: str) -> str | None:
    ctype = _BY_EXTENSION.get(suffix.lower())
    if ctype is not None and ctype.startswith("image/"):
        return ctype
    sniffed = sniff_content_type(data)
    return sniffed if sniffed is not None and sniffed.startswith("image/") else None


# --------------------------------------------------------------------------- media


def encode_media(
    path_or_bytes: Any, kind: MediaKind, *, file_extension: str | None = None
) -> tuple[bytes, str]:
    """Bytes and MIME type of an audio, video or HTML sample (or an image file sent as media).

    ``path_or_bytes`` is a path to a file, bytes, or a binary file object (read to its end);
    for ``kind="html"`` a string that is not an existing file is taken as the HTML itself.
    The MIME type comes from ``file_extension`` (e.g. ``".mp3"``) if given, else the file's
    extension, else the first bytes, else ``application/octet-stream``; HTML is always
    ``text/html; charset=utf-8``.
    """
    if kind not in MEDIA_KINDS:
        raise InvalidInput(f"media kind must be one of {MEDIA_KINDS}, not {kind!r}")
    suffix = normal_suffix(file_extension)
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        data = bytes(path_or_bytes)
    elif isinstance(path_or_bytes, str | PurePath):
        path = Path(path_or_bytes)
        if _is_file(path):
            data = path.read_bytes()
            suffix = suffix or path.suffix.lower()
        elif kind == "html" and isinstance(path_or_bytes, str):
            data = path_or_bytes.encode("utf-8")
        else:
            raise InvalidInput(f"no {kind} file at {str(path_or_bytes)!r}")
    elif callable(getattr(path_or_bytes, "read", None)):
        raw = path_or_bytes.read()
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        name = getattr(path_or_bytes, "name", None)
        if not suffix and isinstance(name, str):
            suffix = Path(name).suffix.lower()
    else:
        raise InvalidInput(
            f"cannot report {kind} from {type(path_or_bytes).__name__}; "
            "pass a path, bytes or a binary file object"
        )
    if kind == "html":
        return data, _HTML
    ctype = _BY_EXTENSION.get(suffix) if suffix else None
    if kind == "file":  # any file: its extension's type, else what its bytes say
        return data, ctype or sniff_content_type(data) or "application/octet-stream"
    if ctype is None or ctype == _HTML:
        ctype = sniff_content_type(data, kind=kind)
    if ctype == _HTML:  # never label audio/video bytes as a page a browser would render
        ctype = None
    return data, ctype or "application/octet-stream"


def content_type_for(name: str) -> str | None:
    """The MIME type of a file name's (or URL path's) extension, None if unknown."""
    return _BY_EXTENSION.get(PurePath(name).suffix.lower())


def media_kind(content_type: str | None, suffix: str = "") -> MediaKind:
    """The debug-sample kind of a file: image, audio, video, html, else file (shown as a
    download link)."""
    ctype = (content_type or _BY_EXTENSION.get(normal_suffix(suffix)) or "").lower()
    if ctype.startswith("text/html"):
        return "html"
    for kind in ("image", "audio", "video"):
        if ctype.startswith(kind + "/"):
            return kind  # type: ignore[return-value]
    return "file"


def sniff_content_type(data: bytes, *, kind: str | None = None) -> str | None:
    """The MIME type announced by a file's first bytes: common image, audio and video
    formats, and HTML documents (``<!doctype html`` or ``<html`` first). None if unknown.

    ``kind`` ("audio" or "video") settles containers that hold either (Ogg, WebM).
    """
    head = data[:64]
    text_head = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text_head.startswith((b"<!doctype html", b"<html")):
        return _HTML
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"BM"):
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "video/ogg" if kind == "video" else "audio/ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return "audio/webm" if kind == "audio" else "video/webm"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        return "audio/mp4" if kind == "audio" else "video/mp4"
    return None


# --------------------------------------------------------------------------- helpers


def normal_suffix(extension: str | None) -> str:
    """``".txt"`` from ``"txt"``, ``".TXT"`` or ``".txt"``; ``""`` for nothing."""
    if not extension:
        return ""
    extension = extension.strip().lower()
    return extension if extension.startswith(".") else f".{extension}"


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a long HTML string is not a file name
        return False


def _is_instance(obj: Any, module: str, cls: str) -> bool:
    mod = sys.modules.get(module)
    klass = getattr(mod, cls, None) if mod is not None else None
    return isinstance(klass, type) and isinstance(obj, klass)


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("reporting images from arrays needs Pillow: pip install pillow") from exc
    return Image
