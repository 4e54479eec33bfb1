"""Dispute cases: what the buyer disputes, how the team evaluates it, what is offered and agreed, how it ends.

A case holds part of one buyer's receivables out of collection (its items); the invoices'
`disputed_amount` is kept from the items of the cases still in progress by `backend.disputes.holds`.
Every change to a case goes through `backend.disputes.service` and lands on the case's timeline
(`DisputeEvent`) and in the audit trail.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Model, TenantOwned, new_id, utcnow
from backend.i18n import _, p_
from backend.invoices.models import AMOUNT, _enum


class DisputeState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    UNDER_REVIEW = "under_review"
    NEGOTIATING = "negotiating"
    AGREED = "agreed"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    ESCALATED_LEGAL = "escalated_legal"
    ESCALATED_CLAIM = "escalated_claim"


# A case in one of these holds its disputed amount out of collection.
ACTIVE_STATES = frozenset(
    {
        DisputeState.OPEN,
        DisputeState.ACKNOWLEDGED,
        DisputeState.UNDER_REVIEW,
        DisputeState.NEGOTIATING,
        DisputeState.AGREED,
        DisputeState.ESCALATED_LEGAL,
        DisputeState.ESCALATED_CLAIM,
    }
)
CLOSED_STATES = frozenset(DisputeState) - ACTIVE_STATES


class DisputePhase(enum.StrEnum):
    """The seeds' three negotiation phases: keep the relationship, reach consensus, carry out the agreement."""

    EARLY = "early"
    MIDDLE = "middle"
    LATE = "late"


class Channel(enum.StrEnum):
    PORTAL = "portal"
    EMAIL = "email"
    PHONE = "phone"
    API = "api"
    CARD = "card"  # a chargeback on the supplier's Stripe account (backend.payments.chargebacks)


class Outcome(enum.StrEnum):
    VALID = "valid"
    PARTLY_VALID = "partly_valid"
    INVALID = "invalid"


class OptionKind(enum.StrEnum):
    CREDIT_NOTE = "credit_note"  # full or partial
    DISCOUNT = "discount"  # a credit note named as a goodwill discount
    REDELIVERY = "redelivery"  # replace or re-deliver; the amount stays payable
    PRICE_CORRECTION = "price_correction"  # the invoice adjusted down to the corrected price (re-bill)
    INSTALMENTS = "instalments"  # the amount stays payable on a schedule
    WRITE_OFF = "write_off"
    REJECTION = "rejection"  # the dispute is not accepted: the amount stands


# Options whose amount is credited, discounted, corrected or written off; the others carry none.
MONEY_OPTIONS = frozenset({OptionKind.CREDIT_NOTE, OptionKind.DISCOUNT, OptionKind.PRICE_CORRECTION, OptionKind.WRITE_OFF})


class ProposalStatus(enum.StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    COUNTERED = "countered"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CANCELLED = "cancelled"


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class CodeKind(enum.StrEnum):
    REASON = "reason"
    ROOT_CAUSE = "root_cause"


STATE_LABELS = {
    DisputeState.OPEN: p_("dispute state", "Open"),
    DisputeState.ACKNOWLEDGED: _("Acknowledged"),
    DisputeState.UNDER_REVIEW: _("Under review"),
    DisputeState.NEGOTIATING: _("Negotiating"),
    DisputeState.AGREED: _("Agreed"),
    DisputeState.RESOLVED: _("Resolved"),
    DisputeState.REJECTED: _("Rejected"),
    DisputeState.WITHDRAWN: _("Withdrawn"),
    DisputeState.ESCALATED_LEGAL: _("Escalated to legal"),
    DisputeState.ESCALATED_CLAIM: _("Escalated to claim"),
}
PHASE_LABELS = {
    DisputePhase.EARLY: _("Early: keep the relationship"),
    DisputePhase.MIDDLE: _("Middle: reach consensus"),
    DisputePhase.LATE: _("Late: carry out the agreement"),
}
CHANNEL_LABELS = {
    Channel.PORTAL: _("Buyer portal"),
    Channel.EMAIL: _("E-mail"),
    Channel.PHONE: _("Phone"),
    Channel.API: _("API"),
    Channel.CARD: _("Card chargeback"),
}
OUTCOME_LABELS = {
    Outcome.VALID: _("Valid"),
    Outcome.PARTLY_VALID: _("Partly valid"),
    Outcome.INVALID: _("Invalid"),
}
OPTION_LABELS = {
    OptionKind.CREDIT_NOTE: _("Credit note"),
    OptionKind.DISCOUNT: _("Discount"),
    OptionKind.REDELIVERY: _("Re-delivery or replacement"),
    OptionKind.PRICE_CORRECTION: _("Price correction and re-bill"),
    OptionKind.INSTALMENTS: _("Instalment plan"),
    OptionKind.WRITE_OFF: _("Write-off"),
    OptionKind.REJECTION: _("Dispute rejected"),
}
PROPOSAL_LABELS = {
    ProposalStatus.OFFERED: _("Offered"),
    ProposalStatus.ACCEPTED: _("Accepted"),
    ProposalStatus.COUNTERED: _("Countered"),
    ProposalStatus.DECLINED: _("Declined"),
    ProposalStatus.WITHDRAWN: _("Withdrawn"),
}
TASK_LABELS = {
    TaskStatus.OPEN: p_("task status", "Open"),
    TaskStatus.ANSWERED: _("Answered"),
    TaskStatus.CANCELLED: _("Cancelled"),
}
APPROVAL_LABELS = {
    ApprovalStatus.PENDING: _("Waiting for approval"),
    ApprovalStatus.APPROVED: _("Approved"),
    ApprovalStatus.REFUSED: _("Refused"),
}


def _tenant_fk(columns: list[str], table: str, ondelete: str = "CASCADE") -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", *columns], [f"{table}.tenant_id", *(f"{table}.id" for _c in columns)], ondelete=ondelete
    )


