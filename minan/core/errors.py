"""Domain errors: raised by services, turned into form errors (UI) or structured 400s (API)."""

from __future__ import annotations


class DomainError(Exception):
    """A rule refused the request; nothing was written. `code` is stable for API clients."""

    code = "invalid"

    def __init__(
        self, message: str, *, code: str | None = None, field: str | None = None, details: object = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details  # e.g. the items still to answer, for API clients
        if code:
            self.code = code


class NotPermitted(DomainError):
    code = "permission_denied"


class OutOfScope(DomainError):
    """The target lies outside the actor's scope. Views answer 404, as for a missing object."""

    code = "not_found"
