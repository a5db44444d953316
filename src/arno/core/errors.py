"""The one error tree of Arno.

    ArnoError                 500  base class; ``code`` and ``status`` travel over HTTP
    ├── InvalidInput          422  a request or argument that cannot be accepted
    ├── Unauthorized          401  missing or wrong credentials
    ├── Forbidden             403  authenticated, but not allowed to do this
    ├── NotFound              404  no such object
    ├── Conflict              409  the object's state forbids the change
    │   └── Immutable         409  the object is final (completed task, finalized dataset)
    ├── PayloadTooLarge       413  request body over the configured limit
    ├── TooManyRequests       429  too many attempts (failed logins); see ``retry_after``
    ├── ServerUnavailable     503  the server cannot be reached or is overloaded
    └── IntegrityError        500  stored bytes do not match their hash

The server turns any of them into ``{"error": {"code": ..., "message": ...}}`` with the
class's HTTP status; the client turns that body back into the same class.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ArnoError(Exception):
    """Base of every error Arno raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class InvalidInput(ArnoError):
    status = 422
    code = "invalid_input"


class Unauthorized(ArnoError):
    status = 401
    code = "unauthorized"


class Forbidden(ArnoError):
    status = 403
    code = "forbidden"


class NotFound(ArnoError):
    status = 404
    code = "not_found"


class Conflict(ArnoError):
    status = 409
    code = "conflict"


class Immutable(Conflict):
    code = "immutable"


class PayloadTooLarge(ArnoError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(ArnoError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after
        """Seconds to wait; the server sends it as the ``Retry-After`` header."""


class ServerUnavailable(ArnoError):
    status = 503
    code = "unavailable"


class IntegrityError(ArnoError):
    status = 500
    code = "integrity_error"


_BY_CODE: dict[str, type[ArnoError]] = {
    cls.code: cls
    for cls in (
        ArnoError,
        InvalidInput,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Immutable,
        PayloadTooLarge,
        TooManyRequests,
        ServerUnavailable,
        IntegrityError,
    )
}
_BY_STATUS: dict[int, type[ArnoError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidInput,
    429: TooManyRequests,
    502: ServerUnavailable,
    503: ServerUnavailable,
    504: ServerUnavailable,
}


def error_from_body(status: int, body: Any) -> ArnoError:
    """Rebuild the error a server described in its JSON error body."""
    message = f"HTTP {status}"
    cls: type[ArnoError] = _BY_STATUS.get(status, ArnoError)
    details: dict[str, Any] | None = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        message = str(err.get("message") or message)
        cls = _BY_CODE.get(str(err.get("code")), cls)
        details = err.get("details") if isinstance(err.get("details"), dict) else None
    return cls(message, details=details)
