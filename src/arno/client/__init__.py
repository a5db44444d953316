"""The HTTP client: configuration, session with retries and error mapping, batched reporter
with an on-disk spool, and the offline recorder."""

from arno.client._config import ClientConfig, load_config, write_config
from arno.client._offline import OfflineSession
from arno.client._offline_import import import_offline_task
from arno.client._reporter import Reporter
from arno.client._session import ApiSession
from arno.client._spool import (
    deliver_in_background,
    deliver_orphans,
    keep_delivering,
    list_waiting,
    spool_roots,
)

__all__ = [
    "ApiSession",
    "ClientConfig",
    "OfflineSession",
    "Reporter",
    "deliver_in_background",
    "deliver_orphans",
    "import_offline_task",
    "keep_delivering",
    "list_waiting",
    "load_config",
    "spool_roots",
    "write_config",
]
