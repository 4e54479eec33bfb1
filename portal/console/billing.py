"""Console › Billing: the tenant's plan, what it uses against the plan's limits, subscribing through Stripe
Checkout and Stripe's billing portal; and the banner every console page loads when a limit is near."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, require
from backend.auth.principal import Principal, PrincipalKind
from backend.errors import Conflict, DomainError, ValidationFailed
from backend.i18n import _, gettext
from backend.payments import plans, subscriptions
from backend.payments.gateway import PaymentsOff
from portal import web
from portal.console.sign_in import Form

# Refusals shown in place on the page (the role's 403 is answered as such).
REFUSED = (ValidationFailed, Conflict, PaymentsOff, subscriptions.BillingNotSetUp, subscriptions.StripeRefused)

STATUS_LABELS = {
    "none": _("No subscription"),
    "trialing": _("On trial"),
    "active": _("Active"),
    "past_due": _("Payment overdue"),
    "unpaid": _("Unpaid"),
    "canceled": _("Cancelled"),
    "incomplete": _("Waiting for the first payment"),
    "incomplete_expired": _("First payment not made"),
    "paused": _("Paused"),
}

CHECKOUT_NOTICES = {
    "done": _("Thank you. Stripe confirms the subscription in a moment; this page shows it as soon as Stripe has told Accord."),
    "cancelled": _("You left Stripe's checkout: nothing was charged and nothing changed."),
}


def _stripe_pages_csp() -> str:
    # The page's forms answer with a redirect to Stripe's Checkout or billing portal.
    return web.csp_with_form_targets("https://checkout.stripe.com", "https://billing.stripe.com")


def _local_day(state: subscriptions.Billing, principal: Principal) -> date | None:
    """The period's end as a day in the reader's time zone (Stripe's timestamps are to the second)."""
    end = state.row.current_period_end if state.row else None
    if end is None:
        return None
    try:
        zone = ZoneInfo(principal.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return end.astimezone(zone).date()


def _translated(notices: list[subscriptions.Notice]) -> list[tuple[str, str]]:
    return [(item.level, item.translated(gettext)) for item in notices]


class BillingController(Controller):
    path = "/console/billing"
    include_in_schema = False

    async def _page(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        *,
        status_code: int = 200,
        error: str | None = None,
        notice: str | None = None,
    ) -> Response:
        state = await subscriptions.billing(db)
        response = web.render(
            request,
            "console/billing.html",
            status_code=status_code,
            billing=state,
            notices=_translated(state.notices),
            paid_plans=plans.PAID_PLANS,
            trial=plans.TRIAL,
            currency=plans.CURRENCY,
            limits=list(plans.Limit),
            limit_labels=plans.LIMIT_LABELS,
            period_end=_local_day(state, principal),
            status_label=gettext(STATUS_LABELS.get(state.status or "none", state.status or "")),
            error=error,
            notice=notice,
        )
        response.headers["content-security-policy"] = _stripe_pages_csp()
        return response

    @get("/")
    async def index(self, request: Request, db: AsyncSession, principal: Principal, checkout: str | None = None) -> Response:
        require(principal, Permission.MANAGE_TEAM)
        notice = CHECKOUT_NOTICES.get(checkout or "")
        return await self._page(request, db, principal, notice=gettext(notice) if notice else None)

    async def _refused(self, request: Request, db: AsyncSession, principal: Principal, error: DomainError) -> Response:
        await db.rollback()
        return await self._page(request, db, principal, status_code=error.status_code, error=error.translated(gettext))

    @post("/subscribe")
    async def subscribe(
        self, request: Request, db: AsyncSession, principal: Principal, data: Annotated[dict[str, str], Form]
    ) -> Response:
        try:
            url = await subscriptions.start_checkout(db, principal, data.get("plan", ""))
        except REFUSED as error:
            return await self._refused(request, db, principal, error)
        return Redirect(url, status_code=303)

    @post("/portal")
    async def billing_portal(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        try:
            url = await subscriptions.open_billing_portal(db, principal)
        except REFUSED as error:
            return await self._refused(request, db, principal, error)
        return Redirect(url, status_code=303)

    @get("/notice")
    async def notice(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        """The banner of every console page (loaded by htmx): nothing when no limit is near."""
        if principal.kind is not PrincipalKind.USER:
            return Response(content=b"", status_code=204)
        found = await subscriptions.notices(db)
        if not found:
            return Response(content=b"", status_code=204)
        return web.render(
            request,
            "console/_billing_notice.html",
            notices=_translated(found),
            may_manage_billing=subscriptions.may_manage_billing(principal),
        )
