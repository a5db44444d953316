"""Browser sessions: a signed cookie naming the user and a random session id, and the CSRF
token derived from that id.

The signing key is made once per installation and kept in ``server_state``, so every replica
behind a proxy accepts the same cookies and a restart logs nobody out. Sessions are not stored:
logging out drops the cookie, and a disabled user is refused on the next request because the
user row is read every time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

import jwt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from arno.core.errors import Unauthorized
from arno.db.engine import Database
from arno.db.models import ServerStateRow, UserRow
from arno.services.auth import AuthService
from arno.services.principal import Principal

_SECRET_KEY = "session_signing_key"


@dataclass(frozen=True)
class Session:
    principal: Principal
    sid: str
    """Random id of this login; the CSRF token is derived from it."""


class SessionService:
    def __init__(self, db: Database, auth: AuthService, *, max_age: int = 7 * 86400) -> None:
        self.db = db
        self.auth = auth
        self.max_age = max_age
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    # ---- the installation's signing key ----------------------------------------------------
    @property
    def secret(self) -> bytes:
        if self._secret is None:
            with self._lock:
                if self._secret is None:
                    self._secret = self._load_or_create_secret()
        return self._secret

    def _load_or_create_secret(self) -> bytes:
        with self.db.read() as s:
            row = s.get(ServerStateRow, _SECRET_KEY)
            if row is not None:
                return bytes(row.value)
        try:
            with self.db.write() as s:
                row = s.get(ServerStateRow, _SECRET_KEY)
                if row is not None:
                    return bytes(row.value)
                value = secrets.token_bytes(32)
                s.add(ServerStateRow(key=_SECRET_KEY, value=value))
                return value
        except SAIntegrityError:  # another replica made it first
            with self.db.read() as s:
                row = s.get(ServerStateRow, _SECRET_KEY)
                assert row is not None
                return bytes(row.value)

    # ---- logging in and out ------------------------------------------------------------------
    def login(self, username: str, password: str) -> tuple[str, Session]:
        """Check a username and password (API keys do not open browser sessions)."""
        if not username or not password:
            raise Unauthorized("invalid username or password")
        try:
            principal = self.auth.authenticate(username, password)
        except Unauthorized:
            raise Unauthorized("invalid username or password") from None
        if principal.key_id is not None:
            raise Unauthorized("invalid username or password")
        sid = secrets.token_urlsafe(16)
        now = int(time.time())
        token = jwt.encode(
            {"sub": principal.user_id, "sid": sid, "iat": now, "exp": now + self.max_age},
            self.secret,
            algorithm="HS256",
        )
        return token, Session(principal, sid)

    def verify(self, token: str) -> Session:
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"],
                                options={"require": ["sub", "sid", "exp"]})
        except jwt.PyJWTError:
            raise Unauthorized("session expired or invalid; log in again") from None
        with self.db.read() as s:
            user = s.scalar(select(UserRow).where(UserRow.id == str(claims["sub"])))
            if user is None or user.disabled:
                raise Unauthorized("session expired or invalid; log in again")
            return Session(Principal(user.id, user.username, user.role, None), str(claims["sid"]))

    # ---- CSRF --------------------------------------------------------------------------------
    def csrf_token(self, sid: str) -> str:
        """Per-session token: forms and script requests made with the cookie must echo it."""
        return hmac.new(self.secret, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()[:40]

    def check_csrf(self, sid: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(sid), str(token))
