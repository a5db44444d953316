"""``StorageManager``: files by URL (paths, http(s), s3:// and other fsspec protocols, and the
Arno file store at ``arno://``), with a local cache. Public as ``arno.StorageManager`` and
``arno.storage.StorageManager``."""

from arno.sdk._storage.manager import StorageManager

__all__ = ["StorageManager"]
