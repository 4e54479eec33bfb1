"""`accord demo seed` connects each demo supplier's Stripe account and shows buyers' card payments.

Named to run after test_demo_seed.py, whose first test must be the one that seeds.
"""

from __future__ import annotations

from sqlalchemy import select

from backend.db.uow import all_tenants_unit_of_work, tenant_unit_of_work
from backend.demo import seed
from backend.invoices.models import EntryKind, LedgerEntry
from backend.payments import service
from backend.payments.models import AttemptStatus, PaymentAccount, PaymentAttempt
from backend.tenants.repository import TenantRepository


async def test_the_demo_suppliers_take_card_payments_and_show_paid_and_failed_ones(client):
    await seed.run(echo=lambda _line: None)
    for supplier in seed.SUPPLIERS:
        async with all_tenants_unit_of_work("test: demo tenant") as session:
            tenant = await TenantRepository(session).by_slug(supplier["slug"])
        async with tenant_unit_of_work(tenant.id) as session:
            [account] = (await session.scalars(select(PaymentAccount))).all()
            assert account.stripe_account_id == f"acct_demo_{supplier['slug']}" and account.charges_enabled
            attempts = (
                await session.scalars(select(PaymentAttempt).where(PaymentAttempt.checkout_session_id.like("cs_demo_%")))
            ).all()
            paid = [a for a in attempts if a.status is AttemptStatus.PAID]
            assert paid and any(a.status is AttemptStatus.FAILED and a.failure_message for a in attempts)
            for attempt in paid:
                entry = await session.get(LedgerEntry, (tenant.id, attempt.ledger_entry_id))
                assert entry.kind is EntryKind.PAYMENT and entry.document_number == attempt.payment_intent_id
            # Without a real Stripe key on the installation, the pay buttons say so.
            assert (await service.availability(session)).reason == "off"
