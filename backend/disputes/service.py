"""Dispute cases: the only code that changes them.

Every change takes the case's row lock first (then, where it touches the ledger, the invoices' locks
in id order), checks the version the person saw when one is given, and writes a timeline event and an
audit entry. A move the state machine does not draw is refused with 409 and changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from backend.audit import service as audit
from backend.auth.policies import Permission, can, require, role_can
from backend.auth.principal import Principal, PrincipalKind
from backend.buyers.models import Buyer
from backend.buyers.repository import BuyerRepository
from backend.db.base import utcnow
from backend.db.tenancy import current_tenant
from backend.disputes import holds, timers
from backend.disputes.codes import ANSWERS, CHECKLIST, TEAMS, Code, default_codes
from backend.disputes.models import (
    ACTIVE_STATES,
    MONEY_OPTIONS,
    STATE_LABELS,
    Approval,
    ApprovalStatus,
    Channel,
    ChecklistAnswer,
    CodeKind,
    DisputeCase,
    DisputeEvent,
    DisputeItem,
    DisputeMessage,
    DisputePhase,
    DisputeSettings,
    DisputeState,
    DisputeTask,
    Instalment,
    OptionKind,
    Outcome,
    Proposal,
    ProposalOption,
    ProposalStatus,
    TaskStatus,
)
from backend.disputes.repository import CaseFilter, DisputeRepository
from backend.disputes.states import allowed_moves, check_move
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.files import storage, uploads
from backend.i18n import Translatable, _, gettext
from backend.invoices import service as ledger
from backend.invoices.models import EntryKind, Invoice, InvoiceLine, StoredFile
from backend.invoices.repository import OPEN_STATUSES, InvoiceRepository
from backend.money import ZERO, parse_decimal, round_money, storable
from backend.payments import subscriptions

EVIDENCE_FILE = "dispute"  # the team's own evidence: never shown to the buyer
BUYER_EVIDENCE_FILE = "dispute_buyer_evidence"  # what the buyer uploaded in the portal: both sides see it
MESSAGE_FILE = "dispute_message"
MAX_TEXT = 10_000
EVIDENCE_TYPES_MESSAGE = _("Evidence must be a PDF, PNG, JPEG, WebP or TIFF file.")

# Kinds of timeline events the buyer may see (the rest are the team's own).
EXTERNAL_EVENTS = frozenset(
    {
        "registered",
        "acknowledged",
        "message",
        "buyer_evidence_added",
        "proposal_offered",
        "proposal_answered",
        "proposal_withdrawn",
        "resolved",
        "closed_settled",
        "withdrawn",
        "rejected",
        # The buyer's own card payments and refunds on the case's invoices (backend.payments.service).
        "payment_received",
        "payment_refunded",
        "instalment_paid",
    }
)


# --- small helpers ----------------------------------------------------------------------------


def case_view(case: DisputeCase) -> dict:
    return {
        "number": case.number,
        "state": case.state.value,
        "phase": case.phase.value,
        "owner_user_id": str(case.owner_user_id) if case.owner_user_id else None,
        "reason_code": case.reason_code,
        "disputed_amount": str(case.disputed_amount),
        "currency": case.currency,
        "outcome": case.outcome.value if case.outcome else None,
        "root_cause_code": case.root_cause_code,
        "version": case.version,
    }


def _text(value: str | None, field_name: str, *, required: str | None = None, limit: int = MAX_TEXT) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise ValidationFailed(required, field=field_name)
        return None
    if len(text) > limit:
        raise ValidationFailed(
            _("%(field)s is longer than %(limit)s characters."), field=field_name, params={"field": field_name, "limit": limit}
        )
    return text


def _shown(amount: Decimal, currency: str) -> str:
    """An amount as a message names it: to the currency's minor unit (the columns keep four decimals)."""
    return str(round_money(amount, currency))


def _money(raw, currency: str, field_name: str, *, allow_zero: bool = False) -> Decimal:
    amount = raw if isinstance(raw, Decimal) else parse_decimal(raw)
    if amount is None:
        raise ValidationFailed(_("Enter an amount, such as 1250.00."), field=field_name)
    if not storable(amount):
        raise ValidationFailed(_("The amount is larger than Accord can hold (10^15)."), field=field_name)
    if round_money(amount, currency) != amount:
        raise ValidationFailed(
            _("%(currency)s amounts have at most the currency's minor unit of decimals."),
            field=field_name,
            params={"currency": currency},
        )
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationFailed(_("The amount must be above zero."), field=field_name)
    return amount


def _log(
    session: AsyncSession,
    principal: Principal,
    case: DisputeCase,
    kind: str,
    *,
    before: dict | None = None,
    after: dict | None = None,
    **data,
) -> None:
    """One step on the case's timeline and in the audit trail."""
    session.add(
        DisputeEvent(
            case_id=case.id,
            kind=kind,
            actor=principal.display_name or principal.label,
            external=kind in EXTERNAL_EVENTS,
            data={key: value for key, value in data.items() if value is not None},
            at=utcnow(),
        )
    )
    audit.record(session, principal.actor(), f"dispute.{kind}", "dispute", case.id, before=before, after=after or data)
    timers.refresh_at_commit(session, case.id)  # its next deadline, once all of the transaction's changes are in


async def _case_for_change(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, version: int | None, permission: Permission
) -> DisputeCase:
    require(principal, permission)
    case = await DisputeRepository(session).get(case_id, for_update=True)
    if case is None:
        raise NotFound(_("Not found."))
    if version is not None and version != case.version:
        raise Conflict(
            _("Someone else changed this case while you were looking at it; reload it and try again."),
            field="version",
            params={"version": case.version},
        )
    return case


def _move(case: DisputeCase, target: DisputeState) -> None:
    check_move(case.state, target)
    case.state = target
    case.state_changed_at = utcnow()
    if target not in ACTIVE_STATES:
        case.closed_at = case.state_changed_at
    else:
        case.closed_at = None


def _touch(case: DisputeCase) -> None:
    """Count a change to the case that leaves its own columns as they were (a new proposal, the buyer's
    answer, an approval asked for or refused): its version moves on, so a form opened before is told."""
    flag_modified(case, "state")


def _require_in_progress(case: DisputeCase, message: str) -> None:
    if case.state not in ACTIVE_STATES:
        raise Conflict(message, field="state", params={"state": Translatable(STATE_LABELS[case.state])})


async def _wind_down(session: AsyncSession, principal: Principal, case: DisputeCase) -> None:
    """A case that leaves the negotiation (closes, escalates, goes back to review) leaves nothing open
    behind it: offers the buyer could still accept are withdrawn, and (when it closes) questions to
    colleagues are cancelled."""
    disputes = DisputeRepository(session)
    for proposal in await disputes.proposals(case.id):
        if proposal.status is ProposalStatus.OFFERED:
            proposal.status = ProposalStatus.WITHDRAWN
            _log(session, principal, case, "proposal_withdrawn", proposal_id=str(proposal.id))
    if case.state in ACTIVE_STATES:
        return
    for task in await disputes.tasks(case.id):
        if task.status is TaskStatus.OPEN:
            task.status = TaskStatus.CANCELLED
            _log(session, principal, case, "task_cancelled", task_id=str(task.id))


def _set_phase(case: DisputeCase, phase: DisputePhase) -> None:
    if case.phase is not phase:
        case.phase = phase
        case.phase_changed_at = utcnow()


async def _invoice_ids(session: AsyncSession, case: DisputeCase) -> list[uuid.UUID]:
    return sorted({item.invoice_id for item in await DisputeRepository(session).items(case.id)}, key=str)


# --- the tenant's lists and settings -------------------------------------------------------------


async def codes(session: AsyncSession, kind: CodeKind, *, active_only: bool = True) -> list[Code]:
    """The tenant's reason codes or root causes (the defaults until the tenant changes the list)."""
    rows = await DisputeRepository(session).codes(kind)
    listed = [Code(kind, r.code, r.label_en, r.label_zh, r.position, r.active) for r in rows] or default_codes(kind)
    return [c for c in listed if c.active or not active_only]


async def _check_code(session: AsyncSession, kind: CodeKind, code: str | None, field_name: str) -> str:
    value = (code or "").strip()
    if not value:
        message = _("Choose a reason.") if kind is CodeKind.REASON else _("Choose a root cause.")
        raise ValidationFailed(message, field=field_name)
    if value not in {c.code for c in await codes(session, kind)}:
        raise ValidationFailed(_("%(code)s is not one of your codes."), field=field_name, params={"code": value})
    return value


async def dispute_settings(session: AsyncSession) -> DisputeSettings:
    """The tenant's settings, or the defaults (not stored) until it has any."""
    return await DisputeRepository(session).settings() or DisputeSettings(
        approval_thresholds={}, escalation_days=90, next_case_number=1
    )


def approval_threshold(settings: DisputeSettings, currency: str) -> Decimal:
    """Credit notes and write-offs above this need four eyes; a currency without one: every amount."""
    raw = (settings.approval_thresholds or {}).get(currency)
    return Decimal(str(raw)) if raw is not None else ZERO


