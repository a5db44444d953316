"""Files and folders Arno keeps for its user are theirs alone: folders 0700, files 0600.

``ARNO_HOME`` holds the SQLite database (with the key that signs browser sessions), the
credentials in ``config.toml``, logs, spools and the local blob store. Anyone who can read it
can act as its users, so it is created private, and an install made before that rule is
tightened on start (the caller warns about what it changed).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> bool:
    """Drop the group's and others' permissions; True when there were any to drop."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return False
    if current & 0o077 == 0:
        return False
    try:
        os.chmod(path, current & mode)
    except PermissionError:  # not ours to change: leave it, the warning still says so
        pass
    return True


def private_dir(path: Path) -> bool:
    """Create ``path`` (and missing parents) owner-only; tighten it if it exists. True when an
    existing folder was open to others."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask; be exact
        return False
    return _tighten(path, DIR_MODE)


def private_file(path: Path) -> bool:
    """Tighten an existing file to owner-only. True when it was open to others."""
    return _tighten(path, FILE_MODE)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for another database or an in-memory one)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def secure_install(home: Path, database_url: str, storage_url: str) -> list[str]:
    """Make the install's folders and files private; the paths that were open to others."""
    opened: list[str] = []
    if private_dir(home):
        opened.append(str(home))
    db = sqlite_path(database_url)
    if db is not None:
        if db.parent != home and private_dir(db.parent):
            opened.append(str(db.parent))
        if not db.exists():  # created empty and private: SQLite keeps the mode, and gives it
            db.touch(mode=FILE_MODE)  # to its -wal and -shm files too
            os.chmod(db, FILE_MODE)
        for part in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            if private_file(part):
                opened.append(str(part))
    if "://" not in storage_url or storage_url.startswith("file://"):
        store = Path(storage_url.removeprefix("file://"))
        if store != home and private_dir(store):
            opened.append(str(store))
    config = home / "config.toml"
    if private_file(config):
        opened.append(str(config))
    return opened
