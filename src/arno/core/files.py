"""Small rules about files shown to, or written for, a user: sizes people read, and names that
came from someone else reduced to one harmless path component."""

from __future__ import annotations

from pathlib import Path


def human_size(size: int | None) -> str:
    """``1536`` -> ``"1.5 KB"``; bytes are shown whole; None -> ``""``."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def safe_file_name(name: str, default: str = "artifact") -> str:
    """The last component of a stored name, so writing it can never leave the target folder."""
    base = Path(name.replace("\\", "/")).name
    return base if base not in ("", ".", "..") else default