# --- registration --------------------------------------------------------------------------------


@dataclass
class ItemInput:
    invoice_id: uuid.UUID
    # One line of the invoice, or None for the invoice as a whole.
    invoice_line_id: uuid.UUID | None = None
    # None: everything still open (the whole invoice, or the whole line).
    amount: Decimal | str | None = None


@dataclass
class NewCase:
    buyer_id: uuid.UUID
    reason_code: str
    description: str
    channel: Channel | str
    items: list[ItemInput] = field(default_factory=list)
    opened_on: date | None = None
    owner_user_id: uuid.UUID | None = None  # None: the routing rules choose


async def _checked_items(
    session: AsyncSession, buyer: Buyer, items: Sequence[ItemInput]
) -> tuple[str, list[tuple[Invoice, InvoiceLine | None, Decimal]]]:
    """Lock the invoices (id order) and check each item against what is open and not yet disputed."""
    if not items:
        raise ValidationFailed(_("Choose at least one invoice or invoice line to dispute."), field="items")
    if len(items) > 500:
        raise ValidationFailed(_("A case disputes at most 500 invoices or lines."), field="items")
    keys = [(item.invoice_id, item.invoice_line_id) for item in items]
    if len(set(keys)) != len(keys):
        raise ValidationFailed(_("An invoice or line is named twice."), field="items")
    whole = {item.invoice_id for item in items if item.invoice_line_id is None}
    if any(item.invoice_line_id and item.invoice_id in whole for item in items):
        raise ValidationFailed(_("Dispute an invoice as a whole or some of its lines, not both."), field="items")
    locked = await InvoiceRepository(session).lock_many(item.invoice_id for item in items)
    invoices: dict[uuid.UUID, Invoice] = {}
    for invoice_id in sorted({item.invoice_id for item in items}, key=str):
        invoice = locked.get(invoice_id)
        if invoice is None or invoice.buyer_id != buyer.id:
            raise ValidationFailed(_("An item names an invoice that is not this buyer's."), field="items")
        if invoice.status not in OPEN_STATUSES or invoice.open_amount <= 0:
            raise ValidationFailed(
                _("Invoice %(number)s has nothing open to dispute."), field="items", params={"number": invoice.number}
            )
        invoices[invoice_id] = invoice
    currencies = {invoice.currency for invoice in invoices.values()}
    if len(currencies) > 1:
        raise ValidationFailed(_("The invoices of one case are in one currency."), field="items")
    currency = currencies.pop()
    disputes = DisputeRepository(session)
    held_elsewhere = await disputes.remaining_on_invoices(invoices)
    line_ids = [item.invoice_line_id for item in items if item.invoice_line_id]
    held_on_lines = await disputes.remaining_on_lines(line_ids)
    lines = {line.id: line for line in await disputes.lines_of_invoices(invoices)}
    checked: list[tuple[Invoice, InvoiceLine | None, Decimal]] = []
    asked: dict[uuid.UUID, Decimal] = {}
    for item in items:
        invoice = invoices[item.invoice_id]
        disputable = invoice.open_amount - min(held_elsewhere.get(invoice.id, ZERO), invoice.open_amount)
        line = None
        if item.invoice_line_id:
            line = lines.get(item.invoice_line_id)
            if line is None or line.invoice_id != invoice.id:
                raise ValidationFailed(
                    _("An item names a line that is not on invoice %(number)s."), field="items", params={"number": invoice.number}
                )
            line_room = line.gross_amount - held_on_lines.get(line.id, ZERO)
            amount = line_room if item.amount in (None, "") else _money(item.amount, currency, "items")
            if amount > line_room:
                raise ValidationFailed(
                    _("Line %(line)s of invoice %(number)s can be disputed for at most %(limit)s."),
                    field="items",
                    params={"line": line.line_no, "number": invoice.number, "limit": _shown(max(line_room, ZERO), currency)},
                )
        else:
            amount = disputable if item.amount in (None, "") else _money(item.amount, currency, "items")
        if amount <= 0:
            raise ValidationFailed(
                _("Invoice %(number)s has nothing left to dispute: other cases already hold what is open."),
                field="items",
                params={"number": invoice.number},
            )
        asked[invoice.id] = asked.get(invoice.id, ZERO) + amount
        if asked[invoice.id] > disputable:
            raise ValidationFailed(
                _("The disputed amount on invoice %(number)s is above what is open and not yet disputed (%(open)s)."),
                field="items",
                params={"number": invoice.number, "open": _shown(disputable, currency)},
            )
        checked.append((invoice, line, amount))
    return currency, checked


async def _route(
    session: AsyncSession, reason_code: str, buyer_id: uuid.UUID, amount: Decimal, currency: str
) -> uuid.UUID | None:
    """The owner the first matching active routing rule names (a pool goes round in turn)."""
    disputes = DisputeRepository(session)
    for rule in await disputes.routing_rules(active_only=True):
        if rule.reason_code and rule.reason_code != reason_code:
            continue
        if rule.buyer_id and rule.buyer_id != buyer_id:
            continue
        if rule.min_amount is not None and (amount < rule.min_amount or (rule.currency and rule.currency != currency)):
            continue
        if rule.owner_user_id:
            if await disputes.active_member_ids([rule.owner_user_id]):
                return rule.owner_user_id
            continue
        pool = [uuid.UUID(u) for u in rule.pool or []]
        members = await disputes.active_member_ids(pool)
        pool = [u for u in pool if u in members]
        if not pool:
            continue
        locked = await disputes.routing_rule(rule.id, for_update=True)
        chosen = pool[locked.next_in_pool % len(pool)]
        locked.next_in_pool = (locked.next_in_pool + 1) % len(pool)
        return chosen
    return None


async def _check_member(session: AsyncSession, user_id: uuid.UUID, field_name: str, permission: Permission) -> None:
    """The person is an active member whose role can do what they are chosen for (own a case, answer a task)."""
    role = await DisputeRepository(session).active_member_role(user_id)
    if role is None:
        raise ValidationFailed(_("That person is not an active member of your team."), field=field_name)
    if not role_can(role, permission):
        message = (
            _("That person's role cannot work disputes; choose someone who can own the case.")
            if permission is Permission.WORK_DISPUTES
            else _("That person's role cannot answer tasks; choose a collaborator or someone who works disputes.")
        )
        raise ValidationFailed(message, field=field_name)


async def register_case(session: AsyncSession, principal: Principal, data: NewCase) -> DisputeCase:
    """Open a case on invoices (or lines) of one buyer; its amount is held out of collection at once."""
    require(principal, Permission.WORK_DISPUTES)
    return await _register(session, principal, data)


async def _register(session: AsyncSession, principal: Principal, data: NewCase) -> DisputeCase:
    """Registration's checks and effects, for whoever may register (the team, or the buyer's own contact
    through `backend.disputes.portal`, which names the buyer from the principal)."""
    buyer = await BuyerRepository(session).get(data.buyer_id)
    if buyer is None:
        raise ValidationFailed(_("The buyer is not one of your buyers."), field="buyer_id")
    reason = await _check_code(session, CodeKind.REASON, data.reason_code, "reason_code")
    description = _text(data.description, "description", required=_("Describe what the buyer disputes."))
    try:
        channel = Channel(data.channel)
    except ValueError:
        raise ValidationFailed(_("The channel is one of: portal, email, phone, api."), field="channel") from None
    opened_on = data.opened_on or date.today()
    if opened_on > date.today() + timedelta(days=1):
        raise ValidationFailed(_("The dispute cannot be raised in the future."), field="opened_on")
    if data.owner_user_id:
        await _check_member(session, data.owner_user_id, "owner_user_id", Permission.WORK_DISPUTES)
    currency, items = await _checked_items(session, buyer, data.items)
    total = sum((amount for _i, _l, amount in items), ZERO)
    await subscriptions.check_room(session, principal, "disputes")
    settings = await DisputeRepository(session).settings_for_update()
    number = f"D-{opened_on:%Y}-{settings.next_case_number:05d}"
    settings.next_case_number += 1
    owner = data.owner_user_id or await _route(session, reason, buyer.id, total, currency)
    case = DisputeCase(
        number=number,
        buyer_id=buyer.id,
        currency=currency,
        state=DisputeState.OPEN,
        phase=DisputePhase.EARLY,
        reason_code=reason,
        description=description,
        channel=channel,
        opened_on=opened_on,
        owner_user_id=owner,
        disputed_amount=total,
        created_by=principal.label,
    )
    session.add(case)
    await session.flush()
    for invoice, line, amount in items:
        session.add(DisputeItem(case_id=case.id, invoice_id=invoice.id, invoice_line_id=line.id if line else None, amount=amount))
    await session.flush()
    await holds.rehold(session, [invoice.id for invoice, _l, _a in items])
    _log(
        session,
        principal,
        case,
        "registered",
        after=case_view(case),
        channel=channel.value,
        amount=str(total),
        items=[
            {"invoice": invoice.number, "line": line.line_no if line else None, "amount": str(amount)}
            for invoice, line, amount in items
        ],
    )
    if owner:
        _log(session, principal, case, "assigned", owner_user_id=str(owner), routed=data.owner_user_id is None)
    return case


