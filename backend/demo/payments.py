"""Card payments in the demo: each supplier's Stripe account connected, and a few buyers' payments from
the portal as Stripe's webhooks leave them: undisputed parts of disputed invoices paid, a declined card,
a Checkout page left unpaid. Without a real STRIPE_SECRET_KEY the portal's pay buttons say that online
payment is not set up on the installation; the history below is shown all the same.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from decimal import Decimal

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.buyers.repository import BuyerRepository
from backend.db.base import utcnow
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.invoices.repository import InvoiceRepository
from backend.payments import service
from backend.payments.events import stripe_principal
from backend.payments.models import AttemptStatus, PaymentAccount, PaymentAttempt

DECLINED = "Your card was declined. Try another card or ask your bank."


def demo_account_id(slug: str) -> str:
    return f"acct_demo_{slug}"[:64]


def _attempt(payable: service.Payable, buyer_id: uuid.UUID, account: str, by: str, minutes_ago: int) -> PaymentAttempt:
    attempt_id = uuid.uuid4()
    return PaymentAttempt(
        id=attempt_id,
        buyer_id=buyer_id,
        purpose=payable.purpose,
        currency=payable.currency,
        amount=payable.amount,
        allocations=payable.allocations(),
        idempotency_key=f"accord-checkout-{attempt_id}",
        stripe_account_id=account,
        checkout_session_id=f"cs_demo_{secrets.token_hex(12)}",
        status=AttemptStatus.OPEN,
        created_by=by,
        created_at=utcnow() - timedelta(minutes=minutes_ago),
    )


async def seed_payments(tenant_id: TenantId, supplier: dict, principal: Principal) -> None:
    account_id = demo_account_id(supplier["slug"])
    async with tenant_unit_of_work(tenant_id) as session:
        session.add(PaymentAccount(stripe_account_id=account_id, charges_enabled=True, connected_by=principal.label))
        await session.flush()
        audit.record(
            session,
            principal.actor(),
            "payments.account_connected",
            "payment_account",
            tenant_id,
            after={"stripe_account_id": account_id, "charges_enabled": True},
        )
        _total, buyers = await BuyerRepository(session).page(limit=50, offset=0)
        # Invoices partly disputed with an undisputed rest, and wholly undisputed ones, across the buyers.
        partly, undisputed = [], []
        for buyer in buyers:
            for invoice in await InvoiceRepository(session).open_of_buyer(buyer.id, buyer.currency):
                payable = service.payable_on(invoice)
                if payable > 0 and invoice.disputed_amount > 0:
                    partly.append(invoice)
                elif payable > 0:
                    undisputed.append(invoice)
        stripe = stripe_principal(tenant_id)
        for minutes_ago, invoice in zip((60 * 24 * 3, 60 * 26), partly[:2], strict=False):
            payable = await service.for_invoice(session, invoice.buyer_id, invoice.id)
            attempt = _attempt(payable, invoice.buyer_id, account_id, principal.label, minutes_ago)
            session.add(attempt)
            await session.flush()
            # As checkout.session.completed leaves it: the ledger payment named by the payment intent.
            event = {"account": account_id, "data": {"object": {}}}
            await service.apply_paid(
                session,
                stripe,
                attempt,
                event,
                payment_intent_id=f"pi_demo_{secrets.token_hex(10)}",
                amount_minor=service.to_minor(Decimal(payable.amount), payable.currency),
                currency=payable.currency,
            )
        for status, invoice in zip((AttemptStatus.FAILED, AttemptStatus.EXPIRED), undisputed[:2], strict=False):
            payable = await service.for_invoice(session, invoice.buyer_id, invoice.id)
            attempt = _attempt(payable, invoice.buyer_id, account_id, principal.label, 60 * 5)
            attempt.status = status
            attempt.failure_message = DECLINED if status is AttemptStatus.FAILED else None
            session.add(attempt)
        await session.flush()
