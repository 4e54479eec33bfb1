"""Payment test helpers: a supplier with a connected Stripe account, a signed-in buyer, Stripe's events."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from backend.auth import portal as access
from backend.auth.principal import Audience
from backend.buyers.models import BuyerContact
from backend.db.base import utcnow
from backend.db.tenancy import TenantId
from backend.db.uow import global_unit_of_work, tenant_unit_of_work
from backend.disputes.service import ItemInput
from backend.http.auth import session_cookie
from backend.invoices.models import Invoice, LedgerEntry
from backend.payments import connect, events
from backend.payments.models import PaymentAttempt
from backend.payments.repository import StripeEventRepository
from backend.tenants.service import get_current_tenant
from tests.buyer_portal.helpers import invited_contact
from tests.conftest import CSRF_INPUT, Supplier
from tests.disputes.helpers import open_case, uow
from tests.factories import make_buyer, make_invoice, owner_of
from tests.payments.stripe_fakes import StripeFake, event_payload, signed
from tests.test_team import run_jobs

WEBHOOK = "/stripe/webhook"


async def connect_account(supplier: Supplier, fake: StripeFake, *, charges_enabled: bool = True) -> str:
    account_id = "acct_" + secrets.token_hex(8)
    fake.add_account(account_id, charges_enabled=charges_enabled)
    async with uow(supplier) as session:
        await connect.connect_existing(session, owner_of(supplier), account_id)
    return account_id


@dataclass
class DisputedInvoice:
    buyer_id: uuid.UUID
    invoice: Invoice
    case_id: uuid.UUID
    contact_email: str
    contact_id: uuid.UUID


async def disputed_invoice(
    supplier: Supplier, *, disputed: str = "300.00", currency: str = "CNY", language: str = "en"
) -> DisputedInvoice:
    """An invoice of 1,130.00 (10 × 100.00 + 13% tax) of which the buyer disputes `disputed`."""
    buyer_id = await make_buyer(supplier, currency=currency)
    invoice = await make_invoice(supplier, buyer_id, currency=currency)
    case = await open_case(supplier, buyer_id, [ItemInput(invoice.id, amount=disputed)])
    email = f"ap.{secrets.token_hex(4)}@buyer.example"
    contact_id = await invited_contact(supplier, buyer_id, email, language=language)
    return DisputedInvoice(buyer_id, invoice, case.id, email, contact_id)


async def signed_in(client, supplier: Supplier, setup: DisputedInvoice) -> None:
    """The buyer's contact signed in to the portal (the link e-mailed to them is followed in
    tests/buyer_portal and in the browser test; here the session starts as that sign-in starts it)."""
    async with uow(supplier) as session:
        tenant = await get_current_tenant(session)
        contact = (await session.scalars(select(BuyerContact).where(BuyerContact.id == setup.contact_id))).one()
    token = await access.start_session(tenant, contact, ip=None, user_agent=None, action="buyer_contact.signed_in_by_link")
    cookie = session_cookie(Audience.PORTAL, token)
    client.cookies.set(cookie.key, token, domain="testserver.local", path="/")


async def apply_events() -> None:
    """What the payments.handle_event job does for each stored event, in the order received, without the broker
    (the tests that prove the wiring run the jobs with run_jobs)."""
    async with global_unit_of_work() as session:
        waiting = [
            (e.id, e.routed_tenant_id)
            for e in await StripeEventRepository(session).unhandled_between(utcnow() - timedelta(days=1), utcnow(), 100)
        ]
    for event_id, tenant_id in waiting:
        async with tenant_unit_of_work(TenantId(tenant_id)) as session:
            await events.handle(session, event_id)


async def press_pay(client, page_path: str, fields: dict) -> object:
    """Open the page (for its CSRF token) and post the pay form with `fields`, as the button does."""
    page = await client.get(page_path)
    token = CSRF_INPUT.search(page.text).group(1)
    return await client.post("/portal/payments", data={**fields, "_csrf_token": token}, follow_redirects=False)


async def deliver(client, type_: str, obj: dict, *, account: str, event_id: str | None = None, created: int | None = None):
    payload = event_payload(type_, obj, account=account, event_id=event_id, created=created)
    response = await client.post(WEBHOOK, content=payload, headers=signed(payload))
    assert response.status_code == 200, response.text
    return json.loads(payload)["id"], response.json()


async def attempts(supplier: Supplier) -> list[PaymentAttempt]:
    async with uow(supplier) as session:
        return list((await session.scalars(select(PaymentAttempt).order_by(PaymentAttempt.created_at))).all())


async def invoice_now(supplier: Supplier, invoice_id: uuid.UUID) -> Invoice:
    async with uow(supplier) as session:
        return (await session.scalars(select(Invoice).where(Invoice.id == invoice_id))).one()


async def entries(supplier: Supplier, buyer_id: uuid.UUID) -> list[LedgerEntry]:
    async with uow(supplier) as session:
        return list((await session.scalars(select(LedgerEntry).where(LedgerEntry.buyer_id == buyer_id))).all())


def payment_intent(session: dict, attempt: PaymentAttempt) -> dict:
    return {
        "id": session["payment_intent"],
        "object": "payment_intent",
        "status": "succeeded",
        "amount": session["amount_total"],
        "amount_received": session["amount_total"],
        "currency": session["currency"],
        "metadata": {"accord_tenant_id": str(attempt.tenant_id), "accord_attempt_id": str(attempt.id)},
    }


__all__ = ["run_jobs"]
