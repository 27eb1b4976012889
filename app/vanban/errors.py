"""Domain errors raised by use cases; the web layer maps them to HTTP once (web/errors.py)."""


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field


class Invalid(DomainError):
    status = 422
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidTransition(DomainError):
    status = 409
    code = "invalid_transition"


class Rejected(DomainError):
    """Content refused (virus, wrong type, too large...)."""

    status = 422
    code = "rejected"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class Throttled(DomainError):
    status = 429
    code = "throttled"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"
