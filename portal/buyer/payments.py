"""Portal › pay: the pay buttons post here (ids only), the buyer goes on to Stripe Checkout, and comes
back to a thank-you or a cancelled page. What is charged is decided by backend.payments.service from
the ledger; an amount in the form is never read.
"""

from __future__ import annotations

import uuid

from litestar import Controller, Request, get, post
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.errors import NotFound
from backend.i18n import _
from backend.payments import portal as payments
from backend.payments import service
from backend.payments.models import PURPOSE_LABELS
from backend.tenants.service import Branding
from portal import web
from portal.buyer.common import render

PURPOSES = ("invoice", "invoices", "agreed", "instalment")


def checkout_csp() -> str:
    """The CSP of a page with a pay button: its form answers with a redirect to Stripe's Checkout."""
    return web.csp_with_form_targets("https://checkout.stripe.com")


def with_pay_buttons(response: Response) -> Response:
    response.headers["content-security-policy"] = checkout_csp()
    return response


def _ids(values: list[str]) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(value) for value in values if value]
    except ValueError:
        raise NotFound(_("Not found.")) from None  # an id that is not one names nothing of this buyer's


class PortalPaymentsController(Controller):
    path = "/portal/payments"
    include_in_schema = False

    @post("/")
    async def pay(self, request: Request, contact: Principal) -> Response:
        form = await request.form()
        purpose = form.get("purpose") or ""
        if purpose not in PURPOSES:
            purpose = ""
        cases = _ids(form.getall("case") if "case" in form else [])
        what = service.PayRequest(
            purpose=purpose,
            invoice_ids=_ids(form.getall("invoice") if "invoice" in form else []),
            case_id=cases[0] if cases else None,
        )
        started = await service.start_payment(contact, what)
        return web.redirect(request, started.checkout_url)

    @get("/{attempt_id:uuid}/done")
    async def done(
        self, request: Request, contact: Principal, portal_db: AsyncSession, brand: Branding, attempt_id: uuid.UUID
    ) -> Response:
        attempt = await payments.attempt_page(portal_db, contact, attempt_id)
        return render(request, "buyer/payment_done.html", brand=brand, attempt=attempt, purposes=PURPOSE_LABELS)

    @get("/{attempt_id:uuid}/cancelled")
    async def cancelled(
        self, request: Request, contact: Principal, portal_db: AsyncSession, brand: Branding, attempt_id: uuid.UUID
    ) -> Response:
        attempt = await payments.attempt_page(portal_db, contact, attempt_id)
        return render(request, "buyer/payment_cancelled.html", brand=brand, attempt=attempt, purposes=PURPOSE_LABELS)
