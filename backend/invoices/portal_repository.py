"""What the buyer portal reads: one buyer's own invoices, entries, dispute cases, instalments and
statement confirmations, always named by the buyer's id (the tenant is the session's).

Drafts are never the buyer's business: no query here returns one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.disputes.models import (
    ACTIVE_STATES,
    DisputeCase,
    DisputeItem,
    DisputeMessage,
    DisputeState,
    Instalment,
    Proposal,
    ProposalStatus,
)
from backend.invoices.models import Invoice, InvoiceStatus, StatementConfirmation
from backend.invoices.repository import OPEN_STATUSES

SETTLED_STATUSES = (InvoiceStatus.PAID, InvoiceStatus.CREDITED, InvoiceStatus.WRITTEN_OFF)


@dataclass(frozen=True)
class ListedInvoices:
    """Which of the buyer's invoices a list shows: a view (open, overdue…) and a search."""

    buyer_id: uuid.UUID
    view: str  # open | overdue | disputed | paid | all
    today: date
    query: str | None = None


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    count: int
    gross: Decimal
    open: Decimal
    disputed: Decimal


@dataclass(frozen=True)
class CurrencyBalanceRow:
    currency: str
    open: Decimal
    open_count: int
    overdue: Decimal
    overdue_count: int
    disputed: Decimal


def _still_open() -> ColumnElement[bool]:
    return and_(Invoice.status.in_(OPEN_STATUSES), Invoice.open_amount > 0)


def _held() -> ColumnElement:
    # What a case holds is never more than is open.
    return case((Invoice.disputed_amount < Invoice.open_amount, Invoice.disputed_amount), else_=Invoice.open_amount)


def _invoice_conditions(where: ListedInvoices) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Invoice.buyer_id == where.buyer_id, Invoice.status != InvoiceStatus.DRAFT]
    if where.view == "open":
        conditions.append(_still_open())
    elif where.view == "overdue":
        conditions += [_still_open(), Invoice.due_date < where.today]
    elif where.view == "disputed":
        conditions += [_still_open(), Invoice.disputed_amount > 0]
    elif where.view == "paid":
        conditions.append(Invoice.status.in_(SETTLED_STATUSES))
    if where.query:
        needle = where.query.lower()
        conditions.append(
            or_(
                func.lower(Invoice.number).contains(needle, autoescape=True),
                func.lower(Invoice.po_reference).contains(needle, autoescape=True),
            )
        )
    return conditions


