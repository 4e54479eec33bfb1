"""A buyer contact's notifications in the portal (the bell, the list, marking read), and the unsubscribe
link of every e-mail to a buyer, which works without signing in.

The unsubscribe link opens a page with buttons rather than acting on the GET: mail scanners fetch
links before people do. The token in its address is the credential, so the page sends no referrer.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.config import get_settings
from backend.db.uow import tenant_unit_of_work
from backend.errors import NotFound
from backend.i18n import _, gettext
from backend.notifications import inbox, unsubscribe
from backend.tenants.service import Branding, branding_of, get_current_tenant
from portal import web
from portal.buyer.common import render

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class PortalNotificationController(Controller):
    path = "/portal/notifications"
    include_in_schema = False

    @get("/")
    async def index(
        self, request: Request, contact: Principal, portal_db: AsyncSession, brand: Branding, page: int = 1
    ) -> Response:
        listing = await inbox.notices(portal_db, contact, page=page)
        template = "buyer/_notifications.html" if web.is_htmx(request) else "buyer/notifications.html"
        return render(request, template, brand=brand, listing=listing)

    @get("/bell")
    async def bell(self, request: Request, contact: Principal, portal_db: AsyncSession, brand: Branding) -> Response:
        return render(request, "buyer/_bell.html", brand=brand, unread=await inbox.unread_count(portal_db, contact))

    @post("/{notice_id:uuid}/read")
    async def read(
        self, request: Request, contact: Principal, portal_db: AsyncSession, brand: Branding, notice_id: uuid.UUID
    ) -> Response:
        line = await inbox.mark_read(portal_db, contact, notice_id)
        if web.is_htmx(request):
            unread = await inbox.unread_count(portal_db, contact)
            return render(request, "buyer/_notice_row.html", brand=brand, line=line, bell_unread=unread)
        return web.redirect(request, "/portal/notifications")

    @post("/read-all")
    async def read_all(self, request: Request, contact: Principal, portal_db: AsyncSession) -> Response:
        await inbox.mark_all_read(portal_db, contact)
        return web.redirect(request, "/portal/notifications")


def _no_referrer(response: Response) -> Response:
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _invalid(request: Request) -> Response:
    return _no_referrer(
        render(
            request,
            "buyer/link_invalid.html",
            brand=None,
            status_code=404,
            message=gettext(_("This link is not valid, or has expired. Sign in to the portal to choose your e-mails.")),
        )
    )


class UnsubscribeController(Controller):
    path = "/unsubscribe"
    include_in_schema = False

    @get("/{token:str}")
    async def confirm(self, request: Request, token: str) -> Response:
        asked = unsubscribe.read_token(get_settings().secret_key, token)
        if asked is None:
            return _invalid(request)
        async with tenant_unit_of_work(asked.tenant_id) as session:
            try:
                target = await inbox.unsubscribe_target(session, asked.contact_id, asked.group)
            except NotFound:
                return _invalid(request)
            brand = branding_of(await get_current_tenant(session))
        return _no_referrer(render(request, "buyer/unsubscribe.html", brand=brand, token=token, target=target, done=False))

    @post("/{token:str}")
    async def stop(self, request: Request, token: str, data: Annotated[dict[str, str], Form]) -> Response:
        asked = unsubscribe.read_token(get_settings().secret_key, token)
        if asked is None:
            return _invalid(request)
        group = "all" if data.get("scope") == "all" else asked.group
        async with tenant_unit_of_work(asked.tenant_id) as session:
            try:
                target = await inbox.unsubscribe(session, asked.contact_id, group, asked.tenant_id)
            except NotFound:
                return _invalid(request)
            brand = branding_of(await get_current_tenant(session))
        return _no_referrer(render(request, "buyer/unsubscribe.html", brand=brand, token=token, target=target, done=True))