@dataclass
class DisputableInvoice:
    invoice: Invoice
    room: Decimal  # open and not yet held by a case in progress
    lines: list[tuple[InvoiceLine, Decimal]]  # each line with what is left to dispute on it


# A new case's form lists the buyer's open invoices earliest due first, up to this many.
OPEN_INVOICES_LISTED = 200


@dataclass
class DisputableChoice:
    invoices: list[DisputableInvoice]
    cut: bool  # the buyer has more open invoices than the earliest due listed


async def disputable_invoices(session: AsyncSession, principal: Principal, buyer_id: uuid.UUID) -> list[DisputableInvoice]:
    """A buyer's open invoices with their lines, and what each can still be disputed for (a new case's defaults)."""
    require(principal, Permission.READ_LEDGER)
    if await BuyerRepository(session).get(buyer_id) is None:
        raise NotFound(_("Not found."))
    return (await _disputable(session, buyer_id)).invoices


async def _disputable(
    session: AsyncSession,
    buyer_id: uuid.UUID,
    *,
    named_invoices: Sequence[uuid.UUID] = (),
    named_lines: Sequence[uuid.UUID] = (),
) -> DisputableChoice:
    """The earliest due of the buyer's open invoices, and those named (however late they fall due:
    a buyer with many open invoices can still dispute the one it came from, or the ones it sent)."""
    disputes = DisputeRepository(session)
    earliest = list(await disputes.open_invoices_of_buyer(buyer_id, limit=OPEN_INVOICES_LISTED + 1))
    cut = len(earliest) > OPEN_INVOICES_LISTED
    invoices = earliest[:OPEN_INVOICES_LISTED]
    listed = {invoice.id for invoice in invoices}
    invoices += [
        invoice
        for invoice in await disputes.open_invoices_named(buyer_id, named_invoices, named_lines)
        if invoice.id not in listed
    ]
    held = await disputes.remaining_on_invoices([invoice.id for invoice in invoices])
    lines = await disputes.lines_of_invoices([invoice.id for invoice in invoices])
    on_lines = await disputes.remaining_on_lines([line.id for line in lines])
    lines_of: dict[uuid.UUID, list[InvoiceLine]] = {}
    for line in lines:
        lines_of.setdefault(line.invoice_id, []).append(line)
    found = []
    for invoice in invoices:
        room = invoice.open_amount - min(held.get(invoice.id, ZERO), invoice.open_amount)
        found.append(
            DisputableInvoice(
                invoice,
                room,
                [
                    (line, max(ZERO, min(line.gross_amount - on_lines.get(line.id, ZERO), room)))
                    for line in lines_of.get(invoice.id, [])
                ],
            )
        )
    return DisputableChoice(found, cut)


# --- reading ---------------------------------------------------------------------------------------