class BuyerLedgerRepository:
    """One buyer's side of the ledger, for the buyer's own people (and the statement confirmations the team reads)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def invoice(self, buyer_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice | None:
        statement = select(Invoice).where(
            Invoice.id == invoice_id, Invoice.buyer_id == buyer_id, Invoice.status != InvoiceStatus.DRAFT
        )
        return (await self.session.scalars(statement)).first()

    async def invoice_totals(self, where: ListedInvoices) -> Sequence[CurrencyTotals]:
        """Count and sums of what the list shows, per currency, in one query (the pager's count is their sum)."""
        statement = (
            select(
                Invoice.currency,
                func.count(Invoice.id),
                func.coalesce(func.sum(Invoice.gross_amount), 0),
                func.coalesce(func.sum(case((_still_open(), Invoice.open_amount), else_=0)), 0),
                func.coalesce(func.sum(case((_still_open(), _held()), else_=0)), 0),
            )
            .where(*_invoice_conditions(where))
            .group_by(Invoice.currency)
            .order_by(Invoice.currency)
        )
        return [
            CurrencyTotals(currency, count, Decimal(gross), Decimal(open_), Decimal(disputed))
            for currency, count, gross, open_, disputed in (await self.session.execute(statement)).all()
        ]

    async def invoice_page(self, where: ListedInvoices, *, sort: str, limit: int, offset: int) -> Sequence[Invoice]:
        if sort == "issued":
            order = (Invoice.issue_date.desc(), Invoice.number.desc(), Invoice.id)
        else:
            order = (Invoice.due_date, Invoice.number, Invoice.id)
        statement = select(Invoice).where(*_invoice_conditions(where)).order_by(*order).limit(limit).offset(offset)
        return (await self.session.scalars(statement)).all()

    async def balances(self, buyer_id: uuid.UUID, today: date) -> Sequence[CurrencyBalanceRow]:
        overdue = Invoice.due_date < today
        statement = (
            select(
                Invoice.currency,
                func.coalesce(func.sum(Invoice.open_amount), 0),
                func.count(Invoice.id),
                func.coalesce(func.sum(case((overdue, Invoice.open_amount), else_=0)), 0),
                func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
                func.coalesce(func.sum(_held()), 0),
            )
            .where(Invoice.buyer_id == buyer_id, _still_open())
            .group_by(Invoice.currency)
            .order_by(Invoice.currency)
        )
        return [
            CurrencyBalanceRow(currency, Decimal(open_), open_count, Decimal(late), int(late_count), Decimal(held))
            for currency, open_, open_count, late, late_count, held in (await self.session.execute(statement)).all()
        ]

    async def cases_waiting(self, buyer_id: uuid.UUID, *, limit: int = 20) -> Sequence[tuple[DisputeCase, bool, bool]]:
        """Cases in progress that wait for the buyer: (case, an offer to answer, a question to answer)."""
        # An offer is answerable only while the case negotiates (as the case page and the list say).
        offered = exists().where(
            Proposal.case_id == DisputeCase.id,
            Proposal.status == ProposalStatus.OFFERED,
            DisputeCase.state == DisputeState.NEGOTIATING,
        )
        asked = exists().where(
            DisputeMessage.case_id == DisputeCase.id,
            DisputeMessage.question.is_(True),
            DisputeMessage.answered_at.is_(None),
            DisputeMessage.internal.is_(False),
        )
        statement = (
            select(DisputeCase, offered.label("offered"), asked.label("asked"))
            .where(DisputeCase.buyer_id == buyer_id, DisputeCase.state.in_(ACTIVE_STATES), or_(offered, asked))
            .order_by(DisputeCase.opened_on, DisputeCase.number)
            .limit(limit)
        )
        return [(row[0], bool(row[1]), bool(row[2])) for row in (await self.session.execute(statement)).all()]

    async def cases_in_progress(self, buyer_id: uuid.UUID) -> int:
        statement = select(func.count(DisputeCase.id)).where(
            DisputeCase.buyer_id == buyer_id, DisputeCase.state.in_(ACTIVE_STATES)
        )
        return (await self.session.execute(statement)).scalar_one()

    async def cases_of_invoice(self, buyer_id: uuid.UUID, invoice_id: uuid.UUID) -> Sequence[tuple[DisputeCase, Decimal]]:
        """The buyer's cases that dispute this invoice, with what each disputes on it, newest first."""
        on_invoice = (
            select(DisputeItem.case_id, func.sum(DisputeItem.amount).label("amount"))
            .where(DisputeItem.invoice_id == invoice_id)
            .group_by(DisputeItem.case_id)
            .subquery()
        )
        statement = (
            select(DisputeCase, on_invoice.c.amount)
            .join(on_invoice, on_invoice.c.case_id == DisputeCase.id)
            .where(DisputeCase.buyer_id == buyer_id)
            .order_by(DisputeCase.opened_on.desc(), DisputeCase.number.desc())
        )
        return [(found, Decimal(amount)) for found, amount in (await self.session.execute(statement)).all()]

    async def instalments(self, buyer_id: uuid.UUID) -> Sequence[tuple[Instalment, DisputeCase]]:
        """Every instalment of the buyer's cases, plan by plan (newest case first), in schedule order."""
        statement = (
            select(Instalment, DisputeCase)
            .join(DisputeCase, DisputeCase.id == Instalment.case_id)
            .where(DisputeCase.buyer_id == buyer_id)
            .order_by(DisputeCase.opened_on.desc(), DisputeCase.number.desc(), Instalment.seq)
        )
        return [(instalment, found) for instalment, found in (await self.session.execute(statement)).all()]

    async def next_instalment(self, buyer_id: uuid.UUID) -> tuple[Instalment, DisputeCase] | None:
        statement = (
            select(Instalment, DisputeCase)
            .join(DisputeCase, DisputeCase.id == Instalment.case_id)
            .where(DisputeCase.buyer_id == buyer_id, Instalment.status == "due")
            .order_by(Instalment.due_on, DisputeCase.number, Instalment.seq)
            .limit(1)
        )
        row = (await self.session.execute(statement)).first()
        return (row[0], row[1]) if row else None

    async def confirmations(self, buyer_id: uuid.UUID, *, limit: int = 10) -> Sequence[StatementConfirmation]:
        statement = (
            select(StatementConfirmation)
            .where(StatementConfirmation.buyer_id == buyer_id)
            .order_by(StatementConfirmation.confirmed_at.desc(), StatementConfirmation.currency)
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()
