"""What the disputes API reads and writes. Amounts travel as decimal strings ("300.00"), as in the
ledger API; input takes strings or JSON numbers, decoded straight to Decimal."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar.datastructures import UploadFile

from backend.buyers.schemas import BuyerBalanceOut
from backend.disputes.codes import CHECKLIST
from backend.disputes.models import (
    ACTIVE_STATES,
    Approval,
    Channel,
    ChecklistAnswer,
    DisputeCase,
    DisputeEvent,
    DisputeMessage,
    DisputePhase,
    DisputeState,
    DisputeTask,
    OptionKind,
    Outcome,
    Proposal,
    ProposalOption,
)
from backend.disputes.service import (
    BUYER_EVIDENCE_FILE,
    BuyerProfile,
    CaseDetails,
    DisputableInvoice,
    HeldInvoice,
    ItemInput,
    NewCase,
    NewTask,
    OptionInput,
    Resolution,
    SimilarCases,
)
from backend.i18n import gettext
from backend.invoices.models import StoredFile
from backend.invoices.schemas import FileOut, Number, amount_text, checked_decimal

Text200 = Annotated[str, msgspec.Meta(max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=10_000)]
Code = Annotated[str, msgspec.Meta(max_length=40, description="One of the tenant's codes (see /api/v1/dispute-settings)")]
Version = Annotated[
    int,
    msgspec.Meta(
        ge=1, description="The case's `version` you last read; a change made since then answers 409 and changes nothing"
    ),
]

TaskVersion = Annotated[int, msgspec.Meta(ge=1, description="The task's `version` you last read")]
ApprovalVersion = Annotated[int, msgspec.Meta(ge=1, description="The approval's `version` you last read")]


# --- reading ---------------------------------------------------------------------------------


def _age_days(case: DisputeCase, today: dt.date) -> int:
    until = case.closed_at.date() if case.closed_at and case.state not in ACTIVE_STATES else today
    return max(0, (until - case.opened_on).days)


@dataclass
class CaseOut:
    id: uuid.UUID
    number: str
    buyer_id: uuid.UUID
    buyer_name: str | None
    state: str
    phase: str
    reason_code: str
    channel: str
    opened_on: dt.date
    age_days: int
    owner_user_id: uuid.UUID | None
    currency: str
    disputed_amount: str
    credited_amount: str
    written_off_amount: str
    collected_amount: str
    outcome: str | None
    root_cause_code: str | None
    state_changed_at: dt.datetime
    closed_at: dt.datetime | None
    version: int

    @classmethod
    def of(cls, case: DisputeCase, buyer_name: str | None = None) -> CaseOut:
        c = case.currency
        return cls(
            id=case.id,
            number=case.number,
            buyer_id=case.buyer_id,
            buyer_name=buyer_name,
            state=case.state.value,
            phase=case.phase.value,
            reason_code=case.reason_code,
            channel=case.channel.value,
            opened_on=case.opened_on,
            age_days=_age_days(case, dt.date.today()),
            owner_user_id=case.owner_user_id,
            currency=c,
            disputed_amount=amount_text(case.disputed_amount, c),
            credited_amount=amount_text(case.credited_amount, c),
            written_off_amount=amount_text(case.written_off_amount, c),
            collected_amount=amount_text(case.collected_amount, c),
            outcome=case.outcome.value if case.outcome else None,
            root_cause_code=case.root_cause_code,
            state_changed_at=case.state_changed_at,
            closed_at=case.closed_at,
            version=case.version,
        )


@dataclass
class CasePage:
    items: list[CaseOut]
    total: int
    limit: int
    offset: int


@dataclass
class CaseList:
    items: list[CaseOut]


@dataclass
class DisputedItemOut:
    id: uuid.UUID
    invoice_line_id: uuid.UUID | None
    line_no: int | None
    description: str | None
    amount: str
    settled_amount: str


@dataclass
class DisputedInvoiceOut:
    invoice_id: uuid.UUID
    invoice_number: str
    invoice_status: str
    due_date: dt.date
    gross_amount: str
    open_amount: str
    # What the case disputes on the invoice (less what its resolution settled), and what of that is
    # still open: held out of collection while the case is in progress.
    disputed_amount: str
    held_amount: str
    items: list[DisputedItemOut]

    @classmethod
    def of(cls, entry: HeldInvoice) -> DisputedInvoiceOut:
        invoice, c = entry.invoice, entry.invoice.currency
        return cls(
            invoice_id=invoice.id,
            invoice_number=invoice.number,
            invoice_status=invoice.status.value,
            due_date=invoice.due_date,
            gross_amount=amount_text(invoice.gross_amount, c),
            open_amount=amount_text(invoice.open_amount, c),
            disputed_amount=amount_text(entry.disputed, c),
            held_amount=amount_text(entry.held, c),
            items=[
                DisputedItemOut(
                    id=item.id,
                    invoice_line_id=item.invoice_line_id,
                    line_no=line.line_no if line else None,
                    description=line.description if line else None,
                    amount=amount_text(item.amount, c),
                    settled_amount=amount_text(item.settled_amount, c),
                )
                for item, line in entry.items
            ],
        )


@dataclass
class CaseFileOut(FileOut):
    # Evidence the buyer uploaded in the buyer portal (the buyer sees it); otherwise the team's own.
    from_buyer: bool = False


def case_file_out(stored: StoredFile, case_id: uuid.UUID) -> CaseFileOut:
    """An evidence file or attachment, downloaded only through its case."""
    base = FileOut.of(stored, f"/api/v1/disputes/{case_id}/files/{stored.id}")
    return CaseFileOut(**vars(base), from_buyer=stored.owner_type == BUYER_EVIDENCE_FILE)


@dataclass
class FileList:
    items: list[CaseFileOut]


@dataclass
class ApprovalOut:
    id: uuid.UUID
    case_id: uuid.UUID
    case_number: str | None
    status: str
    currency: str
    credit_amount: str
    write_off_amount: str
    # What resolving records once approved.
    outcome: str | None
    root_cause_code: str | None
    note: str | None
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    version: int

    @classmethod
    def of(cls, approval: Approval, case_number: str | None = None) -> ApprovalOut:
        c, resolution = approval.currency, approval.resolution or {}
        return cls(
            id=approval.id,
            case_id=approval.case_id,
            case_number=case_number,
            status=approval.status.value,
            currency=c,
            credit_amount=amount_text(approval.credit_amount, c),
            write_off_amount=amount_text(approval.write_off_amount, c),
            outcome=resolution.get("outcome"),
            root_cause_code=resolution.get("root_cause_code"),
            note=resolution.get("note"),
            requested_by=approval.requested_by,
            requested_at=approval.requested_at,
            decided_by=approval.decided_by,
            decided_at=approval.decided_at,
            decision_note=approval.decision_note,
            version=approval.version,
        )


@dataclass
class ApprovalList:
    items: list[ApprovalOut]


@dataclass
class CaseDetailOut(CaseOut):
    description: str
    created_by: str
    created_at: dt.datetime
    owner_name: str | None
    escalation_level: int
    resolution_note: str | None
    agreed_option_id: uuid.UUID | None
    # Held out of collection now (zero once the case is closed).
    held_amount: str
    invoices: list[DisputedInvoiceOut]
    evidence: list[CaseFileOut]
    allowed_moves: list[str]
    pending_approval: ApprovalOut | None

    @classmethod
    def of_details(cls, details: CaseDetails) -> CaseDetailOut:
        case = details.case
        pending = details.pending_approval
        return cls(
            **vars(CaseOut.of(case, details.buyer.legal_name if details.buyer else None)),
            description=case.description,
            created_by=case.created_by,
            created_at=case.created_at,
            owner_name=details.owner_name,
            escalation_level=case.escalation_level,
            resolution_note=case.resolution_note,
            agreed_option_id=case.agreed_option_id,
            held_amount=amount_text(details.held, case.currency),
            invoices=[DisputedInvoiceOut.of(entry) for entry in details.invoices],
            evidence=[case_file_out(f, case.id) for f in details.evidence],
            allowed_moves=[state.value for state in details.moves],
            pending_approval=ApprovalOut.of(pending, case.number) if pending else None,
        )


@dataclass
class EventOut:
    id: uuid.UUID
    kind: str
    actor: str
    # Whether the buyer may see this step (the rest are the team's own).
    external: bool
    at: dt.datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, event: DisputeEvent) -> EventOut:
        return cls(event.id, event.kind, event.actor, event.external, event.at, dict(event.data or {}))


@dataclass
class Timeline:
    items: list[EventOut]


@dataclass
class MessageOut:
    id: uuid.UUID
    case_id: uuid.UUID
    # An internal note is the team's own; the buyer never sees it.
    internal: bool
    author_kind: str
    author_name: str
    body: str
    created_at: dt.datetime
    attachments: list[CaseFileOut]
    # A question put to the buyer, and when the buyer answered it (null: still waiting).
    question: bool
    answered_at: dt.datetime | None
    # The buyer's message answering that question.
    answer_to_id: uuid.UUID | None

    @classmethod
    def of(cls, message: DisputeMessage, files) -> MessageOut:
        return cls(
            message.id,
            message.case_id,
            message.internal,
            message.author_kind,
            message.author_name,
            message.body,
            message.created_at,
            [case_file_out(f, message.case_id) for f in files],
            bool(message.question),
            message.answered_at,
            message.answer_to_id,
        )


@dataclass
class MessageList:
    items: list[MessageOut]


@dataclass
class ChecklistItemOut:
    item: str
    question: str
    answer: str | None  # yes | no | unknown; null until answered
    note: str | None
    answered_by: str | None
    answered_at: dt.datetime | None

    @classmethod
    def of(cls, item: str, answer: ChecklistAnswer | None) -> ChecklistItemOut:
        return cls(
            item,
            gettext(CHECKLIST[item]),
            answer.answer if answer else None,
            answer.note if answer else None,
            answer.answered_by if answer else None,
            answer.answered_at if answer else None,
        )


@dataclass
class Checklist:
    items: list[ChecklistItemOut]


@dataclass
class TaskOut:
    id: uuid.UUID
    case_id: uuid.UUID
    team: str
    assignee_user_id: uuid.UUID
    assignee_name: str | None
    question: str
    due_on: dt.date
    status: str
    answer: str | None
    answered_by: str | None
    answered_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    version: int

    @classmethod
    def of(cls, task: DisputeTask, names: dict[uuid.UUID, str] | None = None) -> TaskOut:
        return cls(
            task.id,
            task.case_id,
            task.team,
            task.assignee_user_id,
            (names or {}).get(task.assignee_user_id),
            task.question,
            task.due_on,
            task.status.value,
            task.answer,
            task.answered_by,
            task.answered_at,
            task.created_by,
            task.created_at,
            task.version,
        )


@dataclass
class TaskList:
    items: list[TaskOut]


@dataclass
class InstalmentOut:
    due_on: dt.date
    amount: str


@dataclass
class OptionOut:
    id: uuid.UUID
    position: int
    kind: str
    amount: str
    description: str | None
    schedule: list[InstalmentOut]

    @classmethod
    def of(cls, option: ProposalOption, currency: str) -> OptionOut:
        return cls(
            option.id,
            option.position,
            option.kind.value,
            amount_text(option.amount, currency),
            option.description,
            [
                InstalmentOut(dt.date.fromisoformat(i["due_on"]), amount_text(Decimal(i["amount"]), currency))
                for i in option.schedule
            ],
        )


@dataclass
class ProposalOut:
    id: uuid.UUID
    case_id: uuid.UUID
    seq: int
    status: str
    message: str | None
    created_by: str
    created_at: dt.datetime
    options: list[OptionOut]
    # The buyer's answer: who gave it (or who recorded it for them), when, and what.
    responded_by: str | None
    responded_at: dt.datetime | None
    response_note: str | None
    counter_amount: str | None
    accepted_option_id: uuid.UUID | None

    @classmethod
    def of(cls, proposal: Proposal, options, currency: str) -> ProposalOut:
        return cls(
            proposal.id,
            proposal.case_id,
            proposal.seq,
            proposal.status.value,
            proposal.message,
            proposal.created_by,
            proposal.created_at,
            [OptionOut.of(o, currency) for o in options],
            proposal.responded_by,
            proposal.responded_at,
            proposal.response_note,
            amount_text(proposal.counter_amount, currency),
            proposal.accepted_option_id,
        )


@dataclass
class ProposalList:
    items: list[ProposalOut]


@dataclass
class ResolveOut:
    case: CaseDetailOut
    # Set when the ledger effect waits for a second person's approval (the answer is then 202).
    approval: ApprovalOut | None


@dataclass
class SimilarOut:
    # This buyer's other cases, newest first.
    of_buyer: list[CaseOut]
    # Closed cases of other buyers with the same reason and a product (SKU) in common.
    same_reason_and_product: list[CaseOut]
    skus: list[str]

    @classmethod
    def of(cls, similar: SimilarCases) -> SimilarOut:
        return cls(
            [CaseOut.of(c) for c in similar.of_buyer],
            [CaseOut.of(c, name) for c, name in similar.same_reason_and_product],
            list(similar.skus),
        )


@dataclass
class CurrencyHistoryOut:
    currency: str
    disputed: str
    # Credited or written off by the buyer's cases.
    settled: str


@dataclass
class ReasonCountOut:
    reason_code: str
    cases: int


@dataclass
class BuyerProfileOut:
    buyer_id: uuid.UUID
    legal_name: str
    balances: list[BuyerBalanceOut]
    cases_total: int
    cases_in_progress: int
    history: list[CurrencyHistoryOut]
    reasons: list[ReasonCountOut]
    # Average days paid beyond terms (weighted by amount), when the buyer has paid anything.
    days_beyond_terms: str | None

    @classmethod
    def of(cls, profile: BuyerProfile) -> BuyerProfileOut:
        currencies = sorted(set(profile.disputed_by_currency) | set(profile.settled_by_currency))
        return cls(
            profile.buyer.id,
            profile.buyer.legal_name,
            [BuyerBalanceOut.of_buyer(b) for b in profile.balances],
            profile.cases_total,
            profile.cases_in_progress,
            [
                CurrencyHistoryOut(
                    c,
                    amount_text(profile.disputed_by_currency.get(c, Decimal(0)), c),
                    amount_text(profile.settled_by_currency.get(c, Decimal(0)), c),
                )
                for c in currencies
            ],
            [ReasonCountOut(code, count) for code, count in profile.reasons.items()],
            None if profile.days_beyond_terms is None else str(profile.days_beyond_terms),
        )


@dataclass
class DisputableLineOut:
    invoice_line_id: uuid.UUID
    line_no: int
    sku: str | None
    description: str
    gross_amount: str
    # What a new case may still dispute on the line.
    disputable_amount: str


@dataclass
class DisputableInvoiceOut:
    invoice_id: uuid.UUID
    invoice_number: str
    currency: str
    due_date: dt.date
    gross_amount: str
    open_amount: str
    # Open and not yet held by a case in progress.
    disputable_amount: str
    lines: list[DisputableLineOut]

    @classmethod
    def of(cls, found: DisputableInvoice) -> DisputableInvoiceOut:
        invoice, c = found.invoice, found.invoice.currency
        return cls(
            invoice.id,
            invoice.number,
            c,
            invoice.due_date,
            amount_text(invoice.gross_amount, c),
            amount_text(invoice.open_amount, c),
            amount_text(found.room, c),
            [
                DisputableLineOut(
                    line.id, line.line_no, line.sku, line.description, amount_text(line.gross_amount, c), amount_text(room, c)
                )
                for line, room in found.lines
            ],
        )


@dataclass
class DisputableList:
    items: list[DisputableInvoiceOut]


# --- writing ---------------------------------------------------------------------------------


class ItemIn(msgspec.Struct, forbid_unknown_fields=True):
    invoice_id: uuid.UUID
    invoice_line_id: Annotated[
        uuid.UUID | None, msgspec.Meta(description="One line of the invoice; omit for the whole invoice")
    ] = None
    amount: Annotated[Number | None, msgspec.Meta(description="Omit for everything still open on the invoice (or the line)")] = (
        None
    )


class CaseIn(msgspec.Struct, forbid_unknown_fields=True):
    buyer_id: uuid.UUID
    reason_code: Code
    description: LongText
    items: Annotated[list[ItemIn], msgspec.Meta(min_length=1, max_length=500)]
    channel: Channel = Channel.API
    opened_on: Annotated[dt.date | None, msgspec.Meta(description="The day the buyer raised it; today when omitted")] = None
    owner_user_id: Annotated[
        uuid.UUID | None, msgspec.Meta(description="A member of the team; omitted, the routing rules choose")
    ] = None

    def to_input(self) -> NewCase:
        return NewCase(
            buyer_id=self.buyer_id,
            reason_code=self.reason_code,
            description=self.description,
            channel=self.channel,
            opened_on=self.opened_on,
            owner_user_id=self.owner_user_id,
            items=[
                ItemInput(item.invoice_id, item.invoice_line_id, checked_decimal(item.amount, f"items[{index}].amount"))
                for index, item in enumerate(self.items)
            ],
        )


class MoveIn(msgspec.Struct, forbid_unknown_fields=True):
    to: Annotated[
        DisputeState,
        msgspec.Meta(
            description="The state to move to: one of the case's `allowed_moves` (agreed and resolved have their own operations)"
        ),
    ]
    note: LongText | None = None
    root_cause_code: Annotated[Code | None, msgspec.Meta(description="Required when rejecting")] = None
    version: Version | None = None


class PhaseIn(msgspec.Struct, forbid_unknown_fields=True):
    phase: DisputePhase
    version: Version | None = None


class OwnerIn(msgspec.Struct, forbid_unknown_fields=True):
    owner_user_id: Annotated[uuid.UUID | None, msgspec.Meta(description="A member of the team, or null for nobody")]
    version: Version | None = None


class BulkAssignIn(msgspec.Struct, forbid_unknown_fields=True):
    case_ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=500)]
    owner_user_id: Annotated[uuid.UUID | None, msgspec.Meta(description="A member of the team, or null for nobody")]


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    body: LongText
    internal: Annotated[bool, msgspec.Meta(description="An internal note the buyer never sees")] = False
    question: Annotated[
        bool,
        msgspec.Meta(
            description="A question the buyer is asked to answer (in the portal); only a message to the buyer can be one"
        ),
    ] = False


@dataclass
class MessageUpload:
    body: str
    internal: bool = False
    question: bool = False
    files: list[UploadFile] = field(default_factory=list)


@dataclass
class EvidenceUpload:
    file: UploadFile


class ChecklistAnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    answer: Literal["yes", "no", "unknown"]
    note: LongText | None = None


class TaskIn(msgspec.Struct, forbid_unknown_fields=True):
    assignee_user_id: Annotated[uuid.UUID, msgspec.Meta(description="A member of the team (a collaborator from sales…)")]
    team: Literal["sales", "logistics", "quality", "finance", "other"]
    question: LongText
    due_on: dt.date

    def to_input(self) -> NewTask:
        return NewTask(assignee_user_id=self.assignee_user_id, team=self.team, question=self.question, due_on=self.due_on)


class TaskAnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    answer: LongText
    version: TaskVersion | None = None


class TaskCancelIn(msgspec.Struct, forbid_unknown_fields=True):
    version: TaskVersion | None = None


class InstalmentIn(msgspec.Struct, forbid_unknown_fields=True):
    due_on: dt.date
    amount: Number


class OptionIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: OptionKind
    amount: Annotated[
        Number | None, msgspec.Meta(description="Credited, discounted, corrected or written off (those kinds only)")
    ] = None
    description: LongText | None = None
    schedule: Annotated[list[InstalmentIn], msgspec.Meta(max_length=36, description="Instalments only")] = []

    def to_input(self, index: int) -> OptionInput:
        where = f"options[{index}]"
        return OptionInput(
            kind=self.kind,
            amount=checked_decimal(self.amount, f"{where}.amount"),
            description=self.description,
            schedule=[(i.due_on, checked_decimal(i.amount, f"{where}.schedule")) for i in self.schedule],
        )


class ProposalIn(msgspec.Struct, forbid_unknown_fields=True):
    options: Annotated[list[OptionIn], msgspec.Meta(min_length=1, max_length=6)]
    message: LongText | None = None
    version: Version | None = None

    def option_inputs(self) -> list[OptionInput]:
        return [option.to_input(index) for index, option in enumerate(self.options)]


class ProposalAnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    response: Literal["accept", "counter", "decline"]
    on_behalf_of: Annotated[Text200, msgspec.Meta(description="Who at the buyer gave this answer (by phone, e-mail…)")]
    option_id: Annotated[uuid.UUID | None, msgspec.Meta(description="The option accepted")] = None
    note: LongText | None = None
    counter_amount: Annotated[Number | None, msgspec.Meta(description="What the buyer asks for instead")] = None
    version: Version | None = None


class ResolveIn(msgspec.Struct, forbid_unknown_fields=True):
    outcome: Outcome
    root_cause_code: Code
    note: LongText | None = None
    version: Version | None = None

    def to_resolution(self) -> Resolution:
        return Resolution(outcome=self.outcome, root_cause_code=self.root_cause_code, note=self.note)


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[LongText | None, msgspec.Meta(description="Required when refusing; the requester reads it")] = None
    version: ApprovalVersion | None = None