class DisputeSettings(TenantOwned, Model):
    """One row per tenant, written the first time the tenant changes a default or opens a case."""

    __tablename__ = "dispute_settings"

    # Credit notes and write-offs above this (per currency) need a second person's approval;
    # a currency not listed needs approval for any amount.
    approval_thresholds: Mapped[dict] = mapped_column(JSON, default=dict)
    # Days without agreement after which a case is put forward for legal collection or a claim.
    escalation_days: Mapped[int] = mapped_column(Integer, default=90)
    # Where a case without agreement after `escalation_days` is put forward: legal | claim.
    escalation_route: Mapped[str] = mapped_column(String(8), default="legal")
    # Service levels, in business days on the tenant's calendar (backend.disputes.timers).
    acknowledge_days: Mapped[int] = mapped_column(Integer, default=2)
    evaluate_days: Mapped[int] = mapped_column(Integer, default=10)
    respond_days: Mapped[int] = mapped_column(Integer, default=3)
    agree_days: Mapped[int] = mapped_column(Integer, default=30)
    phase_early_days: Mapped[int] = mapped_column(Integer, default=10)
    phase_middle_days: Mapped[int] = mapped_column(Integer, default=20)
    phase_late_days: Mapped[int] = mapped_column(Integer, default=30)
    # Calendar days before a hard deadline (a chargeback's evidence due date, an insurer's) the owner is told.
    deadline_notice_days: Mapped[int] = mapped_column(Integer, default=3)
    # Business days an instalment may stay unpaid after its due date before it counts as missed.
    instalment_grace_days: Mapped[int] = mapped_column(Integer, default=3)
    next_case_number: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DisputeCode(TenantOwned, Model):
    """The tenant's list of reason codes or of root causes (defaults until the tenant edits one)."""

    __tablename__ = "dispute_codes"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "code"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[CodeKind] = mapped_column(_enum(CodeKind, 16))
    code: Mapped[str] = mapped_column(String(40))
    label_en: Mapped[str] = mapped_column(String(120))
    label_zh: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class RoutingRule(TenantOwned, Model):
    """Who owns a new case: the first active rule (by position) that matches reason, buyer and amount.

    A rule names one owner, or a pool the cases go round in turn (`next_in_pool` is the turn).
    """

    __tablename__ = "dispute_routing_rules"
    __table_args__ = (
        _tenant_fk(["buyer_id"], "buyers"),
        ForeignKeyConstraint(["owner_user_id"], ["users.id"], ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(120))
    reason_code: Mapped[str | None] = mapped_column(String(40))
    buyer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    min_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)
    currency: Mapped[str | None] = mapped_column(String(3))
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    pool: Mapped[list] = mapped_column(JSON, default=list)  # user ids, as strings
    next_in_pool: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DisputeCase(TenantOwned, Model):
    __tablename__ = "dispute_cases"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        _tenant_fk(["buyer_id"], "buyers", "RESTRICT"),
        ForeignKeyConstraint(["owner_user_id"], ["users.id"], ondelete="RESTRICT"),
        Index("ix_dispute_cases_tenant_id_state_opened_on", "tenant_id", "state", "opened_on"),
        Index("ix_dispute_cases_tenant_id_buyer_id", "tenant_id", "buyer_id"),
        Index("ix_dispute_cases_tenant_id_owner_user_id", "tenant_id", "owner_user_id"),
        # The escalation sweep's one range scan across tenants (like a token look-up, not led by
        # tenant_id): only cases with a timer to watch are in it, and it carries the keys the sweep
        # reads, so the scan never visits the table.
        Index(
            "ix_dispute_cases_next_timer_at",
            "next_timer_at",
            postgresql_include=["tenant_id", "id"],
            postgresql_where=text("next_timer_at IS NOT NULL"),
            sqlite_where=text("next_timer_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32))
    buyer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[DisputeState] = mapped_column(_enum(DisputeState), default=DisputeState.OPEN)
    phase: Mapped[DisputePhase] = mapped_column(_enum(DisputePhase, 8), default=DisputePhase.EARLY)
    reason_code: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, 16))
    opened_on: Mapped[date] = mapped_column(Date)  # the day the buyer raised it
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    # What the buyer disputed, at registration; what is still held is computed from the items.
    disputed_amount: Mapped[Decimal] = mapped_column(AMOUNT)
    credited_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    written_off_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    collected_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, 16))
    root_cause_code: Mapped[str | None] = mapped_column(String(40))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    agreed_option_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    phase_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    # A deadline in calendar time that is not the tenant's to move (Stripe's evidence due date, an insurer's).
    hard_deadline_at: Mapped[datetime | None]
    # The earliest step of the case's timers still to come, and its timer (kept by backend.disputes.timers).
    next_timer_at: Mapped[datetime | None]
    next_timer: Mapped[str | None] = mapped_column(String(16))
    # The sweep queued the case's job and queues no other until then; how often in a row it queued one
    # that did not run (the job resets both): the sweep gives up on the case after a few.
    timer_queued_until: Mapped[datetime | None]
    timer_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # legal | claim: put forward to the team after the escalation day without agreement; the team decides.
    escalation_proposal: Mapped[str | None] = mapped_column(String(8))
    plan_broken_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class TimerStep(TenantOwned, Model):
    """One step of a case's timer that has been taken (or passed over, superseded by a later one):
    the unique key makes a repeated sweep or a redelivered job do it once."""

    __tablename__ = "dispute_timer_steps"
    __table_args__ = (
        UniqueConstraint("tenant_id", "case_id", "timer", "anchor", "step"),
        _tenant_fk(["case_id"], "dispute_cases"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    timer: Mapped[str] = mapped_column(String(16))
    # What started the timer (a buyer's message, an instalment, the phase entered): a new anchor is a new timer.
    anchor: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(24))
    due_at: Mapped[datetime]
    taken_at: Mapped[datetime]
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)


