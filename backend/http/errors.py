"""Domain errors as JSON: the status, a message that names the problem, and the field when there is one."""

from __future__ import annotations

from litestar import Request, Response

from backend.errors import DomainError, Throttled
from backend.i18n import gettext


def domain_error_as_json(request: Request, error: DomainError) -> Response:
    body: dict[str, object] = {"status_code": error.status_code, "detail": error.translated(gettext)}
    if error.field:
        body["field"] = error.field
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, Throttled) else None
    return Response(body, status_code=error.status_code, headers=headers)
