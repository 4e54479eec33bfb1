"""Who is calling: an API key on /api, a session cookie elsewhere. Sets `scope["user"]` (None when anonymous)."""

from __future__ import annotations

from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from backend.auth.principal import Audience
from backend.auth.service import resolve_api_key, resolve_session

API_PREFIX = "/api/"
PORTAL_PREFIX = "/portal"
SESSION_COOKIES = {Audience.CONSOLE: "__Host-accord_console", Audience.PORTAL: "__Host-accord_portal"}


def audience_of(path: str) -> Audience:
    """Each surface reads only its own cookie: a portal session never opens a console page, nor the reverse."""
    if path == PORTAL_PREFIX or path.startswith(PORTAL_PREFIX + "/"):
        return Audience.PORTAL
    return Audience.CONSOLE


def client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def session_cookie(audience: Audience, token: str) -> Cookie:
    # No max-age: the browser forgets it on close; the server ends it after 30 idle minutes or 8 hours.
    return Cookie(key=SESSION_COOKIES[audience], value=token, path="/", secure=True, httponly=True, samesite="lax")


def expired_session_cookie(audience: Audience) -> Cookie:
    return Cookie(key=SESSION_COOKIES[audience], value="", path="/", secure=True, httponly=True, samesite="lax", max_age=0)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def cookie_value(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        key, _sep, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class AuthenticationMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    exclude_path_pattern = ("^/static/", "^/healthz$", "^/readyz$")

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        ip = client_ip(scope)
        principal = None
        if scope["path"].startswith(API_PREFIX):
            authorization = _header(scope, b"authorization") or ""
            scheme, _sep, credentials = authorization.partition(" ")
            if scheme.lower() == "bearer":
                principal = await resolve_api_key(credentials.strip(), ip=ip)
        else:
            audience = audience_of(scope["path"])
            token = cookie_value(scope, SESSION_COOKIES[audience])
            if token:
                principal = await resolve_session(token, audience, ip=ip)
                scope.setdefault("state", {})["session_token"] = token
        scope["user"] = principal
        scope["auth"] = principal
        await next_app(scope, receive, send)