async def get_case(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> DisputeCase:
    require(principal, Permission.READ_LEDGER)
    case = await DisputeRepository(session).get(case_id)
    if case is None:
        raise NotFound(_("Not found."))
    return case


async def list_cases(session: AsyncSession, principal: Principal, where: CaseFilter, *, limit: int = 50, offset: int = 0):
    require(principal, Permission.READ_LEDGER)
    return await DisputeRepository(session).page(where, limit=limit, offset=offset)


async def inbox_counts(session: AsyncSession, principal: Principal) -> dict[str, int]:
    require(principal, Permission.READ_LEDGER)
    return await DisputeRepository(session).count_by_owner(principal.id)


@dataclass
class HeldInvoice:
    invoice: Invoice
    items: list[tuple[DisputeItem, InvoiceLine | None]]
    disputed: Decimal  # what this case disputes on it, less what its resolution settled
    held: Decimal  # of that, what is still open (held out of collection while the case is in progress)


@dataclass
class CaseDetails:
    case: DisputeCase
    buyer: Buyer
    owner_name: str | None
    invoices: list[HeldInvoice]
    evidence: Sequence[StoredFile]
    events: Sequence[DisputeEvent]
    messages: Sequence[tuple[DisputeMessage, Sequence[StoredFile]]]
    checklist: dict[str, ChecklistAnswer]
    tasks: Sequence[DisputeTask]
    proposals: list[tuple[Proposal, Sequence[ProposalOption]]]
    instalments: Sequence[Instalment]
    approvals: Sequence[Approval]
    names: dict[uuid.UUID, str]
    moves: list[DisputeState]

    @property
    def held(self) -> Decimal:
        return sum((entry.held for entry in self.invoices), ZERO) if self.case.state in ACTIVE_STATES else ZERO

    @property
    def pending_approval(self) -> Approval | None:
        return next((a for a in self.approvals if a.status is ApprovalStatus.PENDING), None)

    @property
    def accepted_option(self) -> ProposalOption | None:
        for _proposal, options in self.proposals:
            for option in options:
                if option.id == self.case.agreed_option_id:
                    return option
        return None


async def _held_invoices(session: AsyncSession, case: DisputeCase) -> list[HeldInvoice]:
    grouped: dict[uuid.UUID, HeldInvoice] = {}
    for item, invoice, line in await DisputeRepository(session).items_with_invoices(case.id):
        entry = grouped.setdefault(invoice.id, HeldInvoice(invoice, [], ZERO, ZERO))
        entry.items.append((item, line))
        entry.disputed += item.amount - item.settled_amount
    in_progress = case.state in ACTIVE_STATES
    for entry in grouped.values():
        open_amount = entry.invoice.open_amount if entry.invoice.status in OPEN_STATUSES else ZERO
        # A closed case holds nothing, whatever of its items is still open.
        entry.held = max(ZERO, min(entry.disputed, open_amount)) if in_progress else ZERO
    return list(grouped.values())


async def case_details(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> CaseDetails:
    case = await get_case(session, principal, case_id)
    disputes = DisputeRepository(session)
    messages = await disputes.messages(case.id)
    attachments = await disputes.files_of(MESSAGE_FILE, [m.id for m in messages])
    proposals = await disputes.proposals(case.id)
    options = await disputes.options([p.id for p in proposals])
    tasks = await disputes.tasks(case.id)
    approvals = await disputes.approvals(case.id)
    people = [case.owner_user_id, *(t.assignee_user_id for t in tasks), *(a.requested_by_user_id for a in approvals)]
    names = await disputes.member_names(people)
    return CaseDetails(
        case=case,
        buyer=await BuyerRepository(session).get(case.buyer_id),
        owner_name=names.get(case.owner_user_id) if case.owner_user_id else None,
        invoices=await _held_invoices(session, case),
        evidence=await _evidence(disputes, case.id),
        events=await disputes.events(case.id),
        messages=[(m, [f for f in attachments if f.owner_id == m.id]) for m in messages],
        checklist={a.item: a for a in await disputes.checklist(case.id)},
        tasks=tasks,
        proposals=[(p, [o for o in options if o.proposal_id == p.id]) for p in proposals],
        instalments=await disputes.instalments(case.id),
        approvals=approvals,
        names=names,
        moves=allowed_moves(case.state),
    )


async def _evidence(disputes: DisputeRepository, case_id: uuid.UUID) -> list[StoredFile]:
    """The team's evidence and the buyer's, in the order they came (`owner_type` tells them apart)."""
    files = [*await disputes.files_of(EVIDENCE_FILE, [case_id]), *await disputes.files_of(BUYER_EVIDENCE_FILE, [case_id])]
    return sorted(files, key=lambda f: (f.created_at, f.filename))


# --- moving a case along ---------------------------------------------------------------------------


async def _drop_pending_approvals(session: AsyncSession, principal: Principal, case: DisputeCase, target: DisputeState) -> None:
    """The agreement an approval waits on is no longer the case's: refuse it, so it can never carry
    out a later agreement (or stay in the approvers' inbox for nothing)."""
    for approval in await DisputeRepository(session).approvals(case.id):
        if approval.status is not ApprovalStatus.PENDING:
            continue
        approval.status = ApprovalStatus.REFUSED
        approval.decided_by_user_id = principal.id if principal.kind is PrincipalKind.USER else None
        approval.decided_by, approval.decided_at = principal.label, utcnow()
        approval.decision_note = _("The agreement fell through: the case moved to %(state)s.") % {"state": STATE_LABELS[target]}
        _log(session, principal, case, "approval_withdrawn", approval_id=str(approval.id), state=target.value)


async def move_case(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    target: DisputeState | str,
    *,
    note: str | None = None,
    root_cause_code: str | None = None,
    version: int | None = None,
) -> DisputeCase:
    """A move a person asks for by name (acknowledge, review, negotiate, reject, withdraw, escalate, reopen)."""
    case = await _case_for_change(session, principal, case_id, version, Permission.WORK_DISPUTES)
    try:
        target = DisputeState(target)
    except ValueError:
        raise ValidationFailed(_("Unknown state: %(value)s."), field="state", params={"value": str(target)}) from None
    check_move(case.state, target)
    if target in (DisputeState.AGREED, DisputeState.RESOLVED):
        check_move(DisputeState.OPEN, target)  # the explanatory 409: these have their own operations
    note = _text(note, "note")
    before = case_view(case)
    if target is DisputeState.REJECTED:
        note = _text(note, "note", required=_("Give the reasons for rejecting the dispute; the buyer reads them."))
        case.root_cause_code = await _check_code(session, CodeKind.ROOT_CAUSE, root_cause_code, "root_cause_code")
        case.outcome = Outcome.INVALID
        case.resolution_note = note
    if target is DisputeState.WITHDRAWN:
        case.resolution_note = note
    if case.state is DisputeState.AGREED:
        await _drop_pending_approvals(session, principal, case, target)
    reopened = case.state not in ACTIVE_STATES
    if reopened:
        await _check_still_disputable(session, case)
    _move(case, target)
    if reopened:
        case.outcome, case.closed_at = None, None
    if target is DisputeState.NEGOTIATING and case.agreed_option_id:
        case.agreed_option_id = None  # an agreement that fell through
        _set_phase(case, DisputePhase.MIDDLE)
    if target in (DisputeState.ESCALATED_LEGAL, DisputeState.ESCALATED_CLAIM):
        case.escalation_level = max(case.escalation_level, 3)
    if target is not DisputeState.NEGOTIATING:
        # An offer made before (say) going back to review must not be accepted when talks resume.
        await _wind_down(session, principal, case)
    await session.flush()
    if reopened or target not in ACTIVE_STATES:
        await holds.rehold(session, await _invoice_ids(session, case))
    kind = {
        DisputeState.ACKNOWLEDGED: "acknowledged",
        DisputeState.REJECTED: "rejected",
        DisputeState.WITHDRAWN: "withdrawn",
    }.get(target, "reopened" if reopened else "state_changed")
    _log(session, principal, case, kind, before=before, after=case_view(case), state=target.value, note=note)
    return case


async def _check_still_disputable(session: AsyncSession, case: DisputeCase) -> None:
    """A closed case reopens only if what it still disputes fits beside the cases opened since and what was paid."""
    invoices = await _held_invoices(session, case)
    await holds.lock_invoices(session, [entry.invoice.id for entry in invoices])
    others = await DisputeRepository(session).remaining_on_invoices([e.invoice.id for e in invoices], exclude_case=case.id)
    for entry in invoices:
        disputed = entry.disputed
        open_amount = entry.invoice.open_amount if entry.invoice.status in OPEN_STATUSES else ZERO
        if disputed > 0 and others.get(entry.invoice.id, ZERO) + disputed > open_amount:
            raise Conflict(
                _(
                    "Invoice %(number)s no longer has %(amount)s open and undisputed (paid, credited or disputed by "
                    "another case since); open a new case for what is still in question."
                ),
                field="state",
                params={"number": entry.invoice.number, "amount": _shown(disputed, case.currency)},
            )


async def set_phase(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, phase: DisputePhase | str, *, version: int | None = None
) -> DisputeCase:
    case = await _case_for_change(session, principal, case_id, version, Permission.WORK_DISPUTES)
    try:
        phase = DisputePhase(phase)
    except ValueError:
        raise ValidationFailed(_("The phase is early, middle or late."), field="phase") from None
    if case.state not in ACTIVE_STATES:
        raise Conflict(
            _("A case in state %(state)s has no negotiation phase to change."),
            field="phase",
            params={"state": Translatable(STATE_LABELS[case.state])},
        )
    if case.phase is phase:
        return case
    before = case_view(case)
    _set_phase(case, phase)
    await session.flush()
    _log(session, principal, case, "phase_changed", before=before, after=case_view(case), phase=phase.value)
    return case


async def assign_case(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    owner_user_id: uuid.UUID | None,
    *,
    version: int | None = None,
) -> DisputeCase:
    case = await _case_for_change(session, principal, case_id, version, Permission.WORK_DISPUTES)
    if owner_user_id:
        await _check_member(session, owner_user_id, "owner_user_id", Permission.WORK_DISPUTES)
    await _assign(session, principal, case, owner_user_id)
    return case


async def _assign(session: AsyncSession, principal: Principal, case: DisputeCase, owner_user_id: uuid.UUID | None) -> None:
    """Give the (locked) case its owner, an already checked member."""
    if case.owner_user_id == owner_user_id:
        return
    before = case_view(case)
    case.owner_user_id = owner_user_id
    await session.flush()
    _log(
        session,
        principal,
        case,
        "assigned",
        before=before,
        after=case_view(case),
        owner_user_id=str(owner_user_id) if owner_user_id else None,
    )


async def bulk_assign(
    session: AsyncSession, principal: Principal, case_ids: Sequence[uuid.UUID], owner_user_id: uuid.UUID | None
) -> list[DisputeCase]:
    """Give several cases one owner (or none), all or nothing; cases are locked in id order."""
    require(principal, Permission.WORK_DISPUTES)
    if not case_ids:
        raise ValidationFailed(_("Choose at least one case."), field="case_ids")
    if len(case_ids) > 500:
        raise ValidationFailed(_("Assign at most 500 cases at once."), field="case_ids")
    if owner_user_id:
        await _check_member(session, owner_user_id, "owner_user_id", Permission.WORK_DISPUTES)
    cases = await DisputeRepository(session).many(set(case_ids), for_update=True)
    if len(cases) != len(set(case_ids)):
        raise NotFound(_("Not found."))
    for case in cases:
        await _assign(session, principal, case, owner_user_id)
    return list(cases)


# --- evidence and the thread ------------------------------------------------------------------------


async def add_evidence(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, *, filename: str | None, source: BinaryIO
) -> StoredFile:
    case = await _case_for_change(session, principal, case_id, None, Permission.CONTRIBUTE_DISPUTES)
    _require_in_progress(case, _("A case in state %(state)s takes no more evidence."))
    stored = await uploads.store_upload(
        session,
        owner_type=EVIDENCE_FILE,
        owner_id=case.id,
        filename=filename,
        source=source,
        refused_type_message=EVIDENCE_TYPES_MESSAGE,
        fallback_name="evidence",
    )
    _log(session, principal, case, "evidence_added", **uploads.file_view(stored))
    return stored


async def case_file(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, file_id: uuid.UUID
) -> tuple[StoredFile, BinaryIO]:
    """An evidence file or thread attachment of the case, with its content opened (the caller closes it)."""
    case = await get_case(session, principal, case_id)
    stored = await DisputeRepository(session).file(file_id)
    if stored is None:
        raise NotFound(_("Not found."))
    if stored.owner_type in (EVIDENCE_FILE, BUYER_EVIDENCE_FILE) and stored.owner_id == case.id:
        return stored, await uploads.open_stored(session, stored)
    if stored.owner_type == MESSAGE_FILE:
        message = await DisputeRepository(session).message(stored.owner_id)
        if message is not None and message.case_id == case.id:
            return stored, await uploads.open_stored(session, stored)
    raise NotFound(_("Not found."))


@dataclass
class Attachment:
    filename: str | None
    source: BinaryIO


async def store_files(
    session: AsyncSession,
    owner_type: str,
    owner_id: uuid.UUID,
    files: Sequence[Attachment],
    *,
    fallback_name: str,
    name_refused: bool = False,
) -> list[StoredFile]:
    """Keep each file for its owner, all or none: when one is refused, the bytes of those already kept
    are removed here (their rows go with the caller's rollback). `name_refused` puts the refused
    file's name before the reason, for a form where several were chosen."""
    kept: list[StoredFile] = []
    try:
        for attachment in files:
            try:
                kept.append(
                    await uploads.store_upload(
                        session,
                        owner_type=owner_type,
                        owner_id=owner_id,
                        filename=attachment.filename,
                        source=attachment.source,
                        refused_type_message=EVIDENCE_TYPES_MESSAGE,
                        fallback_name=fallback_name,
                    )
                )
            except (ValidationFailed, uploads.FileTooLarge) as error:
                if not name_refused or not attachment.filename:
                    raise
                raise type(error)(
                    "%(filename)s: %(reason)s",
                    field=error.field,
                    params={"filename": attachment.filename, "reason": error.translated(gettext)},
                ) from error
    except BaseException:
        for stored in kept:
            await asyncio.to_thread(storage.get_storage().delete, current_tenant(session), stored.storage_key)
        raise
    return kept


async def post_message(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    *,
    body: str,
    internal: bool,
    question: bool = False,
    attachments: Sequence[Attachment] = (),
) -> DisputeMessage:
    """A message to the buyer (a question when it asks for their answer), or (internal) a note the buyer
    never sees; participants are told by e-mail."""
    permission = Permission.CONTRIBUTE_DISPUTES if internal else Permission.WORK_DISPUTES
    case = await _case_for_change(session, principal, case_id, None, permission)
    if question and internal:
        raise ValidationFailed(
            _("Only a message to the buyer can be a question: an internal note has no one to answer it."), field="question"
        )
    return await _post_message(session, principal, case, body=body, internal=internal, question=question, attachments=attachments)


async def _post_message(
    session: AsyncSession,
    principal: Principal,
    case: DisputeCase,
    *,
    body: str,
    internal: bool,
    attachments: Sequence[Attachment],
    question: bool = False,
    answer_to: DisputeMessage | None = None,
    name_refused: bool = False,
) -> DisputeMessage:
    """Write to the (locked) case's thread, by the team or the buyer's contact; `answer_to` is the
    question this message answers (checked by the caller to be one of the case's)."""
    from backend.jobs import service as jobs

    text = _text(body, "body", required=_("Write the message."))
    if len(attachments) > 10:
        raise ValidationFailed(_("Attach at most 10 files to one message."), field="file")
    message = DisputeMessage(
        case_id=case.id,
        internal=internal,
        author_kind=principal.kind.value,
        author_id=principal.id,
        author_name=principal.display_name or principal.label,
        body=text,
        created_at=utcnow(),
        question=question,
        answer_to_id=answer_to.id if answer_to else None,
    )
    session.add(message)
    await session.flush()
    # One file refused refuses the message: the rollback drops the rows, store_files the bytes already kept.
    kept = await store_files(
        session, MESSAGE_FILE, message.id, attachments, fallback_name="attachment", name_refused=name_refused
    )
    if answer_to is not None and answer_to.answered_at is None:
        answer_to.answered_at = message.created_at
    _log(
        session,
        principal,
        case,
        "note" if internal else "message",
        message_id=str(message.id),
        from_buyer=True if principal.kind is PrincipalKind.BUYER_CONTACT else None,
        question=True if question else None,
        answer_to=str(answer_to.id) if answer_to else None,
        files=[uploads.file_view(stored) for stored in kept] or None,
    )
    jobs.enqueue(session, "disputes.notify_message", {"message_id": str(message.id)})
    return message


# --- evaluation: checklist and tasks ----------------------------------------------------------------


async def answer_checklist(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, item: str, answer: str, note: str | None = None
) -> ChecklistAnswer:
    case = await _case_for_change(session, principal, case_id, None, Permission.CONTRIBUTE_DISPUTES)
    _require_in_progress(case, _("A case in state %(state)s is no longer evaluated."))
    if item not in CHECKLIST:
        raise ValidationFailed(_("Unknown checklist item: %(value)s."), field="item", params={"value": item})
    if answer not in ANSWERS:
        raise ValidationFailed(_("Answer yes, no or unknown."), field="answer")
    note = _text(note, "note")
    existing = {a.item: a for a in await DisputeRepository(session).checklist(case.id)}.get(item)
    before = {"answer": existing.answer, "note": existing.note} if existing else None
    if existing is None:
        existing = ChecklistAnswer(case_id=case.id, item=item, answer=answer, note=note, answered_by=principal.label)
        session.add(existing)
    else:
        existing.answer, existing.note, existing.answered_by, existing.answered_at = answer, note, principal.label, utcnow()
    await session.flush()
    _log(session, principal, case, "checklist_answered", before=before, item=item, answer=answer, note=note)
    return existing


@dataclass
class NewTask:
    assignee_user_id: uuid.UUID
    team: str
    question: str
    due_on: date


async def create_task(session: AsyncSession, principal: Principal, case_id: uuid.UUID, data: NewTask) -> DisputeTask:
    """Ask a colleague (sales, logistics, quality) a question about the case, with a due date."""
    from backend.jobs import service as jobs

    case = await _case_for_change(session, principal, case_id, None, Permission.WORK_DISPUTES)
    if case.state not in ACTIVE_STATES:
        raise Conflict(
            _("A case in state %(state)s takes no new tasks."),
            field="state",
            params={"state": Translatable(STATE_LABELS[case.state])},
        )
    if data.team not in TEAMS:
        raise ValidationFailed(_("Choose the team: sales, logistics, quality, finance or other."), field="team")
    await _check_member(session, data.assignee_user_id, "assignee_user_id", Permission.CONTRIBUTE_DISPUTES)
    question = _text(data.question, "question", required=_("Write the question for your colleague."))
    if data.due_on is None or data.due_on < date.today():
        raise ValidationFailed(_("The due date is today or later."), field="due_on")
    task = DisputeTask(
        case_id=case.id,
        team=data.team,
        assignee_user_id=data.assignee_user_id,
        question=question,
        due_on=data.due_on,
        status=TaskStatus.OPEN,
        created_by=principal.label,
    )
    session.add(task)
    if case.state in (DisputeState.OPEN, DisputeState.ACKNOWLEDGED):
        before = case_view(case)
        _move(case, DisputeState.UNDER_REVIEW)
        _log(session, principal, case, "state_changed", before=before, after=case_view(case), state=case.state.value)
    await session.flush()
    _log(
        session,
        principal,
        case,
        "task_created",
        task_id=str(task.id),
        team=task.team,
        assignee_user_id=str(task.assignee_user_id),
        due_on=task.due_on.isoformat(),
        question=question,
    )
    jobs.enqueue(session, "disputes.notify_task", {"task_id": str(task.id)})
    return task


async def _task_for_change(session: AsyncSession, principal: Principal, task_id: uuid.UUID, version: int | None):
    require(principal, Permission.CONTRIBUTE_DISPUTES)
    disputes = DisputeRepository(session)
    task = await disputes.task(task_id)
    if task is None:
        raise NotFound(_("Not found."))
    case = await _case_for_change(session, principal, task.case_id, None, Permission.CONTRIBUTE_DISPUTES)
    task = await disputes.task(task_id, for_update=True)
    if version is not None and version != task.version:
        raise Conflict(_("Someone else changed this task; reload it and try again."), field="version")
    if task.status is not TaskStatus.OPEN:
        raise Conflict(_("This task is already closed."), field="status")
    _require_in_progress(case, _("A case in state %(state)s takes no more answers to its tasks."))
    return case, task


async def answer_task(
    session: AsyncSession, principal: Principal, task_id: uuid.UUID, answer: str, *, version: int | None = None
) -> DisputeTask:
    """The colleague's answer (the assignee, or someone who works the dispute)."""
    case, task = await _task_for_change(session, principal, task_id, version)
    if task.assignee_user_id != principal.id and not can(principal, Permission.WORK_DISPUTES):
        raise NotFound(_("Not found."))
    task.answer = _text(answer, "answer", required=_("Write your answer."))
    task.status, task.answered_by, task.answered_at = TaskStatus.ANSWERED, principal.label, utcnow()
    await session.flush()
    _log(session, principal, case, "task_answered", task_id=str(task.id), answer=task.answer)
    return task


async def cancel_task(
    session: AsyncSession, principal: Principal, task_id: uuid.UUID, *, version: int | None = None
) -> DisputeTask:
    case, task = await _task_for_change(session, principal, task_id, version)
    require(principal, Permission.WORK_DISPUTES)
    task.status = TaskStatus.CANCELLED
    await session.flush()
    _log(session, principal, case, "task_cancelled", task_id=str(task.id))
    return task


async def pending_approvals(session: AsyncSession, principal: Principal) -> Sequence[tuple[Approval, DisputeCase]]:
    """Agreements waiting for a second person, oldest first: the inbox of those who may approve."""
    require(principal, Permission.APPROVE_LEDGER)
    return await DisputeRepository(session).pending_approvals()


async def my_open_tasks(session: AsyncSession, principal: Principal):
    require(principal, Permission.READ_LEDGER)
    return await DisputeRepository(session).open_tasks_of(principal.id)


# --- negotiation: proposals and the buyer's answer -------------------------------------------------


@dataclass
class OptionInput:
    kind: OptionKind | str
    amount: Decimal | str | None = None
    description: str | None = None
    schedule: list[tuple[date, Decimal | str]] = field(default_factory=list)  # instalments


def _checked_option(raw: OptionInput, case: DisputeCase, held: Decimal, open_total: Decimal, index: int) -> ProposalOption:
    where = f"options[{index}]"
    try:
        kind = OptionKind(raw.kind)
    except ValueError:
        raise ValidationFailed(_("Unknown option: %(value)s."), field=f"{where}.kind", params={"value": str(raw.kind)}) from None
    description = _text(raw.description, f"{where}.description")
    amount, schedule = ZERO, []
    if kind in MONEY_OPTIONS:
        amount = _money(raw.amount, case.currency, f"{where}.amount")
        if amount > held:
            raise ValidationFailed(
                _("The amount is above what the case still disputes (%(held)s)."),
                field=f"{where}.amount",
                params={"held": _shown(held, case.currency)},
            )
    elif kind is OptionKind.INSTALMENTS:
        if not raw.schedule or len(raw.schedule) > 36:
            raise ValidationFailed(_("An instalment plan has 1 to 36 instalments."), field=f"{where}.schedule")
        previous = date.today() - timedelta(days=1)
        for due_on, value in raw.schedule:
            if due_on is None or due_on <= previous:
                raise ValidationFailed(
                    _("Instalments fall due from today on, each after the one before."), field=f"{where}.schedule"
                )
            previous = due_on
            schedule.append({"due_on": due_on.isoformat(), "amount": str(_money(value, case.currency, f"{where}.schedule"))})
        amount = sum((Decimal(i["amount"]) for i in schedule), ZERO)
        if amount > open_total:
            raise ValidationFailed(
                _("The instalments add up to more than is open on the case's invoices (%(open)s)."),
                field=f"{where}.schedule",
                params={"open": _shown(open_total, case.currency)},
            )
    elif kind is OptionKind.REJECTION and not description:
        raise ValidationFailed(
            _("Give the reasons for rejecting the dispute; the buyer reads them."), field=f"{where}.description"
        )
    return ProposalOption(position=index + 1, kind=kind, amount=amount, description=description, schedule=schedule)


async def create_proposal(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    options: Sequence[OptionInput],
    *,
    message: str | None = None,
    version: int | None = None,
) -> Proposal:
    """Offer the buyer one or more ways to settle (its contacts are told); an earlier offer still open is withdrawn."""
    from backend.jobs import service as jobs

    case = await _case_for_change(session, principal, case_id, version, Permission.WORK_DISPUTES)
    if case.state not in (DisputeState.OPEN, DisputeState.ACKNOWLEDGED, DisputeState.UNDER_REVIEW, DisputeState.NEGOTIATING):
        raise Conflict(
            _("A case in state %(state)s takes no proposal."),
            field="state",
            params={"state": Translatable(STATE_LABELS[case.state])},
        )
    if not options or len(options) > 6:
        raise ValidationFailed(_("A proposal has 1 to 6 options."), field="options")
    invoices = await _held_invoices(session, case)
    held = sum((entry.held for entry in invoices), ZERO)
    open_total = sum((entry.invoice.open_amount for entry in invoices if entry.invoice.status in OPEN_STATUSES), ZERO)
    checked = [_checked_option(raw, case, held, open_total, index) for index, raw in enumerate(options)]
    disputes = DisputeRepository(session)
    earlier = await disputes.proposals(case.id)
    for proposal in earlier:
        if proposal.status is ProposalStatus.OFFERED:
            proposal.status = ProposalStatus.WITHDRAWN
    proposal = Proposal(
        case_id=case.id,
        seq=len(earlier) + 1,
        status=ProposalStatus.OFFERED,
        message=_text(message, "message"),
        created_by=principal.display_name or principal.label,
    )
    session.add(proposal)
    await session.flush()
    for option in checked:
        option.proposal_id = proposal.id
        session.add(option)
    before = case_view(case)
    if case.state is not DisputeState.NEGOTIATING:
        _move(case, DisputeState.NEGOTIATING)
    _set_phase(case, DisputePhase.MIDDLE)
    _touch(case)
    await session.flush()
    _log(
        session,
        principal,
        case,
        "proposal_offered",
        before=before,
        after=case_view(case),
        proposal_id=str(proposal.id),
        seq=proposal.seq,
        options=[{"kind": o.kind.value, "amount": str(o.amount), "description": o.description} for o in checked],
    )
    jobs.enqueue(session, "disputes.notify_proposal", {"proposal_id": str(proposal.id)})
    return proposal


RESPONSES = ("accept", "counter", "decline")


async def respond_to_proposal(
    session: AsyncSession,
    principal: Principal,
    proposal_id: uuid.UUID,
    response: str,
    *,
    option_id: uuid.UUID | None = None,
    note: str | None = None,
    counter_amount: Decimal | str | None = None,
    on_behalf_of: str | None = None,
    version: int | None = None,
) -> Proposal:
    """The buyer accepts one option, counters, or declines.

    A buyer contact answers for itself (the portal); the supplier's people record an answer the
    buyer gave by phone or e-mail, naming who gave it (`on_behalf_of`).
    """
    if response not in RESPONSES:
        raise ValidationFailed(_("Answer accept, counter or decline."), field="response")
    disputes = DisputeRepository(session)
    found = await disputes.proposal(proposal_id)
    if found is None:
        raise NotFound(_("Not found."))
    if principal.kind is PrincipalKind.BUYER_CONTACT:
        case = await disputes.get(found.case_id, for_update=True)
        # A contact answers for its own buyer only; another buyer's proposal does not exist for it.
        if case is None or await BuyerRepository(session).contact(case.buyer_id, principal.id) is None:
            raise NotFound(_("Not found."))
        responder = principal.display_name or principal.label
    else:
        case = await _case_for_change(session, principal, found.case_id, version, Permission.WORK_DISPUTES)
        buyer_person = _text(on_behalf_of, "on_behalf_of", required=_("Name who at the buyer gave this answer."), limit=200)
        responder = _("%(buyer)s (recorded by %(person)s)") % {
            "buyer": buyer_person,
            "person": principal.display_name or principal.label,
        }
    proposal = await disputes.proposal(proposal_id, for_update=True)
    if proposal.status is not ProposalStatus.OFFERED or case.state is not DisputeState.NEGOTIATING:
        raise Conflict(_("This proposal is no longer open for an answer."), field="proposal")
    before = case_view(case)
    proposal.responded_by, proposal.responded_at = str(responder), utcnow()
    proposal.response_note = _text(note, "note")
    if response == "accept":
        option = await disputes.option(option_id) if option_id else None
        if option is None or option.proposal_id != proposal.id:
            raise ValidationFailed(_("Choose one of the proposal's options."), field="option_id")
        proposal.status, proposal.accepted_option_id = ProposalStatus.ACCEPTED, option.id
        _move(case, DisputeState.AGREED)
        case.agreed_option_id = option.id
        _set_phase(case, DisputePhase.LATE)
    elif response == "counter":
        proposal.response_note = _text(note, "note", required=_("Say what the buyer asks for instead."))
        if counter_amount not in (None, ""):
            amount = _money(counter_amount, case.currency, "counter_amount")
            held = sum((entry.held for entry in await _held_invoices(session, case)), ZERO)
            if amount > held:
                raise ValidationFailed(
                    _("A counter-proposal asks for at most what is still in dispute (%(held)s)."),
                    field="counter_amount",
                    params={"held": _shown(held, case.currency)},
                )
            proposal.counter_amount = amount
        proposal.status = ProposalStatus.COUNTERED
    else:
        proposal.status = ProposalStatus.DECLINED
    _touch(case)
    await session.flush()
    _log(
        session,
        principal,
        case,
        "proposal_answered",
        before=before,
        after=case_view(case),
        proposal_id=str(proposal.id),
        response=response,
        option_id=str(proposal.accepted_option_id) if proposal.accepted_option_id else None,
        by=str(responder),
        note=proposal.response_note,
        counter_amount=str(proposal.counter_amount) if proposal.counter_amount is not None else None,
    )
    return proposal


# --- resolution: carrying out the agreement, four eyes above the threshold -------------------------


@dataclass(frozen=True)
class Resolution:
    outcome: Outcome | str
    root_cause_code: str
    note: str | None = None


@dataclass
class ResolveResult:
    case: DisputeCase
    approval: Approval | None  # set when the ledger effect waits for a second person


def _ledger_effect(option: ProposalOption) -> tuple[Decimal, Decimal]:
    """(credited, written off) by carrying out `option`."""
    if option.kind in (OptionKind.CREDIT_NOTE, OptionKind.DISCOUNT, OptionKind.PRICE_CORRECTION):
        return option.amount, ZERO
    if option.kind is OptionKind.WRITE_OFF:
        return ZERO, option.amount
    return ZERO, ZERO


def suggested_outcome(details: CaseDetails) -> Outcome:
    """What the accepted option says about the dispute, as the resolve form's first choice: rejected
    or paid on a schedule, it was not valid; replaced, or credited in full, it was; credited in part, partly."""
    option = details.accepted_option
    if option is None or option.kind in (OptionKind.REJECTION, OptionKind.INSTALMENTS):
        return Outcome.INVALID
    if option.kind is OptionKind.REDELIVERY or option.amount >= details.held:
        return Outcome.VALID
    return Outcome.PARTLY_VALID


async def _checked_resolution(session: AsyncSession, resolution: Resolution) -> dict:
    try:
        outcome = Outcome(resolution.outcome)
    except ValueError:
        raise ValidationFailed(_("The outcome is valid, partly_valid or invalid."), field="outcome") from None
    root_cause = await _check_code(session, CodeKind.ROOT_CAUSE, resolution.root_cause_code, "root_cause_code")
    return {"outcome": outcome.value, "root_cause_code": root_cause, "note": _text(resolution.note, "note")}


async def resolve_case(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, resolution: Resolution, *, version: int | None = None
) -> ResolveResult:
    """Carry out the accepted option and close the case, or (credit or write-off above the tenant's
    threshold, or asked by someone without the approving role) ask a second person to approve it."""
    case = await _case_for_change(session, principal, case_id, version, Permission.WORK_DISPUTES)
    check_move(case.state, DisputeState.RESOLVED)
    option = await DisputeRepository(session).option(case.agreed_option_id) if case.agreed_option_id else None
    if option is None:
        raise Conflict(_("The case has no accepted option to carry out."), field="state")
    checked = await _checked_resolution(session, resolution)
    credit, write_off = _ledger_effect(option)
    disputes = DisputeRepository(session)
    if credit + write_off > 0:
        if any(a.status is ApprovalStatus.PENDING for a in await disputes.approvals(case.id)):
            raise Conflict(_("This case already waits for approval."), field="approval")
        threshold = approval_threshold(await dispute_settings(session), case.currency)
        # What the case was credited or written off before (a reopened case) counts too: a credit
        # cut into slices below the threshold still needs four eyes once the slices add up above it.
        settled_before = case.credited_amount + case.written_off_amount
        if settled_before + credit + write_off > threshold or not can(principal, Permission.APPROVE_LEDGER):
            if principal.kind is not PrincipalKind.USER:
                # Four eyes compare two people; an organisation key is no one, so its holder could approve it.
                raise Conflict(
                    _(
                        "This credit or write-off needs a second person's approval, so a person must ask for it: "
                        "resolve the case in the console or with your personal API key."
                    ),
                    field="approval",
                )
            approval = Approval(
                case_id=case.id,
                status=ApprovalStatus.PENDING,
                currency=case.currency,
                credit_amount=credit,
                write_off_amount=write_off,
                resolution=checked,
                requested_by_user_id=principal.id,  # a person: anyone else was refused above
                requested_by=principal.label,
            )
            session.add(approval)
            _touch(case)
            await session.flush()
            _log(
                session,
                principal,
                case,
                "approval_requested",
                approval_id=str(approval.id),
                credit=str(credit),
                write_off=str(write_off),
                threshold=str(threshold),
            )
            return ResolveResult(case, approval)
    await _carry_out(session, principal, case, option, checked)
    return ResolveResult(case, None)


async def decide_approval(
    session: AsyncSession,
    principal: Principal,
    approval_id: uuid.UUID,
    *,
    approve: bool,
    note: str | None = None,
    version: int | None = None,
) -> Approval:
    """The second pair of eyes: someone with the approving role, never the person who asked."""
    require(principal, Permission.APPROVE_LEDGER)
    disputes = DisputeRepository(session)
    found = await disputes.approval(approval_id)
    if found is None:
        raise NotFound(_("Not found."))
    case = await _case_for_change(session, principal, found.case_id, None, Permission.APPROVE_LEDGER)
    approval = await disputes.approval(approval_id, for_update=True)
    if version is not None and version != approval.version:
        raise Conflict(_("Someone else decided on this approval; reload it."), field="version")
    if approval.status is not ApprovalStatus.PENDING:
        raise Conflict(
            _("This approval was already decided by %(person)s."), field="approval", params={"person": approval.decided_by or ""}
        )
    if principal.kind is not PrincipalKind.USER:
        # An organisation's key is no second person: whoever holds it may be the one who asked.
        raise Conflict(
            _(
                "Four eyes: an approval is given by a person, signed in or with their personal API key, not by an organisation key."
            ),
            field="approval",
        )
    if approval.requested_by_user_id == principal.id or approval.requested_by == principal.label:
        raise Conflict(_("Four eyes: the person who asked for a credit or write-off cannot approve it."), field="approval")
    note = _text(note, "note")
    if not approve and not note:
        raise ValidationFailed(_("Say why you refuse; the requester reads it."), field="note")
    approval.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REFUSED
    approval.decided_by_user_id, approval.decided_by, approval.decided_at = principal.id, principal.label, utcnow()
    approval.decision_note = note
    _touch(case)
    await session.flush()
    _log(
        session,
        principal,
        case,
        "approval_approved" if approve else "approval_refused",
        approval_id=str(approval.id),
        note=note,
    )
    if approve:
        option = await disputes.option(case.agreed_option_id) if case.agreed_option_id else None
        if option is None or case.state is not DisputeState.AGREED:
            raise Conflict(_("The case is no longer agreed; its agreement cannot be carried out."), field="state")
        await _carry_out(session, principal, case, option, approval.resolution)
    return approval


async def _carry_out(
    session: AsyncSession, principal: Principal, case: DisputeCase, option: ProposalOption, resolution: dict
) -> None:
    """Write the agreement to the ledger, settle the items, close the case and release what it held."""
    before = case_view(case)
    entries: list[dict] = []
    # The ledger entries below go out earliest due first; the locks are taken first, in id order, and
    # what is held is read under them (a payment that landed meanwhile is counted, never raced).
    await holds.lock_invoices(session, await _invoice_ids(session, case))
    invoices = await _held_invoices(session, case)
    if option.kind in MONEY_OPTIONS:
        entries = await _settle_items(session, principal, case, option, invoices)
    elif option.kind is OptionKind.INSTALMENTS:
        for seq, instalment in enumerate(option.schedule, start=1):
            session.add(
                Instalment(
                    case_id=case.id,
                    seq=seq,
                    due_on=date.fromisoformat(instalment["due_on"]),
                    amount=Decimal(instalment["amount"]),
                    status="due",
                )
            )
    credited, written_off = _ledger_effect(option)
    paid_during_case = sum((entry.disputed - entry.held for entry in invoices), ZERO)
    case.credited_amount += credited
    case.written_off_amount += written_off
    case.collected_amount = max(ZERO, paid_during_case)
    case.outcome = Outcome(resolution["outcome"])
    case.root_cause_code = resolution["root_cause_code"]
    case.resolution_note = resolution.get("note")
    _move(case, DisputeState.RESOLVED)
    await _wind_down(session, principal, case)
    await session.flush()
    await holds.rehold(session, [entry.invoice.id for entry in invoices])
    _log(
        session,
        principal,
        case,
        "resolved",
        before=before,
        after=case_view(case),
        option=option.kind.value,
        amount=str(option.amount),
        entries=entries or None,
        instalments=len(option.schedule) or None,
        outcome=case.outcome.value,
        root_cause_code=case.root_cause_code,
    )


async def _settle_items(
    session: AsyncSession, principal: Principal, case: DisputeCase, option: ProposalOption, invoices: list[HeldInvoice]
) -> list[dict]:
    """Spread the option's amount over the disputed items (earliest due invoice first), one document per invoice."""
    kind = {
        OptionKind.CREDIT_NOTE: EntryKind.CREDIT_NOTE,
        OptionKind.DISCOUNT: EntryKind.CREDIT_NOTE,
        OptionKind.WRITE_OFF: EntryKind.WRITE_OFF,
        OptionKind.PRICE_CORRECTION: EntryKind.ADJUSTMENT,
    }[option.kind]
    left = option.amount
    entries = []
    for entry in invoices:
        share = min(left, entry.held)
        if share <= 0:
            continue
        left -= share
        item_left = share
        for item, _line in entry.items:
            part = min(item_left, item.amount - item.settled_amount)
            item.settled_amount += part
            item_left -= part
        await session.flush()
        reason = f"{case.number}: {option.description or option.kind.value}"[:500]
        recorded = await ledger.record_settlement(
            session,
            principal,
            kind,
            entry.invoice.id,
            amount=-share if kind is EntryKind.ADJUSTMENT else share,
            reason=reason,
            entry_date=None,
            document_number=None,
        )
        recorded.dispute_case_id = case.id  # what settled this case, never counted for another
        entries.append(
            {
                "kind": kind.value,
                "document_number": recorded.document_number,
                "invoice": entry.invoice.number,
                "amount": str(share),
            }
        )
    if left > 0:
        raise Conflict(
            _("Only %(held)s of the agreed %(amount)s is still open on the case's invoices; make a new proposal."),
            field="amount",
            params={"held": _shown(option.amount - left, case.currency), "amount": _shown(option.amount, case.currency)},
        )
    return entries


async def check_settled(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> bool:
    """Close a case in progress whose disputed items are paid or credited in full (the job after a ledger entry)."""
    case = await DisputeRepository(session).get(case_id, for_update=True)
    if case is None or case.state not in ACTIVE_STATES:
        return False
    invoices = await _held_invoices(session, case)
    if any(entry.held > 0 for entry in invoices):
        return False
    before = case_view(case)
    if case.state is DisputeState.AGREED:
        await _drop_pending_approvals(session, principal, case, DisputeState.RESOLVED)
    # What took the disputed part off each invoice since the case opened: a credit note, downward
    # adjustment or write-off answers the dispute first; the rest of it was paid.
    # Only entries no case's resolution wrote (those are counted by their case), since the case last opened.
    disputes = DisputeRepository(session)
    opened = await disputes.last_reopened_at(case.id) or case.created_at
    since = await disputes.ledger_since([entry.invoice.id for entry in invoices], opened)
    collected = ZERO
    for entry in invoices:
        by_kind = since.get(entry.invoice.id, {})
        credits = by_kind.get(EntryKind.CREDIT_NOTE, ZERO) - min(ZERO, by_kind.get(EntryKind.ADJUSTMENT, ZERO))
        credit = min(entry.disputed, credits)
        written_off = min(entry.disputed - credit, by_kind.get(EntryKind.WRITE_OFF, ZERO))
        case.credited_amount += credit
        case.written_off_amount += written_off
        collected += entry.disputed - credit - written_off
    credited = case.credited_amount + case.written_off_amount
    case.collected_amount = max(ZERO, collected)
    case.outcome = Outcome.INVALID if credited == 0 else (Outcome.VALID if collected == 0 else Outcome.PARTLY_VALID)
    case.state = DisputeState.RESOLVED  # every state in progress may end this way: nothing is left to dispute
    case.state_changed_at = case.closed_at = utcnow()
    await _wind_down(session, principal, case)
    await session.flush()
    await holds.rehold(session, [entry.invoice.id for entry in invoices])
    _log(session, principal, case, "closed_settled", before=before, after=case_view(case), collected=str(case.collected_amount))
    return True


# --- what happens outside Accord: a card network's chargeback (backend.payments.chargebacks) -------

KEEP_DEADLINE = object()  # note_external leaves the case's hard deadline as it is


async def note_external(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    kind: str,
    *,
    hard_deadline_at: datetime | object | None = KEEP_DEADLINE,
    **data,
) -> DisputeCase:
    """A fact about the case from outside Accord (Stripe's, on a chargeback) on its timeline and in the
    audit trail; it may move the calendar deadline that is not the tenant's to move (the evidence due date)."""
    case = await _case_for_change(session, principal, case_id, None, Permission.WORK_DISPUTES)
    before = {"hard_deadline_at": case.hard_deadline_at.isoformat() if case.hard_deadline_at else None}
    if hard_deadline_at is not KEEP_DEADLINE and case.hard_deadline_at != hard_deadline_at:
        case.hard_deadline_at = hard_deadline_at
        await session.flush()
    after = {"hard_deadline_at": case.hard_deadline_at.isoformat() if case.hard_deadline_at else None, **data}
    _log(session, principal, case, kind, before=before, after=after, **data)
    return case


async def close_on_external_decision(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    kind: str,
    *,
    outcome: Outcome,
    note: str,
    collected: Decimal = ZERO,
    **data,
) -> DisputeCase | None:
    """A decision taken outside Accord ends the case in progress (the card network's ruling on a
    chargeback): resolved with that outcome, what it held released, nothing left open behind it. A case
    the team already closed stays as it is (None)."""
    case = await _case_for_change(session, principal, case_id, None, Permission.WORK_DISPUTES)
    if case.state not in ACTIVE_STATES:
        return None
    before = case_view(case)
    if case.state is DisputeState.AGREED:
        await _drop_pending_approvals(session, principal, case, DisputeState.RESOLVED)
    case.outcome = outcome
    case.resolution_note = _text(note, "note")
    case.collected_amount = collected
    case.hard_deadline_at = None
    case.state = DisputeState.RESOLVED  # every state in progress may end this way: the decision is not ours
    case.state_changed_at = case.closed_at = utcnow()
    await _wind_down(session, principal, case)
    await session.flush()
    await holds.rehold(session, await _invoice_ids(session, case))
    _log(session, principal, case, kind, before=before, after=case_view(case), outcome=outcome.value, **data)
    return case


# --- around the case: similar cases, the buyer's profile -----------------------------------------


@dataclass
class SimilarCases:
    of_buyer: Sequence[DisputeCase]
    same_reason_and_product: Sequence[tuple[DisputeCase, str]]
    skus: list[str]


async def similar_cases(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> SimilarCases:
    """This buyer's earlier cases, and closed cases with the same reason and product (the knowledge base)."""
    case = await get_case(session, principal, case_id)
    disputes = DisputeRepository(session)
    items = await disputes.items_with_invoices(case.id)
    whole = {invoice.id for _item, invoice, line in items if line is None}
    lines = [line for _item, _invoice, line in items if line is not None] + list(await disputes.lines_of_invoices(whole))
    skus = {line.sku for line in lines if line.sku}
    return SimilarCases(
        of_buyer=await disputes.of_buyer(case.buyer_id, exclude=case.id),
        same_reason_and_product=await disputes.similar_closed(case, skus),
        skus=sorted(skus),
    )


@dataclass
class BuyerProfile:
    buyer: Buyer
    balances: list
    cases_total: int
    cases_in_progress: int
    disputed_by_currency: dict[str, Decimal]
    settled_by_currency: dict[str, Decimal]  # credited or written off
    reasons: dict[str, int]
    days_beyond_terms: Decimal | None


async def buyer_profile(session: AsyncSession, principal: Principal, buyer_id: uuid.UUID) -> BuyerProfile:
    """What the case page shows beside the case: balance, dispute history, payment behaviour."""
    from backend.invoices import statements

    require(principal, Permission.READ_LEDGER)
    buyer = await BuyerRepository(session).get(buyer_id)
    if buyer is None:
        raise NotFound(_("Not found."))
    rows = await DisputeRepository(session).buyer_history(buyer_id)
    disputed: dict[str, Decimal] = {}
    settled: dict[str, Decimal] = {}
    reasons: dict[str, int] = {}
    total = in_progress = 0
    for state, reason, currency, count, amount, credited in rows:
        total += count
        in_progress += count if state in ACTIVE_STATES else 0
        disputed[currency] = disputed.get(currency, ZERO) + Decimal(amount)
        settled[currency] = settled.get(currency, ZERO) + Decimal(credited)
        reasons[reason] = reasons.get(reason, 0) + count
    statement = await statements.statement_of_account(session, principal, buyer_id)
    figures = statement.figures(buyer.currency)
    return BuyerProfile(
        buyer=buyer,
        balances=await ledger.buyer_balances(session, principal, buyer_id),
        cases_total=total,
        cases_in_progress=in_progress,
        disputed_by_currency=disputed,
        settled_by_currency=settled,
        reasons=dict(sorted(reasons.items(), key=lambda r: -r[1])),
        days_beyond_terms=figures.days_beyond_terms if figures else None,
    )


async def cases_of_invoice(session: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> Sequence[DisputeCase]:
    await ledger.get_invoice(session, principal, invoice_id)
    return await DisputeRepository(session).cases_of_invoice(invoice_id)


# --- what the buyer sees --------------------------------------------------------------------------


@dataclass
class BuyerCaseView:
    """A case as its buyer sees it: never an internal note, task, checklist, approval, internal event or
    the team's own evidence; the buyer's evidence and the attachments of the messages it may read."""

    case: DisputeCase
    invoices: list[HeldInvoice]
    evidence: Sequence[StoredFile]
    events: Sequence[DisputeEvent]
    messages: Sequence[tuple[DisputeMessage, Sequence[StoredFile]]]
    proposals: list[tuple[Proposal, Sequence[ProposalOption]]]
    instalments: Sequence[Instalment]

    @property
    def held(self) -> Decimal:
        return sum((entry.held for entry in self.invoices), ZERO) if self.case.state in ACTIVE_STATES else ZERO

    @property
    def open_questions(self) -> list[tuple[DisputeMessage, Sequence[StoredFile]]]:
        """The team's questions still waiting for the buyer's answer, oldest first (none once the case is closed)."""
        if self.case.state not in ACTIVE_STATES:
            return []
        return [(m, files) for m, files in self.messages if m.question and m.answered_at is None]

    @property
    def open_proposal(self) -> tuple[Proposal, Sequence[ProposalOption]] | None:
        """The offer the buyer may still accept, counter or decline."""
        if self.case.state is not DisputeState.NEGOTIATING:
            return None
        return next(((p, o) for p, o in self.proposals if p.status is ProposalStatus.OFFERED), None)

    @property
    def agreement(self) -> tuple[Proposal, ProposalOption] | None:
        """The option the buyer accepted, while it stands (an agreement that fell through is none)."""
        for proposal, options in self.proposals:
            for option in options:
                if option.id == self.case.agreed_option_id:
                    return proposal, option
        return None

    @property
    def settlement(self) -> list[dict]:
        """The ledger entries (credit notes, write-offs, adjustments) the agreement was carried out with."""
        for event in reversed(self.events):
            if event.kind == "resolved":
                return list((event.data or {}).get("entries") or [])
        return []


async def buyer_case_view(session: AsyncSession, buyer_id: uuid.UUID, case_id: uuid.UUID) -> BuyerCaseView:
    """The case for the buyer's own people (portal, e-mail): 404 for any other buyer's case."""
    disputes = DisputeRepository(session)
    case = await disputes.get(case_id)
    if case is None or case.buyer_id != buyer_id:
        raise NotFound(_("Not found."))
    messages = await disputes.messages(case.id, external_only=True)
    attachments = await disputes.files_of(MESSAGE_FILE, [m.id for m in messages])
    proposals = await disputes.proposals(case.id)
    options = await disputes.options([p.id for p in proposals])
    return BuyerCaseView(
        case=case,
        invoices=await _held_invoices(session, case),
        evidence=await disputes.files_of(BUYER_EVIDENCE_FILE, [case.id]),
        events=await disputes.events(case.id, external_only=True),
        messages=[(m, [f for f in attachments if f.owner_id == m.id]) for m in messages],
        proposals=[(p, [o for o in options if o.proposal_id == p.id]) for p in proposals],
        instalments=await disputes.instalments(case.id),
    )
