"""Console › Team › Buyer portal: the portal's colours and logo, and the address to give buyers."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, can
from backend.auth.principal import Principal
from backend.config import get_settings
from backend.errors import ValidationFailed
from backend.files.uploads import FileTooLarge
from backend.i18n import gettext
from backend.tenants import service as tenants
from portal import web

Multipart = Body(media_type=RequestEncodingType.MULTI_PART)
# Room for a logo somewhat over the limit, so that it is refused beside its field rather than by the server.
BODY_LIMIT = 4 * tenants.MAX_LOGO_BYTES


def portal_address(slug: str) -> str:
    # Built from ACCORD_BASE_URL, the public address, never from the request's Host.
    return f"{get_settings().base_url}/portal/sign-in?supplier={slug}"


class PortalSettingsController(Controller):
    path = "/console/portal-settings"
    include_in_schema = False

    async def _page(
        self, request: Request, db: AsyncSession, principal: Principal, *, status_code: int = 200, **extra
    ) -> Response:
        brand = await tenants.current_branding(db)
        extra.setdefault("form", {"colour": brand.colour, "accent": brand.accent})
        extra.setdefault("errors", {})
        extra.setdefault("notice", None)
        return web.render(
            request,
            "console/portal_settings.html",
            status_code=status_code,
            brand=brand,
            address=portal_address(brand.slug),
            can_manage=can(principal, Permission.MANAGE_TEAM),
            max_logo_mb=tenants.MAX_LOGO_BYTES // (1024 * 1024),
            **extra,
        )

    @get("/")
    async def index(self, request: Request, db: AsyncSession, principal: Principal, saved: str | None = None) -> Response:
        notice = gettext("The portal's look is saved. Buyers see it on their next page.") if saved else None
        return await self._page(request, db, principal, notice=notice)

    @post("/", request_max_body_size=BODY_LIMIT)
    async def save(self, request: Request, db: AsyncSession, principal: Principal, data: Annotated[dict, Multipart]) -> Response:
        form = {name: data.get(name) if isinstance(data.get(name), str) else "" for name in ("colour", "accent")}
        upload = data.get("logo")
        logo = None
        if isinstance(upload, UploadFile) and upload.filename:
            logo = tenants.LogoUpload(filename=upload.filename, source=upload.file)
        try:
            await tenants.set_branding(
                db,
                principal,
                colour=form["colour"],
                accent=form["accent"],
                logo=logo,
                remove_logo=data.get("remove_logo") == "yes",
            )
        except (ValidationFailed, FileTooLarge) as error:
            await db.rollback()
            return await self._page(
                request,
                db,
                principal,
                status_code=error.status_code,
                form=form,
                errors={error.field or "form": error.translated(gettext)},
            )
        return web.redirect(request, "/console/portal-settings?saved=1")
