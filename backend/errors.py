"""Domain errors. Services raise them; the API answers them as JSON, the pages show them in place."""

from __future__ import annotations

from backend.i18n import Translatable


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, params: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # Filled into the message after translation: _("Line %(line)s …") with params={"line": 3}.
        self.params = params or {}

    def translated(self, gettext) -> str:
        text = gettext(self.message)
        if not self.params:
            return text
        # A parameter that is a message itself (a status label) is read in the same language.
        return text % {key: gettext(value) if isinstance(value, Translatable) else value for key, value in self.params.items()}


class NotFound(DomainError):
    status_code = 404


class PermissionDenied(DomainError):
    status_code = 403


class Conflict(DomainError):
    status_code = 409


class ValidationFailed(DomainError):
    status_code = 422


class Throttled(DomainError):
    status_code = 429

    def __init__(self, message: str, *, retry_after: int, params: dict | None = None) -> None:
        super().__init__(message, params=params)
        self.retry_after = retry_after
