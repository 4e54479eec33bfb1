"""The signed-in member's notifications: the bell in the top bar, the list, marking read, and how each
group of notices reaches them by e-mail."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, can
from backend.auth.principal import Principal
from backend.errors import ValidationFailed
from backend.i18n import gettext
from backend.notifications import inbox, kinds, sending
from portal import web
from portal.console.sign_in import Form


class NotificationController(Controller):
    path = "/console/notifications"
    include_in_schema = False

    async def _list(self, request: Request, db: AsyncSession, principal: Principal, page: int) -> Response:
        listing = await inbox.notices(db, principal, page=page)
        template = "console/_notifications.html" if web.is_htmx(request) else "console/notifications.html"
        failed = await sending.failed_mails(db, 20) if can(principal, Permission.MANAGE_TEAM) else []
        return web.render(request, template, listing=listing, failed=failed)

    @get("/")
    async def index(self, request: Request, db: AsyncSession, principal: Principal, page: int = 1) -> Response:
        return await self._list(request, db, principal, page)

    @get("/bell")
    async def bell(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        return web.render(request, "console/_bell.html", unread=await inbox.unread_count(db, principal))

    @post("/{notice_id:uuid}/read")
    async def read(self, request: Request, db: AsyncSession, principal: Principal, notice_id: uuid.UUID) -> Response:
        line = await inbox.mark_read(db, principal, notice_id)
        if web.is_htmx(request):
            return web.render(request, "console/_notice_row.html", line=line, bell_unread=await inbox.unread_count(db, principal))
        return web.redirect(request, "/console/notifications")

    @post("/read-all")
    async def read_all(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        await inbox.mark_all_read(db, principal)
        return web.redirect(request, "/console/notifications")

    async def _preferences(
        self, request: Request, db: AsyncSession, principal: Principal, *, status_code: int = 200, **extra
    ) -> Response:
        extra.setdefault("chosen", await inbox.deliveries(db, principal))
        extra.setdefault("errors", {})
        extra.setdefault("saved", False)
        return web.render(
            request,
            "console/notification_preferences.html",
            status_code=status_code,
            groups=kinds.GROUPS,
            delivery_labels=inbox.DELIVERY_LABELS,
            **extra,
        )

    @get("/preferences")
    async def preferences(self, request: Request, db: AsyncSession, principal: Principal, saved: bool = False) -> Response:
        return await self._preferences(request, db, principal, saved=saved)

    @post("/preferences")
    async def save_preferences(
        self, request: Request, db: AsyncSession, principal: Principal, data: Annotated[dict[str, str], Form]
    ) -> Response:
        choices = {group: data.get(group, "") for group in kinds.GROUP_KEYS}
        try:
            await inbox.set_deliveries(db, principal, choices)
        except ValidationFailed as error:
            await db.rollback()
            return await self._preferences(
                request, db, principal, status_code=422, chosen=choices, errors={error.field: error.translated(gettext)}
            )
        return web.redirect(request, "/console/notifications/preferences?saved=true")
