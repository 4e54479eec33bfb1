"""What every page shares: security headers, the chosen language, rendering, and safe redirects."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from jinja2 import pass_context
from litestar import Request, Response
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.response import Redirect, Template
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from backend.auth.policies import Permission, can
from backend.config import get_settings
from backend.http.auth import cookie_value
from backend.i18n import SUPPORTED, _, babel_locale, current_language, gettext, negotiate

LANGUAGE_COOKIE = "accord_lang"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def csp_with_form_targets(*hosts: str) -> str:
    """The CSP of a page whose form answers with a redirect to Stripe (Checkout, billing portal, Connect
    onboarding), which the browser checks against form-action: only those hosts are added, and a test
    installation's Stripe address (STRIPE_API_BASE)."""
    allowed = list(hosts)
    if base := get_settings().stripe_api_base:
        parsed = urlparse(base)
        allowed.append(f"{parsed.scheme}://{parsed.netloc}")
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", "form-action 'self' " + " ".join(allowed))


class WebContextMiddleware(ASGIMiddleware):
    """Sets the request's language and adds the security headers every response carries."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal = scope.get("user")
        headers = dict(scope.get("headers", []))
        language = negotiate(
            getattr(principal, "language", None),
            cookie_value(scope, LANGUAGE_COOKIE),
            accept_language=headers.get(b"accept-language", b"").decode("latin-1"),
        )
        token = current_language.set(language)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableScopeHeaders.from_message(message)
                response_headers.setdefault("content-security-policy", CONTENT_SECURITY_POLICY)
                response_headers.setdefault("x-content-type-options", "nosniff")
                response_headers.setdefault("referrer-policy", "same-origin")
                response_headers.setdefault("x-frame-options", "DENY")
                response_headers.setdefault("cross-origin-opener-policy", "same-origin")
                if not scope["path"].startswith("/static/"):
                    response_headers.setdefault("cache-control", "no-store")
                response_headers.setdefault("content-language", language)
            await send(message)

        try:
            await next_app(scope, receive, send_with_headers)
        finally:
            current_language.reset(token)


def language_cookie(language: str) -> Cookie:
    return Cookie(
        key=LANGUAGE_COOKIE, value=language, path="/", secure=True, httponly=True, samesite="lax", max_age=365 * 24 * 3600
    )


def safe_next(target: str | None, default: str = "/console") -> str:
    # Only a path on this site: never "//host" or "https://…", which would make an open redirect.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request, template: str, *, status_code: int = 200, cookies: list[Cookie] | None = None, **context: Any
) -> Template:
    principal = request.scope.get("user")
    context.setdefault("principal", principal)
    # What the navigation offers: only the places this person's role may open.
    context.setdefault("may_read_audit", principal is not None and can(principal, Permission.READ_AUDIT))
    context.setdefault("language", current_language.get())
    context.setdefault("languages", SUPPORTED)
    context.setdefault("path", request.url.path)
    context.setdefault("query", request.url.query)
    return Template(template_name=template, context=context, status_code=status_code, cookies=cookies or [])


def redirect(request: Request, target: str, *, cookies: list[Cookie] | None = None) -> Response:
    if is_htmx(request):
        # htmx follows a redirect itself and swaps the result in place; a whole-page move is asked for so.
        return Response(content=b"", status_code=204, headers={"HX-Redirect": target}, cookies=cookies or [])
    return Redirect(target, status_code=303, cookies=cookies or [])


# --- template filters ------------------------------------------------------------------------


@pass_context
def local_time(context, moment: datetime | None, fmt: str = "medium") -> str:
    """Times are stored in UTC and shown in the tenant's time zone, in the reader's language."""
    if moment is None:
        return ""
    principal = context.get("principal")
    time_zone = ZoneInfo(getattr(principal, "time_zone", None) or "UTC")
    return format_datetime(moment, format=fmt, tzinfo=time_zone, locale=babel_locale(current_language.get()))


def changes(before: dict | None, after: dict | None) -> list[tuple[str, Any, Any]]:
    """The fields an audit entry changed: (name, old, new); a creation lists what it set."""
    before, after = before or {}, after or {}
    return [
        (key, before.get(key), after.get(key)) for key in dict.fromkeys([*before, *after]) if before.get(key) != after.get(key)
    ]


def number(value: Any) -> str:
    return format_decimal(value, locale=babel_locale(current_language.get()))


def money(amount: Any, currency: str) -> str:
    """An amount in its currency, written the reader's way (CN¥1,130.00 in English, ¥1,130.00 in Chinese)."""
    if amount is None:
        return ""
    return format_currency(amount, currency, locale=babel_locale(current_language.get()))


def local_date(value: date | None, fmt: str = "medium") -> str:
    return "" if value is None else format_date(value, format=fmt, locale=babel_locale(current_language.get()))


def role_label(role: Any) -> str:
    value = getattr(role, "value", role)
    return gettext(ROLE_LABELS.get(value, value))


ROLE_LABELS = {
    "owner": _("Owner"),
    "admin": _("Administrator"),
    "credit_manager": _("Credit manager"),
    "collector": _("Collector"),
    "collaborator": _("Collaborator"),
    "viewer": _("Viewer"),
}
