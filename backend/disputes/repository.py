"""Dispute cases and everything hanging off them, of the session's tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.buyers.models import Buyer
from backend.db.tenancy import current_tenant
from backend.disputes.models import (
    ACTIVE_STATES,
    Approval,
    ApprovalStatus,
    ChecklistAnswer,
    CodeKind,
    DisputeCase,
    DisputeCode,
    DisputeEvent,
    DisputeItem,
    DisputeMessage,
    DisputePhase,
    DisputeSettings,
    DisputeState,
    DisputeTask,
    Instalment,
    Proposal,
    ProposalOption,
    ProposalStatus,
    RoutingRule,
)
from backend.invoices.models import Allocation, EntryKind, Invoice, InvoiceLine, LedgerEntry, StoredFile
from backend.invoices.repository import OPEN_STATUSES
from backend.money import ZERO
from backend.tenants.models import Membership, MembershipStatus, Role, User

SORTS = {
    "opened": (DisputeCase.opened_on, DisputeCase.number),
    "-opened": (DisputeCase.opened_on.desc(), DisputeCase.number.desc()),
    "amount": (DisputeCase.disputed_amount, DisputeCase.number),
    "-amount": (DisputeCase.disputed_amount.desc(), DisputeCase.number.desc()),
    "number": (DisputeCase.number,),
    "-number": (DisputeCase.number.desc(),),
    "updated": (DisputeCase.state_changed_at, DisputeCase.number),
    "-updated": (DisputeCase.state_changed_at.desc(), DisputeCase.number.desc()),
}


@dataclass(frozen=True)
class CaseFilter:
    owner: str | None = None  # "unassigned", or a user id as text
    states: tuple[DisputeState, ...] = ()
    phase: DisputePhase | None = None
    reason_code: str | None = None
    buyer_id: uuid.UUID | None = None
    opened_before: date | None = None  # older than an age
    opened_after: date | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    query: str | None = None  # case number, buyer name or an invoice number
    sort: str = "-opened"


def _locked(statement):
    # Fresh values once the lock is ours, even when this session loaded the row before.
    return statement.with_for_update().execution_options(populate_existing=True)


class DisputeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- settings and lists -------------------------------------------------------------

    async def settings(self) -> DisputeSettings | None:
        return (await self.session.scalars(select(DisputeSettings))).first()

    async def settings_for_update(self) -> DisputeSettings:
        """The tenant's row, created with the defaults on first use, locked (it numbers the cases)."""
        tenant_id = current_tenant(self.session)
        dialect = self.session.bind.dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        await self.session.execute(
            insert(DisputeSettings)
            .values(tenant_id=tenant_id, approval_thresholds={}, escalation_days=90, next_case_number=1)
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        return (await self.session.scalars(_locked(select(DisputeSettings)))).one()

    async def codes(self, kind: CodeKind) -> Sequence[DisputeCode]:
        statement = select(DisputeCode).where(DisputeCode.kind == kind).order_by(DisputeCode.position, DisputeCode.code)
        return (await self.session.scalars(statement)).all()

    async def routing_rules(self, *, active_only: bool = False) -> Sequence[RoutingRule]:
        statement = select(RoutingRule).order_by(RoutingRule.position, RoutingRule.name)
        if active_only:
            statement = statement.where(RoutingRule.active.is_(True))
        return (await self.session.scalars(statement)).all()

    async def routing_rule(self, rule_id: uuid.UUID, *, for_update: bool = False) -> RoutingRule | None:
        statement = select(RoutingRule).where(RoutingRule.id == rule_id)
        return (await self.session.scalars(_locked(statement) if for_update else statement)).first()

    async def active_member_ids(self, user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        ids = list(set(user_ids))
        if not ids:
            return set()
        statement = select(Membership.user_id).where(Membership.user_id.in_(ids), Membership.status == MembershipStatus.ACTIVE)
        return set((await self.session.scalars(statement)).all())

    async def active_member_role(self, user_id: uuid.UUID) -> Role | None:
        statement = select(Membership.role).where(Membership.user_id == user_id, Membership.status == MembershipStatus.ACTIVE)
        return (await self.session.scalars(statement)).first()

    async def member_names(self, user_ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
        """Display names of the tenant's members among `user_ids` (people of other tenants stay unnamed)."""
        ids = list({i for i in user_ids if i})
        if not ids:
            return {}
        statement = select(User.id, User.display_name).join(Membership, Membership.user_id == User.id).where(User.id.in_(ids))
        return dict((await self.session.execute(statement)).all())

    async def member_emails(self, user_ids: Iterable[uuid.UUID | None]) -> list[tuple[uuid.UUID, str, str, str | None]]:
        """(id, e-mail, display name, language) of the tenant's active members among `user_ids`."""
        ids = list({i for i in user_ids if i})
        if not ids:
            return []
        statement = (
            select(User.id, User.email, User.display_name, User.language)
            .join(Membership, Membership.user_id == User.id)
            .where(User.id.in_(ids), Membership.status == MembershipStatus.ACTIVE)
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]

    async def active_member_ids_in_roles(self, roles: Iterable[Role]) -> list[uuid.UUID]:
        statement = select(Membership.user_id).where(
            Membership.status == MembershipStatus.ACTIVE, Membership.role.in_(list(roles))
        )
        return list((await self.session.scalars(statement)).all())

    async def active_members(self) -> list[tuple[uuid.UUID, str, str, str]]:
        """(id, display name, e-mail, role) of the tenant's active members, by name: who a routing rule may name."""
        statement = (
            select(User.id, User.display_name, User.email, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.status == MembershipStatus.ACTIVE)
            .order_by(User.display_name, User.email)
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]

    # --- cases ---------------------------------------------------------------------------

    async def get(self, case_id: uuid.UUID, *, for_update: bool = False) -> DisputeCase | None:
        statement = select(DisputeCase).where(DisputeCase.id == case_id)
        return (await self.session.scalars(_locked(statement) if for_update else statement)).first()

    async def many(self, case_ids: Iterable[uuid.UUID], *, for_update: bool = False) -> Sequence[DisputeCase]:
        statement = select(DisputeCase).where(DisputeCase.id.in_(list(case_ids))).order_by(DisputeCase.id)
        return (await self.session.scalars(_locked(statement) if for_update else statement)).all()

    def _filtered(self, statement, where: CaseFilter):
        if where.owner == "unassigned":
            statement = statement.where(DisputeCase.owner_user_id.is_(None))
        elif where.owner:
            statement = statement.where(DisputeCase.owner_user_id == uuid.UUID(where.owner))
        if where.states:
            statement = statement.where(DisputeCase.state.in_(where.states))
        if where.phase:
            statement = statement.where(DisputeCase.phase == where.phase)
        if where.reason_code:
            statement = statement.where(DisputeCase.reason_code == where.reason_code)
        if where.buyer_id:
            statement = statement.where(DisputeCase.buyer_id == where.buyer_id)
        if where.opened_before:
            statement = statement.where(DisputeCase.opened_on <= where.opened_before)
        if where.opened_after:
            statement = statement.where(DisputeCase.opened_on >= where.opened_after)
        if where.min_amount is not None:
            statement = statement.where(DisputeCase.disputed_amount >= where.min_amount)
        if where.max_amount is not None:
            statement = statement.where(DisputeCase.disputed_amount <= where.max_amount)
        if where.query:
            pattern = f"%{where.query.lower()}%"
            on_invoice = (
                select(DisputeItem.case_id)
                .join(Invoice, Invoice.id == DisputeItem.invoice_id)
                .where(func.lower(Invoice.number).like(pattern))
            )
            statement = statement.where(
                or_(
                    func.lower(DisputeCase.number).like(pattern),
                    func.lower(Buyer.legal_name).like(pattern),
                    DisputeCase.id.in_(on_invoice),
                )
            )
        return statement

    async def page(self, where: CaseFilter, *, limit: int, offset: int) -> tuple[int, Sequence[tuple[DisputeCase, str]]]:
        """(total, [(case, buyer name)]) of the cases matching `where`."""
        base = select(DisputeCase, Buyer.legal_name).join(Buyer, Buyer.id == DisputeCase.buyer_id)
        statement = self._filtered(base, where)
        total = await self.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
        order = SORTS.get(where.sort, SORTS["-opened"])
        rows = (await self.session.execute(statement.order_by(*order).limit(limit).offset(offset))).all()
        return total or 0, [(case, name) for case, name in rows]

    async def count_by_owner(self, user_id: uuid.UUID) -> dict[str, int]:
        """Cases in progress: the person's own, the team's and the unassigned ones (the inbox's tabs)."""
        active = DisputeCase.state.in_(ACTIVE_STATES)
        mine = await self.session.scalar(select(func.count()).where(active, DisputeCase.owner_user_id == user_id))
        team = await self.session.scalar(select(func.count()).where(active))
        unassigned = await self.session.scalar(select(func.count()).where(active, DisputeCase.owner_user_id.is_(None)))
        return {"mine": mine or 0, "team": team or 0, "unassigned": unassigned or 0}

    async def of_buyer(self, buyer_id: uuid.UUID, *, exclude: uuid.UUID | None = None, limit: int = 20) -> Sequence[DisputeCase]:
        statement = select(DisputeCase).where(DisputeCase.buyer_id == buyer_id)
        if exclude:
            statement = statement.where(DisputeCase.id != exclude)
        return (await self.session.scalars(statement.order_by(DisputeCase.opened_on.desc()).limit(limit))).all()

    async def cases_of_buyer(self, buyer_id: uuid.UUID, *, limit: int = 500) -> Sequence[DisputeCase]:
        """A buyer's cases, those in progress first, newest first: the buyer's own list in the portal."""
        in_progress = DisputeCase.state.in_(ACTIVE_STATES)
        statement = (
            select(DisputeCase)
            .where(DisputeCase.buyer_id == buyer_id)
            .order_by(in_progress.desc(), DisputeCase.opened_on.desc(), DisputeCase.number.desc())
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()

    async def open_questions_by_case(self, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        """How many questions to the buyer wait for an answer, per case in progress (a closed case asks nothing)."""
        ids = list(set(case_ids))
        if not ids:
            return {}
        statement = (
            select(DisputeMessage.case_id, func.count())
            .join(DisputeCase, DisputeCase.id == DisputeMessage.case_id)
            .where(
                DisputeMessage.case_id.in_(ids),
                DisputeCase.state.in_(ACTIVE_STATES),
                DisputeMessage.internal.is_(False),
                DisputeMessage.question.is_(True),
                DisputeMessage.answered_at.is_(None),
            )
            .group_by(DisputeMessage.case_id)
        )
        return {case_id: count for case_id, count in (await self.session.execute(statement)).all()}

    async def cases_with_offer(self, case_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Of `case_ids`, the negotiating cases whose proposal waits for the buyer's answer."""
        ids = list(set(case_ids))
        if not ids:
            return set()
        statement = (
            select(Proposal.case_id)
            .join(DisputeCase, DisputeCase.id == Proposal.case_id)
            .where(
                Proposal.case_id.in_(ids),
                Proposal.status == ProposalStatus.OFFERED,
                DisputeCase.state == DisputeState.NEGOTIATING,
            )
        )
        return set((await self.session.scalars(statement)).all())

    async def invoice_numbers_by_case(self, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        ids = list(set(case_ids))
        if not ids:
            return {}
        statement = (
            select(DisputeItem.case_id, Invoice.number)
            .join(Invoice, Invoice.id == DisputeItem.invoice_id)
            .where(DisputeItem.case_id.in_(ids))
            .distinct()
            .order_by(DisputeItem.case_id, Invoice.number)
        )
        numbers: dict[uuid.UUID, list[str]] = {}
        for case_id, number in (await self.session.execute(statement)).all():
            numbers.setdefault(case_id, []).append(number)
        return numbers

    async def buyer_history(self, buyer_id: uuid.UUID) -> Sequence[tuple]:
        """Per state and reason: count and disputed amount, and per currency (the buyer's dispute history)."""
        statement = (
            select(
                DisputeCase.state,
                DisputeCase.reason_code,
                DisputeCase.currency,
                func.count(),
                func.coalesce(func.sum(DisputeCase.disputed_amount), 0),
                func.coalesce(func.sum(DisputeCase.credited_amount + DisputeCase.written_off_amount), 0),
            )
            .where(DisputeCase.buyer_id == buyer_id)
            .group_by(DisputeCase.state, DisputeCase.reason_code, DisputeCase.currency)
        )
        return (await self.session.execute(statement)).all()

    async def similar_closed(
        self, case: DisputeCase, skus: Iterable[str], *, limit: int = 10
    ) -> Sequence[tuple[DisputeCase, str]]:
        """Closed cases of other buyers with the same reason and a product (SKU) in common: the knowledge base."""
        skus = list({s for s in skus if s})
        if not skus:
            return []
        with_product = (
            select(DisputeItem.case_id)
            .join(InvoiceLine, InvoiceLine.invoice_id == DisputeItem.invoice_id)
            .where(
                InvoiceLine.sku.in_(skus),
                or_(DisputeItem.invoice_line_id.is_(None), DisputeItem.invoice_line_id == InvoiceLine.id),
            )
        )
        statement = (
            select(DisputeCase, Buyer.legal_name)
            .join(Buyer, Buyer.id == DisputeCase.buyer_id)
            .where(
                DisputeCase.id != case.id,
                DisputeCase.buyer_id != case.buyer_id,
                DisputeCase.reason_code == case.reason_code,
                DisputeCase.state.in_((DisputeState.RESOLVED, DisputeState.REJECTED)),
                DisputeCase.id.in_(with_product),
            )
            .order_by(DisputeCase.closed_at.desc())
            .limit(limit)
        )
        return [(c, name) for c, name in (await self.session.execute(statement)).all()]

    # --- items and what they hold ----------------------------------------------------------

    async def items(self, case_id: uuid.UUID) -> Sequence[DisputeItem]:
        statement = select(DisputeItem).where(DisputeItem.case_id == case_id).order_by(DisputeItem.invoice_id, DisputeItem.id)
        return (await self.session.scalars(statement)).all()

    async def items_with_invoices(self, case_id: uuid.UUID) -> Sequence[tuple[DisputeItem, Invoice, InvoiceLine | None]]:
        statement = (
            select(DisputeItem, Invoice, InvoiceLine)
            .join(Invoice, Invoice.id == DisputeItem.invoice_id)
            .outerjoin(InvoiceLine, InvoiceLine.id == DisputeItem.invoice_line_id)
            .where(DisputeItem.case_id == case_id)
            .order_by(Invoice.due_date, Invoice.number, InvoiceLine.line_no)
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]

    async def remaining_on_invoices(
        self, invoice_ids: Iterable[uuid.UUID], *, exclude_case: uuid.UUID | None = None
    ) -> dict[uuid.UUID, Decimal]:
        """What the cases in progress still dispute on each invoice (before capping at its open amount)."""
        ids = list(set(invoice_ids))
        if not ids:
            return {}
        statement = (
            select(DisputeItem.invoice_id, func.sum(DisputeItem.amount - DisputeItem.settled_amount))
            .join(DisputeCase, DisputeCase.id == DisputeItem.case_id)
            .where(DisputeItem.invoice_id.in_(ids), DisputeCase.state.in_(ACTIVE_STATES))
            .group_by(DisputeItem.invoice_id)
        )
        if exclude_case:
            statement = statement.where(DisputeCase.id != exclude_case)
        return {invoice_id: Decimal(amount or ZERO) for invoice_id, amount in (await self.session.execute(statement)).all()}

    async def remaining_on_lines(self, line_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
        ids = list(set(line_ids))
        if not ids:
            return {}
        statement = (
            select(DisputeItem.invoice_line_id, func.sum(DisputeItem.amount - DisputeItem.settled_amount))
            .join(DisputeCase, DisputeCase.id == DisputeItem.case_id)
            .where(DisputeItem.invoice_line_id.in_(ids), DisputeCase.state.in_(ACTIVE_STATES))
            .group_by(DisputeItem.invoice_line_id)
        )
        return {line_id: Decimal(amount or ZERO) for line_id, amount in (await self.session.execute(statement)).all()}

    async def active_cases_on_invoices(self, invoice_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        ids = list(set(invoice_ids))
        if not ids:
            return []
        statement = (
            select(DisputeCase.id)
            .join(DisputeItem, DisputeItem.case_id == DisputeCase.id)
            .where(DisputeItem.invoice_id.in_(ids), DisputeCase.state.in_(ACTIVE_STATES))
            .distinct()
        )
        return list((await self.session.scalars(statement)).all())

    async def open_invoices_of_buyer(self, buyer_id: uuid.UUID, *, limit: int = 200) -> Sequence[Invoice]:
        """The buyer's invoices with something open, earliest due first: what a new case may dispute."""
        statement = (
            select(Invoice)
            .where(Invoice.buyer_id == buyer_id, Invoice.open_amount > 0, Invoice.status.in_(OPEN_STATUSES))
            .order_by(Invoice.due_date, Invoice.number)
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()

    async def open_invoices_named(
        self, buyer_id: uuid.UUID, invoice_ids: Iterable[uuid.UUID], line_ids: Iterable[uuid.UUID] = ()
    ) -> Sequence[Invoice]:
        """Those of the buyer's open invoices named, or holding one of the lines named: a foreign id finds nothing."""
        invoice_ids, line_ids = list(set(invoice_ids)), list(set(line_ids))
        if not invoice_ids and not line_ids:
            return []
        named = Invoice.id.in_(invoice_ids)
        if line_ids:
            named = or_(named, Invoice.id.in_(select(InvoiceLine.invoice_id).where(InvoiceLine.id.in_(line_ids))))
        statement = (
            select(Invoice)
            .where(Invoice.buyer_id == buyer_id, Invoice.open_amount > 0, Invoice.status.in_(OPEN_STATUSES), named)
            .order_by(Invoice.due_date, Invoice.number)
        )
        return (await self.session.scalars(statement)).all()

    async def lines_of_invoices(self, invoice_ids: Iterable[uuid.UUID]) -> Sequence[InvoiceLine]:
        ids = list(set(invoice_ids))
        if not ids:
            return []
        statement = (
            select(InvoiceLine).where(InvoiceLine.invoice_id.in_(ids)).order_by(InvoiceLine.invoice_id, InvoiceLine.line_no)
        )
        return (await self.session.scalars(statement)).all()

    async def cases_of_invoice(self, invoice_id: uuid.UUID) -> Sequence[DisputeCase]:
        statement = (
            select(DisputeCase)
            .where(DisputeCase.id.in_(select(DisputeItem.case_id).where(DisputeItem.invoice_id == invoice_id)))
            .order_by(DisputeCase.opened_on.desc())
        )
        return (await self.session.scalars(statement)).all()

    async def ledger_since(self, invoice_ids: Iterable[uuid.UUID], since: datetime) -> dict[uuid.UUID, dict[EntryKind, Decimal]]:
        """Per invoice, what the ledger entries written since `since` allocated to it, by kind (adjustments
        signed), leaving out the entries a dispute case's resolution wrote."""
        ids = list(set(invoice_ids))
        if not ids:
            return {}
        statement = (
            select(Allocation.invoice_id, LedgerEntry.kind, func.sum(Allocation.amount))
            .join(LedgerEntry, LedgerEntry.id == Allocation.entry_id)
            .where(Allocation.invoice_id.in_(ids), LedgerEntry.created_at >= since, LedgerEntry.dispute_case_id.is_(None))
            .group_by(Allocation.invoice_id, LedgerEntry.kind)
        )
        totals: dict[uuid.UUID, dict[EntryKind, Decimal]] = {}
        for invoice_id, kind, amount in (await self.session.execute(statement)).all():
            totals.setdefault(invoice_id, {})[kind] = Decimal(amount or ZERO)
        return totals

    async def last_reopened_at(self, case_id: uuid.UUID) -> datetime | None:
        statement = select(func.max(DisputeEvent.at)).where(DisputeEvent.case_id == case_id, DisputeEvent.kind == "reopened")
        return await self.session.scalar(statement)

    # --- timeline, thread, checklist, tasks ---------------------------------------------------

    async def events(self, case_id: uuid.UUID, *, external_only: bool = False) -> Sequence[DisputeEvent]:
        statement = select(DisputeEvent).where(DisputeEvent.case_id == case_id)
        if external_only:
            statement = statement.where(DisputeEvent.external.is_(True))
        return (await self.session.scalars(statement.order_by(DisputeEvent.at, DisputeEvent.id))).all()

    async def messages(self, case_id: uuid.UUID, *, external_only: bool = False) -> Sequence[DisputeMessage]:
        statement = select(DisputeMessage).where(DisputeMessage.case_id == case_id)
        if external_only:
            statement = statement.where(DisputeMessage.internal.is_(False))
        return (await self.session.scalars(statement.order_by(DisputeMessage.created_at, DisputeMessage.id))).all()

    async def message(self, message_id: uuid.UUID) -> DisputeMessage | None:
        return (await self.session.scalars(select(DisputeMessage).where(DisputeMessage.id == message_id))).first()

    async def checklist(self, case_id: uuid.UUID) -> Sequence[ChecklistAnswer]:
        return (await self.session.scalars(select(ChecklistAnswer).where(ChecklistAnswer.case_id == case_id))).all()

    async def tasks(self, case_id: uuid.UUID) -> Sequence[DisputeTask]:
        statement = select(DisputeTask).where(DisputeTask.case_id == case_id).order_by(DisputeTask.created_at)
        return (await self.session.scalars(statement)).all()

    async def task(self, task_id: uuid.UUID, *, for_update: bool = False) -> DisputeTask | None:
        statement = select(DisputeTask).where(DisputeTask.id == task_id)
        return (await self.session.scalars(_locked(statement) if for_update else statement)).first()

    async def open_tasks_of(self, user_id: uuid.UUID) -> Sequence[tuple[DisputeTask, DisputeCase]]:
        statement = (
            select(DisputeTask, DisputeCase)
            .join(DisputeCase, DisputeCase.id == DisputeTask.case_id)
            .where(DisputeTask.assignee_user_id == user_id, DisputeTask.status == "open")
            .order_by(DisputeTask.due_on)
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]

    # --- proposals, instalments, approvals ----------------------------------------------------

    async def proposals(self, case_id: uuid.UUID) -> Sequence[Proposal]:
        statement = select(Proposal).where(Proposal.case_id == case_id).order_by(Proposal.seq)
        return (await self.session.scalars(statement)).all()

    async def proposal(self, proposal_id: uuid.UUID, *, for_update: bool = False) -> Proposal | None:
        statement = select(Proposal).where(Proposal.id == proposal_id)
        return (await self.session.scalars(_locked(statement) if for_update else statement)).first()

    async def options(self, proposal_ids: Iterable[uuid.UUID]) -> Sequence[ProposalOption]:
        ids = list(proposal_ids)
        if not ids:
            return []
        statement = (
            select(ProposalOption)
            .where(ProposalOption.proposal_id.in_(ids))
            .order_by(ProposalOption.proposal_id, ProposalOption.position)
        )
        return (await self.session.scalars(statement)).all()

    async def option(self, option_id: uuid.UUID) -> ProposalOption | None:
        return (await self.session.scalars(select(ProposalOption).where(ProposalOption.id == option_id))).first()

    async def instalments(self, case_id: uuid.UUID) -> Sequence[Instalment]:
        statement = select(Instalment).where(Instalment.case_id == case_id).order_by(Instalment.seq)
        return (await self.session.scalars(statement)).all()

    async def approvals(self, case_id: uuid.UUID) -> Sequence[Approval]:
        statement = select(Approval).where(Approval.case_id == case_id).order_by(Approval.requested_at)
        return (await self.session.scalars(statement)).all()

    async def approval(self, approval_id: uuid.UUID, *, for_update: bool = False) -> Approval | None:
        statement = select(Approval).where(Approval.id == approval_id)
        return (await self.session.scalars(_locked(statement) if for_update else statement)).first()

    async def pending_approvals(self) -> Sequence[tuple[Approval, DisputeCase]]:
        statement = (
            select(Approval, DisputeCase)
            .join(DisputeCase, DisputeCase.id == Approval.case_id)
            .where(Approval.status == ApprovalStatus.PENDING)
            .order_by(Approval.requested_at)
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]

    # --- files (evidence and thread attachments) ----------------------------------------------------

    async def files_of(self, owner_type: str, owner_ids: Iterable[uuid.UUID]) -> Sequence[StoredFile]:
        ids = list(owner_ids)
        if not ids:
            return []
        statement = (
            select(StoredFile)
            .where(StoredFile.owner_type == owner_type, StoredFile.owner_id.in_(ids))
            .order_by(StoredFile.created_at, StoredFile.filename)
        )
        return (await self.session.scalars(statement)).all()

    async def file(self, file_id: uuid.UUID) -> StoredFile | None:
        return (await self.session.scalars(select(StoredFile).where(StoredFile.id == file_id))).first()
