"""What every buyer-portal page shares: the signed-in contact, the supplier's branding, rendering.

The portal reads only its own session cookie (`backend.http.auth.audience_of`); a console session
never opens a portal page, nor the reverse. Each handler takes `contact` (the signed-in buyer contact,
or a redirect to the sign-in page) and `db` (a unit of work for the contact's supplier); every read goes
through a service that scopes it to `contact.buyer_id`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal, PrincipalKind
from backend.db.uow import tenant_unit_of_work
from backend.tenants.service import Branding, branding_of, get_current_tenant
from portal import web

PORTAL_HOME = "/portal"


def provide_contact(request: Request) -> Principal:
    principal = request.scope.get("user")
    if principal is None or principal.kind is not PrincipalKind.BUYER_CONTACT or principal.buyer_id is None:
        raise NotAuthorizedException("Sign in to the buyer portal.")
    return principal


async def provide_portal_db(contact: Principal) -> AsyncIterator[AsyncSession]:
    async with tenant_unit_of_work(contact.tenant_id) as session:
        yield session


async def provide_brand(request: Request, portal_db: AsyncSession) -> Branding:
    brand = request.scope.setdefault("state", {}).get("brand")
    if brand is None:
        brand = branding_of(await get_current_tenant(portal_db))
        request.scope["state"]["brand"] = brand
    return brand


# Handlers of the portal declare these by name: `contact`, `portal_db`, `brand`.
PORTAL_DEPENDENCIES = {
    "contact": Provide(provide_contact, sync_to_thread=False),
    "portal_db": Provide(provide_portal_db),
    "brand": Provide(provide_brand),
}


def render(
    request: Request,
    template: str,
    *,
    brand: Branding | None,
    status_code: int = 200,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Template:
    """A portal page in the supplier's colours; `brand` is None only on the unbranded sign-in page."""
    context.setdefault("brand", brand)
    response = web.render(request, template, status_code=status_code, cookies=cookies, **context)
    return response
