"""What disputes hold out of collection, kept on each invoice as `disputed_amount`.

An invoice's held amount is what the cases in progress still dispute on it (their items less what
the resolutions credited or wrote off), never more than is open: the undisputed rest stays payable
and in collection. It is recomputed under the invoice's row lock, by the ledger whenever an entry
lands (`held_on`) and by the disputes service whenever a case starts or stops holding (`rehold`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from backend.disputes.repository import DisputeRepository
from backend.invoices.models import Invoice
from backend.invoices.repository import InvoiceRepository
from backend.money import ZERO


async def held_on(session: AsyncSession, invoice: Invoice) -> Decimal:
    """The amount disputes hold on `invoice` (its row locked by the caller, its open amount current)."""
    remaining = (await DisputeRepository(session).remaining_on_invoices([invoice.id])).get(invoice.id, ZERO)
    return max(ZERO, min(remaining, invoice.open_amount))


async def lock_invoices(session: AsyncSession, invoice_ids: Iterable[uuid.UUID]) -> None:
    """Take the invoices' row locks in id order, the order every ledger change takes them in (a payment
    locks all of a buyer's open invoices so): work that then touches them in another order cannot deadlock."""
    await InvoiceRepository(session).lock_many(invoice_ids)


async def rehold(session: AsyncSession, invoice_ids: Iterable[uuid.UUID]) -> None:
    """Recompute the held amount and status of these invoices, locking them in id order."""
    from backend.invoices.service import refresh_invoice

    for invoice_id in sorted(set(invoice_ids), key=str):
        await refresh_invoice(session, invoice_id)


async def after_ledger_change(session: AsyncSession, invoice_ids: Iterable[uuid.UUID]) -> None:
    """An entry landed on these invoices: for each case in progress on them, a job checks whether the
    case is now paid or credited in full (it locks the case before its invoices, as every case change does)."""
    from backend.jobs import service as jobs

    for case_id in sorted(await DisputeRepository(session).active_cases_on_invoices(invoice_ids), key=str):
        jobs.enqueue(session, "disputes.check_settled", {"case_id": str(case_id)})
