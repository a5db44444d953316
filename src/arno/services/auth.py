"""Users, API keys and credential checks. Secrets are stored as argon2 hashes."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from arno.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from arno.core.ids import as_utc, is_id, utcnow
from arno.core.schemas import KeyCreated, KeyOut, UserOut
from arno.db.engine import Database
from arno.db.models import ApiKeyRow, UserRow
from arno.services import run_credentials
from arno.services.principal import Principal

_hasher = PasswordHasher()
_KEY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


PRINCIPAL_SECONDS = 2.0
"""How long a checked key stays trusted without a database read. Revoking a key or disabling a
user forgets every trusted key at once in this process; other server processes notice within
this time."""

# one round trip for what every request with an API key needs to know
_KEY_AND_USER = select(
    ApiKeyRow.id, ApiKeyRow.secret_hash, ApiKeyRow.revoked_at, ApiKeyRow.task_id,
    ApiKeyRow.expires_at, UserRow.id.label("user_id"), UserRow.username, UserRow.role,
    UserRow.disabled,
).join(UserRow, UserRow.id == ApiKeyRow.user_id)


def _new_access_key() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(24))


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password nobody knows, made once per process by the same hasher
    (so checking against it costs what checking a stored hash costs)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _check_dummy(secret: str) -> None:
    """As slow as checking a wrong password, for a login that has none to check."""
    try:
        _hasher.verify(_dummy_hash(), secret)
    except (VerificationError, InvalidHashError):
        pass


class AuthService:
    """Argon2 is deliberately slow (~50 ms); after one successful check the secret's SHA-256 is
    kept in memory for ``cache_seconds`` so a busy client is not slowed down. A key whose
    revocation and owner were read from the database is trusted for ``PRINCIPAL_SECONDS``
    more, so a busy client costs no database read per request."""

    def __init__(self, db: Database, *, cache_seconds: int = 300) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[bytes, float]] = {}
        self._touched: dict[str, float] = {}
        self._principals: dict[str, tuple[bytes, Principal, float]] = {}
        self._lock = threading.Lock()

    # ---- checking credentials ------------------------------------------------------------
    def authenticate(self, login: str, secret: str) -> Principal:
        """Accept an API key + secret pair, or a username + password."""
        digest = _digest(login + "\0" + secret)
        now = time.monotonic()
        hit = self._principals.get(login)
        if hit is not None and hit[2] > now and hmac.compare_digest(hit[0], digest):
            return hit[1]
        with self.db.read() as s:
            key = s.execute(_KEY_AND_USER.where(ApiKeyRow.access_key == login)).first()
        if key is not None:
            if key.revoked_at is not None or key.disabled:
                raise Unauthorized("invalid credentials")
            if key.expires_at is not None and as_utc(key.expires_at) <= utcnow():
                raise Unauthorized("invalid credentials")
            if key.task_id is not None:  # a task run's credential: no argon2, no touch
                if not run_credentials.check_secret(key.secret_hash, secret):
                    raise Unauthorized("invalid credentials")
                principal = Principal(key.user_id, key.username, key.role, key.id,
                                      run_task_id=key.task_id)
            else:
                self._verify(f"k:{key.id}", key.secret_hash, secret)
                self._touch(key.id)
                principal = Principal(key.user_id, key.username, key.role, key.id)
            with self._lock:
                if len(self._principals) > 10_000:
                    self._principals.clear()
                self._principals[login] = (digest, principal, now + PRINCIPAL_SECONDS)
            return principal
        with self.db.read() as s:
            user = s.execute(select(
                UserRow.id, UserRow.username, UserRow.role, UserRow.disabled,
                UserRow.password_hash,
            ).where(UserRow.username == login)).first()
        if user is None or user.disabled or not user.password_hash:
            _check_dummy(secret)  # as slow as a wrong password: no telling who exists
            raise Unauthorized("invalid credentials")
        self._verify(f"u:{user.id}", user.password_hash, secret)
        return Principal(user.id, user.username, user.role, None)

    def is_access_key(self, login: str) -> bool:
        """Whether ``login`` names an API key (any, revoked included), not a user."""
        with self.db.read() as s:
            return s.scalar(select(ApiKeyRow.id).where(ApiKeyRow.access_key == login)
                            ) is not None

    def _touch(self, key_id: str) -> None:
        """Record when a key was last used, at most once a minute per key (not a write per
        request)."""
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(key_id, -1e9) < 60:
                return
            self._touched[key_id] = now
        with self.db.write() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is not None:
                row.last_used_at = utcnow()

    def _verify(self, cache_key: str, stored_hash: str, secret: str) -> None:
        digest = _digest(secret + "\0" + stored_hash)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(cache_key)
        if hit and hit[1] > now and hmac.compare_digest(hit[0], digest):
            return
        try:
            _hasher.verify(stored_hash, secret)
        except (VerificationError, InvalidHashError):
            raise Unauthorized("invalid credentials") from None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[cache_key] = (digest, now + self.cache_seconds)

    # ---- users ---------------------------------------------------------------------------
    def create_user(
        self, username: str, *, password: str | None = None, role: str = "user"
    ) -> UserOut:
        with self.db.write() as s:
            if s.scalar(select(UserRow).where(UserRow.username == username)) is not None:
                raise Conflict(f"user {username!r} already exists")
            row = UserRow(
                username=username,
                password_hash=_hasher.hash(password) if password else None,
                role=role,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return _user_out(row)

    def list_users(self) -> list[UserOut]:
        with self.db.read() as s:
            return [_user_out(u) for u in s.scalars(select(UserRow).order_by(UserRow.username))]

    def set_disabled(self, user: str, disabled: bool) -> UserOut:
        with self.db.write() as s:
            row = _find_user(s, user)
            row.disabled = disabled
            row.session_version += 1  # its browser sessions end (and stay ended if re-enabled)
            out = _user_out(row)
        self._forget()
        return out

    def set_password(self, user: str, password: str) -> None:
        if len(password) < 8:
            raise InvalidInput("a password needs at least 8 characters")
        with self.db.write() as s:
            row = _find_user(s, user)
            row.password_hash = _hasher.hash(password)
            row.session_version += 1  # every browser session of this user ends
        self._forget()

    def count_users(self) -> int:
        with self.db.read() as s:
            return len(s.scalars(select(UserRow.id)).all())

    # ---- keys ----------------------------------------------------------------------------
    def create_key(self, user: str, *, label: str = "") -> KeyCreated:
        secret = secrets.token_urlsafe(32)
        with self.db.write() as s:
            owner = _find_user(s, user)
            row = ApiKeyRow(
                access_key=_new_access_key(),
                secret_hash=_hasher.hash(secret),
                user_id=owner.id,
                label=label,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return KeyCreated(**_key_out(row, owner.username).model_dump(), secret_key=secret)

    def list_keys(self, *, user_id: str | None = None) -> list[KeyOut]:
        with self.db.read() as s:
            q = (select(ApiKeyRow, UserRow.username)
                 .join(UserRow, UserRow.id == ApiKeyRow.user_id)
                 .where(ApiKeyRow.task_id.is_(None)))  # run credentials are not listed
            if user_id is not None:
                q = q.where(ApiKeyRow.user_id == user_id)
            return [_key_out(k, name) for k, name in s.execute(q.order_by(ApiKeyRow.created_at))]

    def get_key(self, key: str) -> KeyOut:
        with self.db.read() as s:
            row = _find_key(s, key)
            user = s.get(UserRow, row.user_id)
            return _key_out(row, user.username if user else "")

    def revoke_key(self, key: str) -> KeyOut:
        with self.db.write() as s:
            row = _find_key(s, key)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            user = s.get(UserRow, row.user_id)
            out = _key_out(row, user.username if user else "")
        with self._lock:
            self._cache.pop(f"k:{out.id}", None)
        self._forget()
        return out

    def _forget(self) -> None:
        """Drop every remembered principal (after a revocation, a disabled user ...)."""
        with self._lock:
            self._principals.clear()


def _find_user(s: Session, user: str) -> UserRow:
    row = s.get(UserRow, user) if is_id(user) else None
    if row is None:
        row = s.scalar(select(UserRow).where(UserRow.username == user))
    if row is None:
        raise NotFound(f"no user {user!r}")
    return row


def _find_key(s: Session, key: str) -> ApiKeyRow:
    row = s.get(ApiKeyRow, key) if is_id(key) else None
    if row is None:
        row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.access_key == key))
    if row is None:
        raise NotFound(f"no API key {key!r}")
    return row


def _user_out(row: UserRow) -> UserOut:
    return UserOut(
        id=row.id,
        username=row.username,
        role=row.role,  # type: ignore[arg-type]
        disabled=row.disabled,
        created_at=as_utc(row.created_at),
    )


def _key_out(row: ApiKeyRow, username: str) -> KeyOut:
    return KeyOut(
        id=row.id,
        access_key=row.access_key,
        user_id=row.user_id,
        username=username,
        label=row.label,
        created_at=as_utc(row.created_at),
        last_used_at=as_utc(row.last_used_at),
        revoked_at=as_utc(row.revoked_at),
    )
