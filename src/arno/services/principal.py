"""Who is calling, and what they may do."""

from __future__ import annotations

from dataclasses import dataclass

from arno.core.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    role: str
    key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("only an admin may do this")

    def require_owner(self, owner_id: str | None, what: str = "this task") -> None:
        if not self.is_admin and owner_id != self.user_id:
            raise Forbidden(f"only the owner of {what} or an admin may change it")
