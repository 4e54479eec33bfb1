"""Signing in to the buyer portal: ask for a link, follow it, or use a password; sign out.

A sign-in link opens a page with one button rather than signing in on the GET: mail scanners fetch
links before people do, and would use up a single-use link.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Response

from backend.auth import portal as access
from backend.auth.principal import Audience
from backend.errors import DomainError, Throttled
from backend.http.auth import client_ip, expired_session_cookie, session_cookie
from backend.i18n import gettext
from backend.tenants.service import branding_by_slug
from portal import web
from portal.buyer.common import PORTAL_HOME, render

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


# What a sign-in link can carry back (portal_magic_links.next_path); a longer address goes home instead.
MAX_NEXT = 300


def safe_portal_next(target: str | None) -> str:
    target = web.safe_next(target, PORTAL_HOME)
    if len(target) > MAX_NEXT:
        return PORTAL_HOME
    return target if target == PORTAL_HOME or target.startswith(PORTAL_HOME + "/") else PORTAL_HOME


async def _signed_in_response(request: Request, signed_in: access.PortalSignedIn, target: str) -> Response:
    # A sign-in over an earlier portal session ends that one: one browser, one session.
    await access.sign_out(request.scope.get("state", {}).get("session_token"))
    cookies = [session_cookie(Audience.PORTAL, signed_in.token)]
    if signed_in.language:
        cookies.append(web.language_cookie(signed_in.language))
    return web.redirect(request, target, cookies=cookies)


class PortalAccessController(Controller):
    path = "/portal"
    include_in_schema = False

    @get("/sign-in")
    async def form(
        self, request: Request, supplier: str | None = None, next: str | None = None, signed_out: str | None = None
    ) -> Response:
        brand = await branding_by_slug(supplier) if supplier else None
        return render(
            request,
            "buyer/sign_in.html",
            brand=brand,
            supplier=brand.slug if brand else "",
            next=safe_portal_next(next),
            email="",
            error=None,
            sent=False,
            mode="link",
            signed_out_everywhere=signed_out == "everywhere",
        )

    @post("/sign-in")
    async def ask_for_link(self, request: Request, data: Annotated[dict[str, str], Form]) -> Response:
        """Ask for a link (the default), or sign in with a password when one is given."""
        brand = await branding_by_slug(data.get("supplier", "")) if data.get("supplier") else None
        email, target = data.get("email", "").strip(), safe_portal_next(data.get("next"))
        context = {"brand": brand, "supplier": brand.slug if brand else "", "next": target, "email": email}
        password = data.get("password")
        try:
            if password:
                signed_in = await access.sign_in_with_password(
                    email,
                    password,
                    tenant_slug=brand.slug if brand else None,
                    ip=client_ip(request.scope),
                    user_agent=request.headers.get("user-agent"),
                )
                return await _signed_in_response(request, signed_in, target)
            await access.request_link(
                email,
                tenant_slug=brand.slug if brand else None,
                ip=client_ip(request.scope),
                next_path=target if target != PORTAL_HOME else None,
            )
        except DomainError as error:
            status = 429 if isinstance(error, Throttled) else 422
            response = render(
                request,
                "buyer/sign_in.html",
                status_code=status,
                error=error.translated(gettext),
                sent=False,
                mode="password" if password else "link",
                **context,
            )
            if isinstance(error, Throttled):
                response.headers["Retry-After"] = str(error.retry_after)
            return response
        # The same answer whether or not the address has a portal: an address reveals nothing.
        return render(request, "buyer/sign_in.html", error=None, sent=True, mode="link", **context)

    @get("/link/{token:str}")
    async def link(self, request: Request, token: str) -> Response:
        response = render(request, "buyer/link.html", brand=None, token=token)
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @post("/link/{token:str}")
    async def follow_link(self, request: Request, token: str) -> Response:
        try:
            signed_in = await access.redeem_link(token, ip=client_ip(request.scope), user_agent=request.headers.get("user-agent"))
        except DomainError as error:
            response = render(request, "buyer/link_invalid.html", brand=None, status_code=404, message=error.translated(gettext))
            response.headers["Referrer-Policy"] = "no-referrer"
            return response
        response = await _signed_in_response(request, signed_in, safe_portal_next(signed_in.next_path))
        # The redirect leaves the page whose address holds the token: that address goes to nobody.
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @post("/sign-out")
    async def sign_out(self, request: Request) -> Response:
        await access.sign_out(request.scope.get("state", {}).get("session_token"))
        return web.redirect(request, "/portal/sign-in", cookies=[expired_session_cookie(Audience.PORTAL)])
