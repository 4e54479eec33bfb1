"""Card chargebacks for the demo: a buyer paid two invoices by card through Accord, then disputed both
charges with its bank. One chargeback is open, its evidence due in a few days; the other was won. A
third is on a card payment taken at the counter, which Accord never saw: it waits in the console's list.

Stripe is not called: the payments are recorded as the webhook would record them, and the disputes
arrive as the events Stripe would send, applied by the same code (`backend.payments.chargebacks`), so
the ledger, the cases, their hard deadlines and timelines are the real ones.
"""

from __future__ import annotations

import secrets
import time
import uuid
from decimal import Decimal

from backend.auth.principal import Principal
from backend.buyers.repository import BuyerRepository
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.invoices import service as invoices
from backend.invoices.models import Invoice
from backend.invoices.repository import InvoiceRepository
from backend.money import minor_unit
from backend.payments import chargebacks
from backend.payments.events import stripe_principal
from backend.payments.models import AttemptStatus, PaymentAttempt, PaymentPurpose

DAY = 86_400


async def seed_chargebacks(tenant_id: TenantId, supplier: dict, owner: Principal) -> None:
    async with tenant_unit_of_work(tenant_id) as session:
        chosen = await _two_untouched_invoices(session)
        if chosen is None:
            return
        now = int(time.time())
        stories = (
            # (invoice, Stripe's reason, events: (status, seconds ago))
            (chosen[0], "product_not_received", [("needs_response", 2 * DAY)]),
            (chosen[1], "product_unacceptable", [("needs_response", 40 * DAY), ("under_review", 30 * DAY), ("won", 5 * DAY)]),
        )
        for invoice, reason, steps in stories:
            intent = await _paid_by_card(session, owner, invoice, supplier["slug"])
            dispute_id = f"dp_demo_{secrets.token_hex(8)}"
            opened = now - steps[0][1]
            for status, ago in steps:
                obj = {
                    "id": dispute_id,
                    "object": "dispute",
                    "amount": int(invoice.gross_amount / minor_unit(invoice.currency)),
                    "currency": invoice.currency.lower(),
                    "charge": "ch_demo_" + dispute_id[8:],
                    "payment_intent": intent,
                    "reason": reason,
                    "status": status,
                    "created": opened,
                    # Stripe gives a week or so to answer; the open one is due in five days.
                    "evidence_details": {"due_by": opened + 7 * DAY, "submission_count": int(status != "needs_response")},
                    "evidence": {"customer_name": "Accounts Payable", "customer_email_address": "ap@example.com"},
                    "metadata": {},
                }
                event = {"id": f"evt_demo_{secrets.token_hex(8)}", "type": f"charge.dispute.{status}", "created": now - ago}
                await chargebacks.apply_event(session, stripe_principal(tenant_id), {**event, "data": {"object": obj}})
        # A chargeback on a card payment taken at the counter, which Accord never saw: it waits in the list.
        stranger = {
            "id": f"dp_demo_{secrets.token_hex(8)}",
            "object": "dispute",
            "amount": 45_000,
            "currency": chosen[0].currency.lower(),
            "payment_intent": f"pi_terminal_{secrets.token_hex(8)}",
            "reason": "fraudulent",
            "status": "needs_response",
            "created": now - DAY,
            "evidence_details": {"due_by": now + 6 * DAY, "submission_count": 0},
        }
        event = {"id": f"evt_demo_{secrets.token_hex(8)}", "type": "charge.dispute.created", "created": now - DAY}
        await chargebacks.apply_event(session, stripe_principal(tenant_id), {**event, "data": {"object": stranger}})


async def _two_untouched_invoices(session) -> tuple[Invoice, Invoice] | None:
    """Two invoices of one buyer still wholly open and disputed by nobody: the ones paid by card."""
    _total, buyers = await BuyerRepository(session).page(limit=50, offset=0)
    for buyer in buyers:
        untouched = [
            invoice
            for invoice in await InvoiceRepository(session).open_of_buyer(buyer.id, buyer.currency)
            if invoice.open_amount == invoice.gross_amount and invoice.disputed_amount == 0
        ]
        if len(untouched) >= 2:
            return untouched[0], untouched[1]
    return None


async def _paid_by_card(session, owner: Principal, invoice: Invoice, slug: str) -> str:
    """The invoice paid by card through Accord: a paid attempt and its ledger payment, as the webhook leaves them."""
    intent = f"pi_demo_{secrets.token_hex(10)}"
    entry = await invoices.record_payment(
        session,
        owner,
        buyer_id=invoice.buyer_id,
        amount=invoice.gross_amount,
        currency=invoice.currency,
        allocations=[invoices.PaymentAllocation(invoice.id, invoice.gross_amount)],
        reason="Card payment through the buyer portal",
    )
    session.add(
        PaymentAttempt(
            id=uuid.uuid4(),
            buyer_id=invoice.buyer_id,
            purpose=PaymentPurpose.INVOICES,
            currency=invoice.currency,
            amount=invoice.gross_amount,
            allocations=[{"invoice_id": str(invoice.id), "amount": str(invoice.gross_amount)}],
            idempotency_key=f"demo-card-{invoice.id}",
            stripe_account_id=f"acct_demo_{slug}"[:64],
            payment_intent_id=intent,
            status=AttemptStatus.PAID,
            refunded_amount=Decimal(0),
            ledger_entry_id=entry.id,
            created_by=owner.label,
        )
    )
    await session.flush()
    return intent