class DisputeItem(TenantOwned, Model):
    """What is disputed on one invoice: the whole of it, or one line, for an amount."""

    __tablename__ = "dispute_items"
    __table_args__ = (
        _tenant_fk(["case_id"], "dispute_cases"),
        _tenant_fk(["invoice_id"], "invoices", "RESTRICT"),
        _tenant_fk(["invoice_line_id"], "invoice_lines", "RESTRICT"),
        Index("ix_dispute_items_tenant_id_invoice_id", "tenant_id", "invoice_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    invoice_line_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    # Credited or written off against this item by the case's resolution.
    settled_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))


class DisputeEvent(TenantOwned, Model):
    """One step on a case's timeline. `external` events are the ones a buyer may see."""

    __tablename__ = "dispute_events"
    __table_args__ = (
        _tenant_fk(["case_id"], "dispute_cases"),
        Index("ix_dispute_events_tenant_id_case_id_at", "tenant_id", "case_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(320))
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DisputeMessage(TenantOwned, Model):
    """The case's thread: messages the buyer sees, and internal notes the buyer never sees."""

    __tablename__ = "dispute_messages"
    __table_args__ = (
        _tenant_fk(["case_id"], "dispute_cases"),
        Index("ix_dispute_messages_tenant_id_case_id_created_at", "tenant_id", "case_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    internal: Mapped[bool] = mapped_column(Boolean)
    author_kind: Mapped[str] = mapped_column(String(16))  # user | api_key | buyer_contact | system
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    author_name: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A question put to the buyer waits for their answer (a message of theirs that names it).
    question: Mapped[bool] = mapped_column(Boolean, default=False)
    answered_at: Mapped[datetime | None]
    answer_to_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class ChecklistAnswer(TenantOwned, Model):
    __tablename__ = "dispute_checklist_answers"
    __table_args__ = (UniqueConstraint("tenant_id", "case_id", "item"), _tenant_fk(["case_id"], "dispute_cases"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    item: Mapped[str] = mapped_column(String(40))
    answer: Mapped[str] = mapped_column(String(8))  # yes | no | unknown
    note: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str] = mapped_column(String(320))
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class DisputeTask(TenantOwned, Model):
    """A question for a colleague (sales, logistics, quality) with a due date, and their answer."""

    __tablename__ = "dispute_tasks"
    __table_args__ = (
        _tenant_fk(["case_id"], "dispute_cases"),
        ForeignKeyConstraint(["assignee_user_id"], ["users.id"], ondelete="RESTRICT"),
        Index("ix_dispute_tasks_tenant_id_assignee_user_id_status", "tenant_id", "assignee_user_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    team: Mapped[str] = mapped_column(String(16))  # sales | logistics | quality | finance | other
    assignee_user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    question: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus, 16), default=TaskStatus.OPEN)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(320))
    answered_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Proposal(TenantOwned, Model):
    """An offer to the buyer with one or more options; the buyer accepts one, counters, or declines."""

    __tablename__ = "dispute_proposals"
    __table_args__ = (UniqueConstraint("tenant_id", "case_id", "seq"), _tenant_fk(["case_id"], "dispute_cases"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[ProposalStatus] = mapped_column(_enum(ProposalStatus, 16), default=ProposalStatus.OFFERED)
    message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The buyer's answer: who (a contact, or the supplier's person who took it by phone), when, and what.
    responded_by: Mapped[str | None] = mapped_column(String(320))
    responded_at: Mapped[datetime | None]
    response_note: Mapped[str | None] = mapped_column(Text)
    counter_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)
    accepted_option_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class ProposalOption(TenantOwned, Model):
    __tablename__ = "dispute_proposal_options"
    __table_args__ = (
        UniqueConstraint("tenant_id", "proposal_id", "position"),
        _tenant_fk(["proposal_id"], "dispute_proposals"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    proposal_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[OptionKind] = mapped_column(_enum(OptionKind, 24))
    # Credited, discounted, corrected or written off (zero for re-delivery, instalments, rejection).
    amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    description: Mapped[str | None] = mapped_column(Text)
    # Instalments: [{"due_on": "2026-12-31", "amount": "1000.00"}, ...]
    schedule: Mapped[list] = mapped_column(JSON, default=list)


class Instalment(TenantOwned, Model):
    """One payment of an agreed instalment plan."""

    __tablename__ = "dispute_instalments"
    __table_args__ = (UniqueConstraint("tenant_id", "case_id", "seq"), _tenant_fk(["case_id"], "dispute_cases"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    seq: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    paid_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    status: Mapped[str] = mapped_column(String(16), default="due")  # due | paid | missed


class Approval(TenantOwned, Model):
    """Four eyes: the ledger effect of an agreement above the threshold waits for a second person."""

    __tablename__ = "dispute_approvals"
    __table_args__ = (
        _tenant_fk(["case_id"], "dispute_cases"),
        ForeignKeyConstraint(["requested_by_user_id"], ["users.id"], ondelete="RESTRICT"),
        ForeignKeyConstraint(["decided_by_user_id"], ["users.id"], ondelete="RESTRICT"),
        Index("ix_dispute_approvals_tenant_id_status", "tenant_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[ApprovalStatus] = mapped_column(_enum(ApprovalStatus, 16), default=ApprovalStatus.PENDING)
    currency: Mapped[str] = mapped_column(String(3))
    credit_amount: Mapped[Decimal] = mapped_column(AMOUNT)
    write_off_amount: Mapped[Decimal] = mapped_column(AMOUNT)
    # What resolving will record once approved: outcome, root cause, note.
    resolution: Mapped[dict] = mapped_column(JSON, default=dict)
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    requested_by: Mapped[str] = mapped_column(String(320))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    decided_by: Mapped[str | None] = mapped_column(String(320))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
