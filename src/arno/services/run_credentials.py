"""Run credentials: the key a task's process reports with.

An agent never hands its own key to the code it runs. When it takes a task, the server issues
a key for that one run: it acts as the task's **owner** (never with admin rights, whatever the
owner's role), it cannot manage keys, users or workers, and it lives only as long as the run:

- it is deleted when the agent reports the process ended, when the lease lapses (the reaper),
  or when the task is deleted;
- it expires with the lease: each heartbeat that renews the lease pushes the expiry on, so a
  credential left behind by a crashed agent dies on its own.

The secret is 256 random bits, so a SHA-256 digest stores it safely and checks in
microseconds (argon2 is for secrets people choose); issuing one adds nothing measurable to a
dequeue.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from arno.core.schemas import RunCredential
from arno.db.models import ApiKeyRow

ACCESS_PREFIX = "RUN"
_HASH_PREFIX = "sha256$"


def _hash(secret: str) -> str:
    return _HASH_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


def is_run_hash(stored_hash: str) -> bool:
    return stored_hash.startswith(_HASH_PREFIX)


def check_secret(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash, _hash(secret))


def expiry(lease_expires_at: datetime, lease_seconds: float) -> datetime:
    """A run credential outlives its lease by one more lease, then stops working."""
    return lease_expires_at + timedelta(seconds=lease_seconds)


def issue(s: Session, *, task_id: str, worker_id: str, owner_id: str | None,
          expires_at: datetime, now: datetime) -> RunCredential | None:
    """A new key for this run of ``task_id`` (None for a task whose owner is gone)."""
    if owner_id is None:
        return None
    secret = secrets.token_urlsafe(32)
    access_key = ACCESS_PREFIX + secrets.token_hex(12).upper()
    s.add(ApiKeyRow(access_key=access_key, secret_hash=_hash(secret), user_id=owner_id,
                    label=f"run of task {task_id} on {worker_id}", created_at=now,
                    task_id=task_id, worker_id=worker_id, expires_at=expires_at))
    return RunCredential(access_key=access_key, secret_key=secret, expires_at=expires_at)


def extend(s: Session, task_id: str, worker_id: str, expires_at: datetime) -> None:
    """Push the expiry of the run's credential on (with the lease it follows)."""
    s.execute(update(ApiKeyRow)
              .where(ApiKeyRow.task_id == task_id, ApiKeyRow.worker_id == worker_id)
              .values(expires_at=expires_at))


def revoke(s: Session, task_id: str) -> None:
    """The run ended (or was lost): its credentials stop working at once."""
    s.execute(delete(ApiKeyRow).where(ApiKeyRow.task_id == task_id))
