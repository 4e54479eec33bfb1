from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.invoices.models import (
    Allocation,
    Delivery,
    EntryKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LedgerEntry,
    OrderLine,
    PurchaseOrder,
    StoredFile,
)

# Invoices that still ask the buyer for money.
OPEN_STATUSES = (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.DISPUTED)


@dataclass(frozen=True)
class InvoiceFilter:
    buyer_id: uuid.UUID | None = None
    status: InvoiceStatus | None = None
    currency: str | None = None
    overdue_on: date | None = None  # only invoices overdue on this day
    issued_from: date | None = None
    issued_to: date | None = None
    due_from: date | None = None
    due_to: date | None = None
    query: str | None = None  # invoice number or PO reference


class InvoiceRepository:
    """Invoices, their lines and ledger entries, of the session's tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, invoice_id: uuid.UUID, *, for_update: bool = False) -> Invoice | None:
        statement = select(Invoice).where(Invoice.id == invoice_id)
        if for_update:
            # Fresh values once the lock is ours, even when this session loaded the row before.
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(statement)).first()

    async def lock_many(self, invoice_ids) -> dict[uuid.UUID, Invoice]:
        """Lock these invoices in one statement, in id order (the order every ledger change takes them in)."""
        ids = list(set(invoice_ids))
        if not ids:
            return {}
        statement = (
            select(Invoice)
            .where(Invoice.id.in_(ids))
            .order_by(Invoice.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {invoice.id: invoice for invoice in (await self.session.scalars(statement)).all()}

    async def by_number(self, number: str) -> Invoice | None:
        return (await self.session.scalars(select(Invoice).where(Invoice.number == number))).first()

    async def lines(self, invoice_id: uuid.UUID) -> Sequence[InvoiceLine]:
        statement = select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id).order_by(InvoiceLine.line_no)
        return (await self.session.scalars(statement)).all()

    def _filtered(self, statement, where: InvoiceFilter):
        if where.buyer_id:
            statement = statement.where(Invoice.buyer_id == where.buyer_id)
        if where.status:
            statement = statement.where(Invoice.status == where.status)
        if where.currency:
            statement = statement.where(Invoice.currency == where.currency)
        if where.overdue_on:
            statement = statement.where(
                Invoice.due_date < where.overdue_on, Invoice.open_amount > 0, Invoice.status.in_(OPEN_STATUSES)
            )
        if where.issued_from:
            statement = statement.where(Invoice.issue_date >= where.issued_from)
        if where.issued_to:
            statement = statement.where(Invoice.issue_date <= where.issued_to)
        if where.due_from:
            statement = statement.where(Invoice.due_date >= where.due_from)
        if where.due_to:
            statement = statement.where(Invoice.due_date <= where.due_to)
        if where.query:
            pattern = f"%{where.query.lower()}%"
            statement = statement.where(
                or_(func.lower(Invoice.number).like(pattern), func.lower(Invoice.po_reference).like(pattern))
            )
        return statement

    async def page(self, where: InvoiceFilter, *, limit: int, offset: int) -> tuple[int, Sequence[Invoice]]:
        statement = self._filtered(select(Invoice), where)
        total = (await self.session.execute(self._filtered(select(func.count(Invoice.id)), where))).scalar_one()
        ordered = statement.order_by(Invoice.issue_date.desc(), Invoice.number.desc()).limit(limit).offset(offset)
        return total, (await self.session.scalars(ordered)).all()

    async def open_of_buyer(self, buyer_id: uuid.UUID, currency: str, *, for_update: bool = False) -> Sequence[Invoice]:
        """Open invoices oldest first: where an unspecified payment goes."""
        statement = (
            select(Invoice)
            .where(
                Invoice.buyer_id == buyer_id,
                Invoice.currency == currency,
                Invoice.open_amount > 0,
                Invoice.status.in_(OPEN_STATUSES),
            )
            # Locked in id order, the order every ledger change locks invoices in, so two never deadlock.
            .order_by(Invoice.id)
        )
        if for_update:
            statement = statement.with_for_update()
        rows = (await self.session.scalars(statement)).all()
        return sorted(rows, key=lambda i: (i.due_date, i.issue_date, i.number))

    async def buyer_totals(self, buyer_id: uuid.UUID | None, today: date) -> Sequence[tuple]:
        """Per currency: open, overdue, disputed (never above open) and the count of open invoices,
        of one buyer or (buyer_id None) of the whole tenant."""
        disputed = case((Invoice.disputed_amount < Invoice.open_amount, Invoice.disputed_amount), else_=Invoice.open_amount)
        statement = (
            select(
                Invoice.currency,
                func.coalesce(func.sum(Invoice.open_amount), 0),
                func.coalesce(func.sum(case((Invoice.due_date < today, Invoice.open_amount), else_=0)), 0),
                func.coalesce(func.sum(disputed), 0),
                func.count(Invoice.id),
            )
            .where(Invoice.open_amount > 0, Invoice.status.in_(OPEN_STATUSES))
            .group_by(Invoice.currency)
            .order_by(Invoice.currency)
        )
        if buyer_id is not None:
            statement = statement.where(Invoice.buyer_id == buyer_id)
        return (await self.session.execute(statement)).all()


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, entry_id: uuid.UUID, *, for_update: bool = False) -> LedgerEntry | None:
        statement = select(LedgerEntry).where(LedgerEntry.id == entry_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def by_document(self, kind: EntryKind, document_number: str) -> LedgerEntry | None:
        statement = select(LedgerEntry).where(LedgerEntry.kind == kind, LedgerEntry.document_number == document_number)
        return (await self.session.scalars(statement)).first()

    async def totals_by_kind(self, invoice_id: uuid.UUID) -> dict[EntryKind, Decimal]:
        statement = (
            select(LedgerEntry.kind, func.sum(Allocation.amount))
            .join(LedgerEntry, LedgerEntry.id == Allocation.entry_id)
            .where(Allocation.invoice_id == invoice_id)
            .group_by(LedgerEntry.kind)
        )
        return {kind: Decimal(total) for kind, total in (await self.session.execute(statement)).all()}

    async def entries_of_invoice(self, invoice_id: uuid.UUID) -> Sequence[tuple[LedgerEntry, Allocation]]:
        statement = (
            select(LedgerEntry, Allocation)
            .join(Allocation, Allocation.entry_id == LedgerEntry.id)
            .where(Allocation.invoice_id == invoice_id)
            .order_by(LedgerEntry.entry_date, LedgerEntry.created_at)
        )
        return [(entry, allocation) for entry, allocation in (await self.session.execute(statement)).all()]

    async def entries_of_buyer(self, buyer_id: uuid.UUID, *, limit: int = 200) -> Sequence[LedgerEntry]:
        statement = (
            select(LedgerEntry)
            .where(LedgerEntry.buyer_id == buyer_id)
            .order_by(LedgerEntry.entry_date.desc(), LedgerEntry.created_at.desc())
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()

    async def allocations_of_entry(self, entry_id: uuid.UUID) -> Sequence[tuple[Allocation, str]]:
        statement = (
            select(Allocation, Invoice.number)
            .join(Invoice, Invoice.id == Allocation.invoice_id)
            .where(Allocation.entry_id == entry_id)
            .order_by(Invoice.due_date)
        )
        return [(allocation, number) for allocation, number in (await self.session.execute(statement)).all()]

    async def page_of_buyer(self, buyer_id: uuid.UUID, *, limit: int, offset: int) -> tuple[int, Sequence[LedgerEntry]]:
        condition = LedgerEntry.buyer_id == buyer_id
        total = (await self.session.execute(select(func.count(LedgerEntry.id)).where(condition))).scalar_one()
        statement = (
            select(LedgerEntry)
            .where(condition)
            .order_by(LedgerEntry.entry_date.desc(), LedgerEntry.created_at.desc(), LedgerEntry.id)
            .limit(limit)
            .offset(offset)
        )
        return total, (await self.session.scalars(statement)).all()

    async def allocations_of_entries(self, entry_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[tuple[Allocation, str]]]:
        ids = list(entry_ids)
        found: dict[uuid.UUID, list[tuple[Allocation, str]]] = {}
        if not ids:
            return found
        statement = (
            select(Allocation, Invoice.number)
            .join(Invoice, Invoice.id == Allocation.invoice_id)
            .where(Allocation.entry_id.in_(ids))
            .order_by(Invoice.due_date, Invoice.number)
        )
        for allocation, number in (await self.session.execute(statement)).all():
            found.setdefault(allocation.entry_id, []).append((allocation, number))
        return found

    async def unallocated_of_buyer(self, buyer_id: uuid.UUID) -> Sequence[tuple[str, Decimal]]:
        statement = (
            select(LedgerEntry.currency, func.sum(LedgerEntry.unallocated_amount))
            .where(LedgerEntry.buyer_id == buyer_id, LedgerEntry.unallocated_amount > 0)
            .group_by(LedgerEntry.currency)
        )
        return [(currency, Decimal(total)) for currency, total in (await self.session.execute(statement)).all()]


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, order_id: uuid.UUID, *, for_update: bool = False) -> PurchaseOrder | None:
        statement = select(PurchaseOrder).where(PurchaseOrder.id == order_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def by_number(self, buyer_id: uuid.UUID, number: str) -> PurchaseOrder | None:
        statement = select(PurchaseOrder).where(PurchaseOrder.buyer_id == buyer_id, PurchaseOrder.number == number)
        return (await self.session.scalars(statement)).first()

    async def lines(self, order_id: uuid.UUID) -> Sequence[OrderLine]:
        statement = select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
        return (await self.session.scalars(statement)).all()

    async def page(
        self, *, buyer_id: uuid.UUID | None, query: str | None, limit: int, offset: int
    ) -> tuple[int, Sequence[PurchaseOrder]]:
        conditions = []
        if buyer_id:
            conditions.append(PurchaseOrder.buyer_id == buyer_id)
        if query:
            pattern = f"%{query.lower()}%"
            conditions.append(
                or_(func.lower(PurchaseOrder.number).like(pattern), func.lower(PurchaseOrder.contract_reference).like(pattern))
            )
        total = (await self.session.execute(select(func.count(PurchaseOrder.id)).where(*conditions))).scalar_one()
        statement = (
            select(PurchaseOrder)
            .where(*conditions)
            .order_by(PurchaseOrder.order_date.desc(), PurchaseOrder.number.desc(), PurchaseOrder.id)
            .limit(limit)
            .offset(offset)
        )
        return total, (await self.session.scalars(statement)).all()

    async def invoices(self, order_id: uuid.UUID) -> Sequence[Invoice]:
        statement = select(Invoice).where(Invoice.order_id == order_id).order_by(Invoice.issue_date, Invoice.number)
        return (await self.session.scalars(statement)).all()

    async def invoiced_elsewhere(self, order_id: uuid.UUID, invoice_id: uuid.UUID) -> Sequence[Invoice]:
        statement = select(Invoice).where(
            Invoice.order_id == order_id, Invoice.id != invoice_id, Invoice.status != InvoiceStatus.DRAFT
        )
        return (await self.session.scalars(statement)).all()


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, delivery_id: uuid.UUID) -> Delivery | None:
        return (await self.session.scalars(select(Delivery).where(Delivery.id == delivery_id))).first()

    async def by_number(self, number: str) -> Delivery | None:
        return (await self.session.scalars(select(Delivery).where(Delivery.number == number))).first()

    async def for_invoice(self, invoice: Invoice) -> Sequence[Delivery]:
        condition = Delivery.invoice_id == invoice.id
        if invoice.order_id:
            condition = or_(condition, Delivery.order_id == invoice.order_id)
        return (await self.session.scalars(select(Delivery).where(condition).order_by(Delivery.delivered_on))).all()

    async def of_order(self, order_id: uuid.UUID) -> Sequence[Delivery]:
        statement = select(Delivery).where(Delivery.order_id == order_id).order_by(Delivery.delivered_on, Delivery.number)
        return (await self.session.scalars(statement)).all()

    async def page(
        self,
        *,
        buyer_id: uuid.UUID | None,
        order_id: uuid.UUID | None,
        invoice_id: uuid.UUID | None,
        limit: int,
        offset: int,
    ) -> tuple[int, Sequence[Delivery]]:
        conditions = []
        if buyer_id:
            conditions.append(Delivery.buyer_id == buyer_id)
        if order_id:
            conditions.append(Delivery.order_id == order_id)
        if invoice_id:
            conditions.append(Delivery.invoice_id == invoice_id)
        total = (await self.session.execute(select(func.count(Delivery.id)).where(*conditions))).scalar_one()
        statement = (
            select(Delivery)
            .where(*conditions)
            .order_by(Delivery.delivered_on.desc(), Delivery.number.desc(), Delivery.id)
            .limit(limit)
            .offset(offset)
        )
        return total, (await self.session.scalars(statement)).all()

    async def files(self, owner_type: str, owner_ids: Iterable[uuid.UUID]) -> Sequence[StoredFile]:
        ids = list(owner_ids)
        if not ids:
            return []
        statement = (
            select(StoredFile)
            .where(StoredFile.owner_type == owner_type, StoredFile.owner_id.in_(ids))
            .order_by(StoredFile.created_at)
        )
        return (await self.session.scalars(statement)).all()

    async def file(self, file_id: uuid.UUID) -> StoredFile | None:
        return (await self.session.scalars(select(StoredFile).where(StoredFile.id == file_id))).first()


# --- statements of account and console overviews (backend/invoices/statements.py) ---------------


class StatementRepository:
    """What a statement of account and the console's buyer overviews read: figures as of a date."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def billed_until(self, buyer_id: uuid.UUID, as_of: date) -> Sequence[Invoice]:
        """Every invoice the buyer had been sent by `as_of`, whatever has happened to it since."""
        statement = (
            select(Invoice)
            .where(Invoice.buyer_id == buyer_id, Invoice.status != InvoiceStatus.DRAFT, Invoice.issue_date <= as_of)
            .order_by(Invoice.due_date, Invoice.number)
        )
        return (await self.session.scalars(statement)).all()

    async def allocated_until(self, buyer_id: uuid.UUID, as_of: date) -> Sequence[tuple[uuid.UUID, EntryKind, Decimal]]:
        """Per invoice of the buyer and kind of entry: what entries dated on or before `as_of` allocated to it."""
        statement = (
            select(Allocation.invoice_id, LedgerEntry.kind, func.sum(Allocation.amount))
            .join(LedgerEntry, LedgerEntry.id == Allocation.entry_id)
            .where(LedgerEntry.buyer_id == buyer_id, LedgerEntry.entry_date <= as_of)
            .group_by(Allocation.invoice_id, LedgerEntry.kind)
        )
        return [(invoice_id, kind, Decimal(total)) for invoice_id, kind, total in (await self.session.execute(statement)).all()]

    async def payments_against_due_dates(
        self, buyer_id: uuid.UUID, since: date, as_of: date
    ) -> Sequence[tuple[str, date, date, Decimal]]:
        """(currency, payment date, invoice due date, amount) for each payment allocation in the window."""
        statement = (
            select(Invoice.currency, LedgerEntry.entry_date, Invoice.due_date, Allocation.amount)
            .join(LedgerEntry, LedgerEntry.id == Allocation.entry_id)
            .join(Invoice, Invoice.id == Allocation.invoice_id)
            .where(
                LedgerEntry.buyer_id == buyer_id,
                LedgerEntry.kind == EntryKind.PAYMENT,
                LedgerEntry.entry_date > since,
                LedgerEntry.entry_date <= as_of,
            )
        )
        return [
            (currency, paid_on, due_on, Decimal(amount))
            for currency, paid_on, due_on, amount in (await self.session.execute(statement)).all()
        ]

    async def on_account_until(self, buyer_id: uuid.UUID, as_of: date) -> Sequence[tuple[str, Decimal]]:
        statement = (
            select(LedgerEntry.currency, func.sum(LedgerEntry.unallocated_amount))
            .where(
                LedgerEntry.buyer_id == buyer_id,
                LedgerEntry.kind == EntryKind.PAYMENT,
                LedgerEntry.unallocated_amount > 0,
                LedgerEntry.entry_date <= as_of,
            )
            .group_by(LedgerEntry.currency)
        )
        return [(currency, Decimal(total)) for currency, total in (await self.session.execute(statement)).all()]

    async def open_and_overdue_of_buyers(
        self, buyer_ids: Iterable[uuid.UUID], today: date
    ) -> Sequence[tuple[uuid.UUID, str, Decimal, Decimal]]:
        """(buyer, currency, open, overdue) for a page of buyers, in one query."""
        ids = list(set(buyer_ids))
        if not ids:
            return []
        statement = (
            select(
                Invoice.buyer_id,
                Invoice.currency,
                func.coalesce(func.sum(Invoice.open_amount), 0),
                func.coalesce(func.sum(case((Invoice.due_date < today, Invoice.open_amount), else_=0)), 0),
            )
            .where(Invoice.buyer_id.in_(ids), Invoice.open_amount > 0, Invoice.status.in_(OPEN_STATUSES))
            .group_by(Invoice.buyer_id, Invoice.currency)
            .order_by(Invoice.buyer_id, Invoice.currency)
        )
        return [
            (buyer_id, currency, Decimal(open_), Decimal(overdue))
            for buyer_id, currency, open_, overdue in (await self.session.execute(statement)).all()
        ]
