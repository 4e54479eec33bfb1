from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.invoices.models import Invoice, InvoiceCheckSetting, InvoiceLine, InvoiceStatus


class InvoiceCheckRepository:
    """What the invoice audit reads: the tenant's check settings and earlier invoices like this one."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def settings(self) -> dict[str, InvoiceCheckSetting]:
        return {s.check: s for s in await self.session.scalars(select(InvoiceCheckSetting))}

    async def similar_numbers(self, invoice: Invoice, normalised: str) -> Sequence[str]:
        """Other invoices whose number reads the same once case, spaces and punctuation are ignored."""
        cleaned = func.lower(Invoice.number)
        for mark in ("-", "_", " ", "/", ".", "#"):
            cleaned = func.replace(cleaned, mark, "")
        statement = select(Invoice.number).where(Invoice.id != invoice.id, cleaned == normalised).limit(5)
        return (await self.session.scalars(statement)).all()

    async def same_billing(self, invoice: Invoice) -> Sequence[str]:
        """Issued invoices to the same buyer for the same amount and order: billed twice?"""
        statement = select(Invoice.number).where(
            Invoice.id != invoice.id,
            Invoice.buyer_id == invoice.buyer_id,
            Invoice.gross_amount == invoice.gross_amount,
            Invoice.currency == invoice.currency,
            Invoice.status != InvoiceStatus.DRAFT,
        )
        if invoice.po_reference:
            statement = statement.where(Invoice.po_reference == invoice.po_reference)
        else:
            statement = statement.where(Invoice.issue_date == invoice.issue_date)
        return (await self.session.scalars(statement.limit(5))).all()

    async def quantity_invoiced_on_order(self, order_id: uuid.UUID, invoice_id: uuid.UUID) -> dict[str, Decimal]:
        """Per sku (or description), what other issued invoices of the order already billed."""
        key = func.coalesce(InvoiceLine.sku, InvoiceLine.description)
        statement = (
            select(key, func.sum(InvoiceLine.quantity))
            .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
            .where(Invoice.order_id == order_id, Invoice.id != invoice_id, Invoice.status != InvoiceStatus.DRAFT)
            .group_by(key)
        )
        return {k: Decimal(q) for k, q in (await self.session.execute(statement)).all()}

    async def setting(self, check: str, *, for_update: bool = False) -> InvoiceCheckSetting | None:
        statement = select(InvoiceCheckSetting).where(InvoiceCheckSetting.check == check)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()
