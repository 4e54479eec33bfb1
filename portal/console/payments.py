"""Console › Team › Online payments: connect the organisation's Stripe account, and see buyers' card payments."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, can, require
from backend.auth.principal import Principal
from backend.errors import Conflict, DomainError, ValidationFailed
from backend.i18n import _, gettext
from backend.payments import connect
from backend.payments import portal as card_payments
from backend.payments import service as payments
from backend.payments.gateway import PaymentsOff, payments_configured
from backend.payments.models import PURPOSE_LABELS
from portal import web

Form = Body(media_type=RequestEncodingType.URL_ENCODED)

NOTICES = {
    "connected": _("The Stripe account is connected. Buyers can pay online once Stripe lets it take payments."),
    "returned": _("Back from Stripe: the account's state below is what Stripe says now."),
    "disconnected": _("The Stripe account is disconnected: buyers can no longer pay online."),
}


def _onboarding_csp() -> str:
    # The connect form answers with a redirect to Stripe's onboarding.
    return web.csp_with_form_targets("https://connect.stripe.com")


class PaymentSettingsController(Controller):
    path = "/console/payments"
    include_in_schema = False

    async def _page(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        *,
        status_code: int = 200,
        notice: str | None = None,
        error: dict | None = None,
        typed: str = "",
    ) -> Response:
        require(principal, Permission.READ_LEDGER)
        response = web.render(
            request,
            "console/payments.html",
            status_code=status_code,
            account=await connect.connected_account(db, principal),
            availability=await payments.availability(db),
            configured=payments_configured(),
            can_manage=can(principal, Permission.MANAGE_TEAM),
            attempts=await card_payments.team_card_payments(db, principal),
            purposes=PURPOSE_LABELS,
            notice=gettext(NOTICES[notice]) if notice in NOTICES else None,
            error=error,
            typed=typed,
        )
        response.headers["content-security-policy"] = _onboarding_csp()
        return response

    async def _refused(self, request: Request, db: AsyncSession, principal: Principal, error: DomainError, typed: str = ""):
        await db.rollback()
        problem = {"field": error.field or "form", "message": error.translated(gettext)}
        return await self._page(request, db, principal, status_code=error.status_code, error=problem, typed=typed)

    @get("/")
    async def index(self, request: Request, db: AsyncSession, principal: Principal, done: str | None = None) -> Response:
        return await self._page(request, db, principal, notice=done)

    @post("/connect")
    async def onboard(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        try:
            url = await connect.start_onboarding(db, principal)
        except (Conflict, ValidationFailed, PaymentsOff, connect.StripeUnavailable) as error:
            return await self._refused(request, db, principal, error)
        return web.redirect(request, url)

    @post("/connect-existing")
    async def connect_existing(
        self, request: Request, db: AsyncSession, principal: Principal, data: Annotated[dict[str, str], Form]
    ) -> Response:
        typed = (data.get("account_id") or "")[:100]
        try:
            await connect.connect_existing(db, principal, typed)
        except (Conflict, ValidationFailed, PaymentsOff, connect.StripeUnavailable) as error:
            return await self._refused(request, db, principal, error, typed)
        return web.redirect(request, "/console/payments?done=connected")

    @get("/connect/return")
    async def back_from_stripe(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        try:
            await connect.refresh_account(db, principal)
        except (PaymentsOff, connect.StripeUnavailable) as error:
            return await self._refused(request, db, principal, error)
        return web.redirect(request, "/console/payments?done=returned")

    @get("/connect/refresh")
    async def link_expired(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        # Stripe's onboarding link expired or was used: a new one, to carry on where the person left off.
        # A GET (a cross-site link can trigger it) never creates an account; that takes the page's POST.
        try:
            url = await connect.start_onboarding(db, principal, create=False)
        except (Conflict, PaymentsOff, connect.StripeUnavailable) as error:
            return await self._refused(request, db, principal, error)
        return web.redirect(request, url or "/console/payments")

    @post("/disconnect")
    async def disconnect(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        await connect.disconnect(db, principal)
        return web.redirect(request, "/console/payments?done=disconnected")
