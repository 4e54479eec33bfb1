"""Payment test helpers: a supplier with a connected Stripe account, a signed-in buyer, Stripe's events."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from backend.disputes.service import ItemInput
from backend.invoices.models import Invoice, LedgerEntry
from backend.payments import connect
from backend.payments.models import PaymentAttempt
from tests.buyer_portal.helpers import invited_contact, sign_in_to_portal
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


async def disputed_invoice(
    supplier: Supplier, *, disputed: str = "300.00", currency: str = "CNY", language: str = "en"
) -> DisputedInvoice:
    """An invoice of 1,130.00 (10 × 100.00 + 13% tax) of which the buyer disputes `disputed`."""
    buyer_id = await make_buyer(supplier, currency=currency)
    invoice = await make_invoice(supplier, buyer_id, currency=currency)
    case = await open_case(supplier, buyer_id, [ItemInput(invoice.id, amount=disputed)])
    email = f"ap.{secrets.token_hex(4)}@buyer.example"
    await invited_contact(supplier, buyer_id, email, language=language)
    return DisputedInvoice(buyer_id, invoice, case.id, email)


async def signed_in(client, mail_dir, email: str) -> None:
    await sign_in_to_portal(client, mail_dir, email)


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
