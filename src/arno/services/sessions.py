"""Browser sessions: a signed cookie naming the user and a random session id, and the CSRF
token derived from that id.

The signing key is made once per installation and kept in ``server_state``, so every replica
behind a proxy accepts the same cookies and a restart logs nobody out. Sessions are not stored
one by one: a cookie carries its user's ``session_version``, and the user row, read on every
request, must still hold that version. Logging out, changing the password and disabling the
user raise the version, which ends every browser session of that user at once, on every
replica, including copies of a cookie taken before. (Ending only the one session that logged
out would need a table of revoked session ids checked on every request; ending them all is
simpler, and what one wants after a cookie may have leaked.) A password change gives the
browser that made it a new cookie, so only the others are logged out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

import jwt
from sqlalchemy import select, update
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
        return self.issue(principal)

    def issue(self, principal: Principal) -> tuple[str, Session]:
        """A new cookie for ``principal`` with the user's current session version (at login,
        and for the browser that just changed its password and so ended its sessions)."""
        with self.db.read() as s:
            version = s.scalar(select(UserRow.session_version)
                               .where(UserRow.id == principal.user_id))
        if version is None:
            raise Unauthorized("invalid username or password")
        sid = secrets.token_urlsafe(16)
        now = int(time.time())
        token = jwt.encode(
            {"sub": principal.user_id, "sid": sid, "ver": version, "iat": now,
             "exp": now + self.max_age},
            self.secret,
            algorithm="HS256",
        )
        return token, Session(principal, sid)

    def logout(self, user_id: str) -> None:
        """End every browser session of this user (see the module's docstring)."""
        with self.db.write() as s:
            s.execute(update(UserRow).where(UserRow.id == user_id)
                      .values(session_version=UserRow.session_version + 1))

    def verify(self, token: str) -> Session:
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"],
                                options={"require": ["sub", "sid", "exp"]})
        except jwt.PyJWTError:
            raise Unauthorized("session expired or invalid; log in again") from None
        with self.db.read() as s:
            user = s.scalar(select(UserRow).where(UserRow.id == str(claims["sub"])))
            if (user is None or user.disabled
                    or claims.get("ver", 0) != user.session_version):  # logged out since
                raise Unauthorized("session expired or invalid; log in again")
            return Session(Principal(user.id, user.username, user.role, None), str(claims["sid"]))

    # ---- CSRF --------------------------------------------------------------------------------
    def csrf_token(self, sid: str) -> str:
        """Per-session token: forms and script requests made with the cookie must echo it."""
        return hmac.new(self.secret, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()[:40]

    def check_csrf(self, sid: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(sid), str(token))
