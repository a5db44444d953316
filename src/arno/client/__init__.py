"""The HTTP client: configuration, session with retries and error mapping, batched reporter
with an on-disk spool, and the offline recorder.

Names are imported on first use (PEP 562), so ``import arno`` in a training script loads only
what its calls need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arno.core.lazy import lazy_names

if TYPE_CHECKING:
    from arno.client._config import ClientConfig, load_config, write_config
    from arno.client._models import ModelClient
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
    from arno.client._tasks import TaskClient

_WHERE = {
    "ApiSession": "_session",
    "ClientConfig": "_config",
    "ModelClient": "_models",
    "OfflineSession": "_offline",
    "Reporter": "_reporter",
    "TaskClient": "_tasks",
    "deliver_in_background": "_spool",
    "deliver_orphans": "_spool",
    "import_offline_task": "_offline_import",
    "keep_delivering": "_spool",
    "list_waiting": "_spool",
    "load_config": "_config",
    "spool_roots": "_spool",
    "write_config": "_config",
}

__all__ = [
    "ApiSession",
    "ClientConfig",
    "ModelClient",
    "OfflineSession",
    "Reporter",
    "TaskClient",
    "deliver_in_background",
    "deliver_orphans",
    "import_offline_task",
    "keep_delivering",
    "list_waiting",
    "load_config",
    "spool_roots",
    "write_config",
]


__getattr__ = lazy_names("arno.client", globals(), _WHERE)
