from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import service as auth
from backend.auth.policies import API_KEY_ROLES, Permission, can
from backend.auth.principal import Principal
from backend.i18n import gettext
from portal import web
from portal.console.sign_in import Form
from portal.console.team import FORM_ERRORS


class ApiKeyController(Controller):
    """Every member's own keys; owners and admins also the organisation's keys and everyone else's."""

    path = "/console/api-keys"
    include_in_schema = False

    async def _page(
        self, request: Request, db: AsyncSession, principal: Principal, *, status_code: int = 200, **extra
    ) -> Response:
        manages = can(principal, Permission.MANAGE_API_KEYS)
        extra.setdefault("form", {"name": "", "role": "viewer"})
        extra.setdefault("form_error", None)
        extra.setdefault("personal_form", {"name": ""})
        extra.setdefault("personal_form_error", None)
        template = "console/_api_keys.html" if web.is_htmx(request) else "console/api_keys.html"
        return web.render(
            request,
            template,
            status_code=status_code,
            my_keys=await auth.list_my_api_keys(db, principal),
            manages=manages,
            keys=await auth.list_api_keys(db, principal) if manages else [],
            team_keys=await auth.list_team_personal_keys(db, principal) if manages else [],
            roles=API_KEY_ROLES,
            **extra,
        )

    @get("/")
    async def index(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        return await self._page(request, db, principal)

    @post("/")
    async def create(
        self, request: Request, db: AsyncSession, principal: Principal, data: Annotated[dict[str, str], Form]
    ) -> Response:
        form = {"name": data.get("name", ""), "role": data.get("role", "")}
        try:
            key, secret = await auth.create_api_key_for(db, principal, name=form["name"], role=form["role"])
        except FORM_ERRORS as error:
            return await self._page(
                request,
                db,
                principal,
                status_code=422,
                form=form,
                form_error={"field": error.field, "message": gettext(error.message)},
            )
        return await self._page(request, db, principal, created=key, secret=secret)

    @post("/personal")
    async def create_personal(
        self, request: Request, db: AsyncSession, principal: Principal, data: Annotated[dict[str, str], Form]
    ) -> Response:
        form = {"name": data.get("name", "")}
        try:
            key, secret = await auth.create_personal_api_key(db, principal, name=form["name"])
        except FORM_ERRORS as error:
            return await self._page(
                request,
                db,
                principal,
                status_code=422,
                personal_form=form,
                personal_form_error={"field": error.field, "message": gettext(error.message)},
            )
        return await self._page(request, db, principal, created=key, secret=secret)

    @post("/{key_id:uuid}/revoke")
    async def revoke(self, request: Request, db: AsyncSession, principal: Principal, key_id: uuid.UUID) -> Response:
        await auth.revoke_api_key(db, principal, key_id)
        if web.is_htmx(request):
            return await self._page(request, db, principal)
        return web.redirect(request, "/console/api-keys")
