"""A contact's own settings: password, language, notifications, switching supplier, signing out
everywhere; and the supplier's branding (theme and logo) the portal wears.

The theme and the logo are public, like the supplier's sign-in page that shows them; both are
addressed with the branding's version (`?v=`), so browsers may keep them until it changes.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import portal as access
from backend.auth.principal import Audience, Principal, PrincipalKind
from backend.db.uow import tenant_unit_of_work
from backend.errors import NotFound, ValidationFailed
from backend.http.auth import client_ip, expired_session_cookie, session_cookie
from backend.i18n import _, gettext, normalise
from backend.notifications import inbox, kinds
from backend.tenants.service import Branding, brand_logo, branding_by_slug
from portal import web
from portal.buyer.access import safe_portal_next
from portal.buyer.common import PORTAL_HOME, render

Form = Body(media_type=RequestEncodingType.URL_ENCODED)

NOTIFICATION_LABELS = {
    "messages": _("A message about one of our disputes"),
    "proposals": _("A proposal to settle a dispute"),
    "statements": _("A statement of account"),
}
NOTICES = {
    "password": _("Your password is saved. You are still signed in here; every other session of yours has ended."),
    "preferences": _("Your preferences are saved."),
}
# A year: the address changes with the branding (`?v=`), so a kept copy is never out of date.
CACHE_VERSIONED = "public, max-age=31536000, immutable"


def _cache_control(version: str, requested: str | None) -> str:
    return CACHE_VERSIONED if requested == version else "no-cache"


def theme_css(brand: Branding) -> str:
    """The supplier's colours as the portal's custom properties, with ink chosen to stay readable on them."""
    return (
        "body.portal, .brand-preview {\n"
        f"  --brand: {brand.colour};\n"
        f"  --brand-ink: {brand.ink};\n"
        f"  --brand-soft: {brand.accent};\n"
        f"  --brand-soft-ink: {brand.accent_ink};\n"
        # Links and primary buttons: the brand colour, darkened where white would not read on it.
        f"  --accent: {brand.link};\n"
        "  --accent-ink: #ffffff;\n"
        "}\n"
    )


class PortalAccountController(Controller):
    path = "/portal"
    include_in_schema = False

    async def _page(
        self,
        request: Request,
        contact: Principal,
        portal_db: AsyncSession,
        brand: Branding,
        *,
        status_code: int = 200,
        **extra,
    ) -> Response:
        me = await access.preferences(portal_db, contact)
        extra.setdefault("errors", {})
        extra.setdefault("notice", None)
        return render(
            request,
            "buyer/account.html",
            brand=brand,
            status_code=status_code,
            me=me,
            has_password=await access.has_password(contact),
            portals=await access.portals_of(contact),
            notification_labels=NOTIFICATION_LABELS,
            reminder_groups=kinds.GROUPS,
            delivery_labels=inbox.DELIVERY_LABELS,
            deliveries=extra.pop("deliveries", None) or await inbox.deliveries(portal_db, contact),
            **extra,
        )

    @get("/account")
    async def account(
        self, request: Request, contact: Principal, portal_db: AsyncSession, brand: Branding, saved: str | None = None
    ) -> Response:
        notice = NOTICES.get(saved or "")
        return await self._page(request, contact, portal_db, brand, notice=gettext(notice) if notice else None)

    @post("/account/password")
    async def set_password(
        self,
        request: Request,
        contact: Principal,
        portal_db: AsyncSession,
        brand: Branding,
        data: Annotated[dict[str, str], Form],
    ) -> Response:
        try:
            await access.set_password(
                contact, data.get("password", ""), data.get("password_again", ""), current_password=data.get("current_password")
            )
        except ValidationFailed as error:
            return await self._page(
                request, contact, portal_db, brand, status_code=422, errors={error.field or "password": error.translated(gettext)}
            )
        return web.redirect(request, "/portal/account?saved=password#password")

    @post("/account/preferences")
    async def set_preferences(
        self,
        request: Request,
        contact: Principal,
        portal_db: AsyncSession,
        brand: Branding,
        data: Annotated[dict[str, str | list[str]], Form],
    ) -> Response:
        chosen = data.get("notifications", [])
        chosen = [chosen] if isinstance(chosen, str) else chosen
        language = data.get("language") if isinstance(data.get("language"), str) else None
        try:
            me = await access.set_preferences(
                portal_db,
                contact,
                language=language or None,
                notifications={kind: kind in chosen for kind in access.NOTIFICATION_KINDS},
            )
            # Reminders, escalations and instalments: at once, in a daily digest, or not by e-mail.
            await inbox.set_deliveries(
                portal_db, contact, {g: str(data[g]) for g in kinds.GROUP_KEYS if isinstance(data.get(g), str)}
            )
        except ValidationFailed as error:
            await portal_db.rollback()
            return await self._page(
                request, contact, portal_db, brand, status_code=422, errors={error.field or "language": error.translated(gettext)}
            )
        return web.redirect(request, "/portal/account?saved=preferences#preferences", cookies=[web.language_cookie(me.language)])

    @post("/language")
    async def choose_language(self, request: Request, data: Annotated[dict[str, str], Form]) -> Response:
        """The language buttons of every portal page, the sign-in page's too: kept for the contact, and in a cookie."""
        language, target = normalise(data.get("language")), safe_portal_next(data.get("next"))
        if language is None:
            return web.redirect(request, target)
        principal = request.scope.get("user")
        if principal is not None and principal.kind is PrincipalKind.BUYER_CONTACT:
            async with tenant_unit_of_work(principal.tenant_id) as session:
                await access.set_preferences(session, principal, language=language)
        return web.redirect(request, target, cookies=[web.language_cookie(language)])

    @post("/switch")
    async def switch(self, request: Request, contact: Principal, data: Annotated[dict[str, str], Form]) -> Response:
        """Open another of the person's portals (another supplier, or another buyer): a new session for it."""
        try:
            contact_id = uuid.UUID(data.get("contact_id", ""))
        except ValueError:
            raise NotFound(_("Not found.")) from None
        token = await access.switch_portal(
            contact,
            contact_id,
            token=request.scope.get("state", {}).get("session_token"),
            ip=client_ip(request.scope),
            user_agent=request.headers.get("user-agent"),
        )
        return web.redirect(request, PORTAL_HOME, cookies=[session_cookie(Audience.PORTAL, token)])

    @post("/sign-out-everywhere")
    async def sign_out_everywhere(self, request: Request, contact: Principal, brand: Branding) -> Response:
        await access.sign_out_everywhere(contact)
        return web.redirect(
            request,
            f"/portal/sign-in?supplier={brand.slug}&signed_out=everywhere",
            cookies=[expired_session_cookie(Audience.PORTAL)],
        )

    # --- the supplier's look, public ------------------------------------------------------------

    @get("/brand/{slug:str}/theme.css")
    async def theme(self, slug: str, v: str | None = None) -> Response:
        brand = await branding_by_slug(slug)
        if brand is None:
            raise NotFound(_("Not found."))
        return Response(
            theme_css(brand),
            media_type="text/css; charset=utf-8",
            headers={"Cache-Control": _cache_control(brand.version, v)},
        )

    @get("/brand/{slug:str}/logo")
    async def logo(self, slug: str, v: str | None = None) -> Response:
        logo = await brand_logo(slug)
        if logo is None:
            raise NotFound(_("Not found."))
        return Response(
            logo.content,
            media_type=logo.content_type,
            headers={
                "Cache-Control": _cache_control(logo.version, v),
                "X-Content-Type-Options": "nosniff",
                "Content-Disposition": "inline",
                "Cross-Origin-Resource-Policy": "same-origin",
            },
        )
