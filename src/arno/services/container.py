"""Everything the server needs, built once from the settings."""

from __future__ import annotations

import logging

from sqlalchemy import text

from arno.blobstore import BlobStore
from arno.core.private import secure_install
from arno.core.settings import Settings
from arno.db.engine import Database
from arno.db.migrate import upgrade
from arno.db.notify import Listener
from arno.services.artifacts import ArtifactService
from arno.services.auth import AuthService
from arno.services.blobs import BlobService
from arno.services.compare import CompareService
from arno.services.dataset_browse import DatasetBrowser
from arno.services.dataset_packs import DatasetPackService
from arno.services.datasets import DatasetService
from arno.services.events import EventService
from arno.services.model_query import ModelQueryService
from arno.services.models import ModelService
from arno.services.overview import OverviewService
from arno.services.projects import ProjectService
from arno.services.queues import QueueService
from arno.services.sessions import SessionService
from arno.services.task_actions import TaskActions
from arno.services.task_query import TaskQueryService
from arno.services.tasks import TaskService
from arno.services.throttle import LoginThrottle

log = logging.getLogger("arno.services")


class Services:
    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        self._listener: Listener | None = None
        opened = secure_install(settings.home, settings.resolved_database_url,
                                settings.resolved_storage_url)
        if opened:
            log.warning("these were readable by other users of this machine and are now "
                        "private to yours: %s", ", ".join(opened))
        self.opened_paths = opened
        self.db = Database(settings.resolved_database_url)
        if migrate:
            upgrade(self.db.engine)
        self.store = BlobStore(
            settings.resolved_storage_url,
            options=dict(settings.storage_options),
            tmp_dir=settings.home / "tmp",
        )
        self.blobs = BlobService(self.store, max_upload_bytes=settings.max_upload_bytes)
        self.auth = AuthService(self.db, cache_seconds=settings.auth_cache_seconds)
        self.sessions = SessionService(self.db, self.auth)
        self.login_throttle = LoginThrottle(per_login=settings.login_failures_per_user,
                                            per_address=settings.login_failures_per_address,
                                            window=settings.login_failure_window)
        self.projects = ProjectService(self.db)
        self.tasks = TaskService(self.db)
        self.query = TaskQueryService(self.db)
        self.events = EventService(self.db, max_console_line=settings.max_console_line)
        self.artifacts = ArtifactService(self.db, self.store)
        self.queues = QueueService(self.db, lease_seconds=settings.lease_seconds,
                                   worker_timeout=settings.worker_timeout)
        self.overview = OverviewService(self.db)
        self.dataset_packs = DatasetPackService(
            self.db, self.store, grace_seconds=settings.dataset_gc_grace_seconds)
        self.datasets = DatasetService(self.db, self.store, self.dataset_packs)
        self.models = ModelService(self.db, self.store, self.dataset_packs)
        self.model_query = ModelQueryService(self.db)
        self.dataset_browser = DatasetBrowser(self.db, self.store, self.datasets.manifests)
        self.compare = CompareService(self.tasks)
        self.actions = TaskActions(self.tasks, self.events, self.queues)
        if migrate:
            self.queues.ensure_system_queues()

    def database_ok(self) -> bool:
        try:
            with self.db.read() as s:
                s.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - health reports, never raises
            log.exception("database check failed")
            return False

    def start(self) -> None:
        """Background work of a running server: on PostgreSQL, a listener that wakes this
        process's long-polling agents when another server process queues a task."""
        if not self.db.is_sqlite and self._listener is None:
            dsn = self.db.engine.url.set(drivername="postgresql").render_as_string(
                hide_password=False)
            self._listener = Listener(dsn, self.queues.wake)
            self._listener.start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self.db.dispose()
