"""Domain errors as JSON: the status, a message that names the problem, and the field when there is one."""

from __future__ import annotations

import re

from litestar import Request, Response

from backend.errors import DomainError, Throttled
from backend.i18n import gettext


def domain_error_as_json(request: Request, error: DomainError) -> Response:
    body: dict[str, object] = {"status_code": error.status_code, "detail": error.translated(gettext)}
    if error.field:
        body["field"] = error.field
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, Throttled) else None
    return Response(body, status_code=error.status_code, headers=headers)


_NAMED_IN_MESSAGE = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def invalid_input_as_json(status_code: int, detail: str, extra: list | dict | None) -> dict[str, object]:
    """Litestar's own refusals of a body or parameter (400), named like a domain error: `field` and a
    `detail` that says what is wrong with it, with Litestar's list kept under `extra`."""
    body: dict[str, object] = {"status_code": status_code, "detail": detail}
    if not extra:
        return body
    body["extra"] = extra
    first = extra[0] if isinstance(extra, list) and extra and isinstance(extra[0], dict) else None
    if first and first.get("message"):
        key, message = str(first.get("key") or ""), str(first["message"])
        # "Object missing required field `reference`" is reported on the object that lacks it.
        named = _NAMED_IN_MESSAGE.search(message)
        if named and "field" in message:
            key = f"{key}.{named[1]}" if key and key != "data" else named[1]
        if key and key != "data":
            body["field"] = key
            body["detail"] = f"{key}: {message}"
        else:
            body["detail"] = message
    return body
