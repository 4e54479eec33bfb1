"""Dispute cases over the API: register, evaluate, negotiate, agree, resolve.

Every handler parses its input, calls the disputes service and renders what it returns; the service
checks the role, the state machine and the version. Another tenant's case, task, proposal, approval,
message or file answers 404, like a missing one.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from litestar import Controller, Response, get, post, put
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.disputes import service
from backend.disputes.codes import CHECKLIST
from backend.disputes.models import DisputePhase, DisputeState
from backend.disputes.repository import CaseFilter
from backend.disputes.schemas import (
    ApprovalList,
    ApprovalOut,
    BulkAssignIn,
    BuyerProfileOut,
    CaseDetailOut,
    CaseFileOut,
    CaseIn,
    CaseList,
    CaseOut,
    CasePage,
    Checklist,
    ChecklistAnswerIn,
    ChecklistItemOut,
    DecisionIn,
    DisputableInvoiceOut,
    DisputableList,
    EventOut,
    EvidenceUpload,
    FileList,
    MessageIn,
    MessageList,
    MessageOut,
    MessageUpload,
    MoveIn,
    OwnerIn,
    PhaseIn,
    ProposalAnswerIn,
    ProposalIn,
    ProposalList,
    ProposalOut,
    ResolveIn,
    ResolveOut,
    SimilarOut,
    TaskAnswerIn,
    TaskCancelIn,
    TaskIn,
    TaskList,
    TaskOut,
    Timeline,
    case_file_out,
)
from backend.errors import ValidationFailed
from backend.files.uploads import MAX_UPLOAD_BYTES
from backend.http.pagination import MAX_LIMIT
from backend.i18n import _
from backend.invoices.api import proof_file_stream
from backend.invoices.schemas import checked_decimal

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="At most this many items")]
Offset = Annotated[int, Parameter(ge=0, description="Skip this many items")]
Sort = Literal["opened", "-opened", "amount", "-amount", "number", "-number", "updated", "-updated"]
Multipart = Body(media_type=RequestEncodingType.MULTI_PART)
# The form around the files may add a little; each file itself is held to the limit while it is copied.
UPLOAD_BODY_LIMIT = MAX_UPLOAD_BYTES + 64 * 1024
FILE_TYPES = (
    "PDF, PNG, JPEG, WebP or TIFF (recognised by content; a name whose extension claims another type is refused), at most 20 MB"
)


async def _details(db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> CaseDetailOut:
    return CaseDetailOut.of_details(await service.case_details(db, principal, case_id))


def _owner_filter(owner: str | None, principal: Principal) -> str | None:
    if not owner:
        return None
    if owner == "me":
        return str(principal.id)
    if owner == "unassigned":
        return owner
    try:
        return str(uuid.UUID(owner))
    except ValueError:
        raise ValidationFailed(_("owner is me, unassigned or a member's user id."), field="owner") from None


def _states(values) -> tuple[DisputeState, ...]:
    # Checked here rather than by the parameter's type, so a refusal names `state` as sent.
    try:
        return tuple(DisputeState(value) for value in values or ())
    except ValueError:
        raise ValidationFailed(
            _("state is one of: %(states)s."), field="state", params={"states": ", ".join(DisputeState)}
        ) from None


class DisputeController(Controller):
    path = "/disputes"
    tags = ["disputes"]

    # --- the cases ----------------------------------------------------------------------------

    @get(
        "/",
        summary="List dispute cases",
        description="Filters combine. `owner` is `me`, `unassigned` or a member's user id; `state` may be repeated; "
        "`q` matches the case number, the buyer's name or a disputed invoice's number.",
    )
    async def list_cases(
        self,
        db: AsyncSession,
        principal: Principal,
        limit: Limit = 50,
        offset: Offset = 0,
        owner: Annotated[str | None, Parameter(max_length=36, description="me, unassigned, or a user id")] = None,
        states: Annotated[
            list[str],
            Parameter(
                query="state",
                required=False,
                description="One or more states",
                schema_extra={"items": {"type": "string", "enum": [s.value for s in DisputeState]}},
            ),
        ] = (),
        phase: DisputePhase | None = None,
        reason: Annotated[str | None, Parameter(max_length=40, description="A reason code")] = None,
        buyer_id: uuid.UUID | None = None,
        min_age_days: Annotated[int | None, Parameter(ge=0, le=36500, description="Opened at least this many days ago")] = None,
        max_age_days: Annotated[int | None, Parameter(ge=0, le=36500, description="Opened at most this many days ago")] = None,
        min_amount: Annotated[Decimal | None, Parameter(description="Disputed amount at least this")] = None,
        max_amount: Annotated[Decimal | None, Parameter(description="Disputed amount at most this")] = None,
        q: Annotated[str | None, Parameter(max_length=64)] = None,
        sort: Annotated[Sort, Parameter(description="Field to sort by; a leading - sorts descending")] = "-opened",
    ) -> CasePage:
        today = date.today()
        where = CaseFilter(
            owner=_owner_filter(owner, principal),
            states=_states(states),
            phase=phase,
            reason_code=reason,
            buyer_id=buyer_id,
            opened_before=today - timedelta(days=min_age_days) if min_age_days is not None else None,
            opened_after=today - timedelta(days=max_age_days) if max_age_days is not None else None,
            min_amount=checked_decimal(min_amount, "min_amount"),
            max_amount=checked_decimal(max_amount, "max_amount"),
            query=q,
            sort=sort,
        )
        total, rows = await service.list_cases(db, principal, where, limit=limit, offset=offset)
        return CasePage(items=[CaseOut.of(c, name) for c, name in rows], total=total, limit=limit, offset=offset)

    @post(
        "/",
        summary="Register a dispute case",
        description="On whole invoices or chosen lines of one buyer, each for at most what is open and not yet disputed; "
        "the disputed amount is held out of collection at once. Without `owner_user_id` the routing rules choose.",
    )
    async def register_case(self, db: AsyncSession, principal: Principal, data: CaseIn) -> CaseDetailOut:
        case = await service.register_case(db, principal, data.to_input())
        return await _details(db, principal, case.id)

    @get(
        "/disputable-invoices",
        summary="What a buyer's open invoices and lines can still be disputed for",
        description="The ids and amounts a new case names in its `items`: each open invoice of the buyer with what is open "
        "and not yet held by a case in progress, and each of its lines with what is left to dispute on it.",
    )
    async def disputable_invoices(self, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID) -> DisputableList:
        return DisputableList(
            items=[DisputableInvoiceOut.of(i) for i in await service.disputable_invoices(db, principal, buyer_id)]
        )

    @get(
        "/{case_id:uuid}",
        summary="Get a dispute case",
        description="With the disputed items per invoice and what each holds, evidence, the moves allowed now and a pending approval.",
    )
    async def get_case(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> CaseDetailOut:
        return await _details(db, principal, case_id)

    @post(
        "/{case_id:uuid}/moves",
        summary="Move a case to another state",
        description="Acknowledge, review, negotiate, reject (with reasons and a root cause), withdraw, escalate or reopen. "
        "A move the state machine does not allow, or a stale `version`, answers 409 and changes nothing.",
        status_code=200,
    )
    async def move_case(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: MoveIn) -> CaseDetailOut:
        await service.move_case(
            db, principal, case_id, data.to, note=data.note, root_cause_code=data.root_cause_code, version=data.version
        )
        return await _details(db, principal, case_id)

    @put("/{case_id:uuid}/phase", summary="Set a case's negotiation phase (early, middle, late)")
    async def set_phase(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: PhaseIn) -> CaseDetailOut:
        await service.set_phase(db, principal, case_id, data.phase, version=data.version)
        return await _details(db, principal, case_id)

    @put("/{case_id:uuid}/owner", summary="Give a case an owner, or none")
    async def assign_case(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: OwnerIn) -> CaseDetailOut:
        await service.assign_case(db, principal, case_id, data.owner_user_id, version=data.version)
        return await _details(db, principal, case_id)

    @post(
        "/assign",
        summary="Give several cases one owner",
        description="All or nothing: an unknown case id answers 404 and assigns none.",
        status_code=200,
    )
    async def bulk_assign(self, db: AsyncSession, principal: Principal, data: BulkAssignIn) -> CaseList:
        cases = await service.bulk_assign(db, principal, data.case_ids, data.owner_user_id)
        return CaseList(items=[CaseOut.of(c) for c in cases])

    @get(
        "/{case_id:uuid}/timeline", summary="A case's timeline, oldest first", description="Every step, the team's own included."
    )
    async def timeline(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Timeline:
        details = await service.case_details(db, principal, case_id)
        return Timeline(items=[EventOut.of(e) for e in details.events])

    @get(
        "/{case_id:uuid}/similar",
        summary="Similar cases",
        description="This buyer's other cases, and closed cases of other buyers with the same reason and a product in common.",
    )
    async def similar(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> SimilarOut:
        return SimilarOut.of(await service.similar_cases(db, principal, case_id))

    @get(
        "/{case_id:uuid}/buyer-profile",
        summary="The buyer's profile beside a case",
        description="Balances, the history of the buyer's disputes, and how late it pays.",
    )
    async def buyer_profile(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> BuyerProfileOut:
        case = await service.get_case(db, principal, case_id)
        return BuyerProfileOut.of(await service.buyer_profile(db, principal, case.buyer_id))

    # --- evidence and files -----------------------------------------------------------------------

    @get("/{case_id:uuid}/evidence", summary="List a case's evidence files")
    async def list_evidence(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> FileList:
        details = await service.case_details(db, principal, case_id)
        return FileList(items=[case_file_out(f, case_id) for f in details.evidence])

    @post(
        "/{case_id:uuid}/evidence",
        summary="Upload an evidence file",
        description=f"{FILE_TYPES}; its SHA-256 is recorded. Past the limit: 413.",
        request_max_body_size=UPLOAD_BODY_LIMIT,
    )
    async def add_evidence(
        self,
        db: AsyncSession,
        principal: Principal,
        case_id: uuid.UUID,
        data: Annotated[EvidenceUpload, Multipart],
    ) -> CaseFileOut:
        stored = await service.add_evidence(db, principal, case_id, filename=data.file.filename, source=data.file.file)
        return case_file_out(stored, case_id)

    @get(
        "/{case_id:uuid}/files/{file_id:uuid}",
        summary="Download an evidence file or a message attachment",
        description="Sent with the type its content was recognised as, `nosniff`, and a Content-Disposition "
        "(inline for PDFs and images, attachment otherwise).",
        media_type="application/octet-stream",
        response_description="The file's bytes: a PDF, PNG, JPEG, WebP or TIFF",
    )
    async def download_file(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID, file_id: uuid.UUID) -> Stream:
        return proof_file_stream(*await service.case_file(db, principal, case_id, file_id))

    # --- the thread -----------------------------------------------------------------------------

    @get(
        "/{case_id:uuid}/messages",
        summary="A case's thread, oldest first",
        description="Messages to and from the buyer and the team's internal notes (`internal: true`), with attachments.",
    )
    async def list_messages(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> MessageList:
        details = await service.case_details(db, principal, case_id)
        return MessageList(items=[MessageOut.of(m, files) for m, files in details.messages])

    @post(
        "/{case_id:uuid}/messages",
        summary="Write to the buyer, or an internal note",
        description="A message (`internal: false`) is e-mailed to the buyer's participants; an internal note never reaches the buyer. "
        "`question: true` asks the buyer to answer it (the portal shows it as waiting until the buyer does). "
        "To attach files, use the multipart variant.",
    )
    async def post_message(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: MessageIn) -> MessageOut:
        message = await service.post_message(
            db, principal, case_id, body=data.body, internal=data.internal, question=data.question
        )
        return MessageOut.of(message, [])

    @post(
        "/{case_id:uuid}/messages/with-attachments",
        summary="Write a message or internal note with attached files",
        # Every part is spooled (to disk past 1 MB) before any file is checked: a request holds one file's limit.
        description=f"Multipart: `body`, `internal` (true or false), `question` (true or false) and up to 10 `files`, each a {FILE_TYPES}; "
        "the files together at most 20 MB (413 past it). "
        "A refused file stores neither the message nor any file.",
        request_max_body_size=UPLOAD_BODY_LIMIT,
    )
    async def post_message_with_attachments(
        self,
        db: AsyncSession,
        principal: Principal,
        case_id: uuid.UUID,
        data: Annotated[MessageUpload, Multipart],
    ) -> MessageOut:
        attachments = [service.Attachment(filename=f.filename, source=f.file) for f in data.files]
        message = await service.post_message(
            db, principal, case_id, body=data.body, internal=data.internal, question=data.question, attachments=attachments
        )
        details = await service.case_details(db, principal, case_id)
        files = next((files for m, files in details.messages if m.id == message.id), [])
        return MessageOut.of(message, files)

    # --- evaluation: checklist and tasks ---------------------------------------------------------

    @get("/{case_id:uuid}/checklist", summary="A case's evaluation checklist with its answers")
    async def checklist(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Checklist:
        details = await service.case_details(db, principal, case_id)
        return Checklist(items=[ChecklistItemOut.of(item, details.checklist.get(item)) for item in CHECKLIST])

    @put(
        "/{case_id:uuid}/checklist/{item:str}",
        summary="Answer a checklist item",
        description="Items: " + ", ".join(CHECKLIST) + ". Answers: yes, no, unknown.",
    )
    async def answer_checklist(
        self, db: AsyncSession, principal: Principal, case_id: uuid.UUID, item: str, data: ChecklistAnswerIn
    ) -> ChecklistItemOut:
        answer = await service.answer_checklist(db, principal, case_id, item, data.answer, data.note)
        return ChecklistItemOut.of(item, answer)

    @get("/{case_id:uuid}/tasks", summary="A case's tasks for colleagues")
    async def list_tasks(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> TaskList:
        details = await service.case_details(db, principal, case_id)
        return TaskList(items=[TaskOut.of(t, details.names) for t in details.tasks])

    @post(
        "/{case_id:uuid}/tasks",
        summary="Ask a colleague a question about a case",
        description="For sales, logistics, quality…, with a due date; the colleague is told by e-mail. "
        "An open or acknowledged case goes under review.",
    )
    async def create_task(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: TaskIn) -> TaskOut:
        task = await service.create_task(db, principal, case_id, data.to_input())
        return await self._task_out(db, principal, task.case_id, task.id)

    @post(
        "/tasks/{task_id:uuid}/answer",
        summary="Answer a task",
        description="By the colleague it was given to, or by someone who works the dispute.",
        status_code=200,
    )
    async def answer_task(self, db: AsyncSession, principal: Principal, task_id: uuid.UUID, data: TaskAnswerIn) -> TaskOut:
        task = await service.answer_task(db, principal, task_id, data.answer, version=data.version)
        return await self._task_out(db, principal, task.case_id, task.id)

    @post("/tasks/{task_id:uuid}/cancel", summary="Cancel an open task", status_code=200)
    async def cancel_task(
        self, db: AsyncSession, principal: Principal, task_id: uuid.UUID, data: TaskCancelIn | None = None
    ) -> TaskOut:
        task = await service.cancel_task(db, principal, task_id, version=data.version if data else None)
        return await self._task_out(db, principal, task.case_id, task.id)

    @staticmethod
    async def _task_out(db: AsyncSession, principal: Principal, case_id: uuid.UUID, task_id: uuid.UUID) -> TaskOut:
        details = await service.case_details(db, principal, case_id)
        return TaskOut.of(next(t for t in details.tasks if t.id == task_id), details.names)

    # --- negotiation ---------------------------------------------------------------------------

    @get("/{case_id:uuid}/proposals", summary="A case's proposals with their options and the buyer's answers")
    async def list_proposals(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> ProposalList:
        details = await service.case_details(db, principal, case_id)
        currency = details.case.currency
        return ProposalList(items=[ProposalOut.of(p, options, currency) for p, options in details.proposals])

    @post(
        "/{case_id:uuid}/proposals",
        summary="Offer the buyer a proposal",
        description="One to six options: credit_note, discount, redelivery, price_correction, instalments (with a schedule), "
        "write_off, rejection (with reasons). An earlier offer still open is withdrawn; the case is negotiating.",
    )
    async def create_proposal(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: ProposalIn) -> ProposalOut:
        proposal = await service.create_proposal(
            db, principal, case_id, data.option_inputs(), message=data.message, version=data.version
        )
        return await self._proposal_out(db, principal, proposal.case_id, proposal.id)

    @post(
        "/proposals/{proposal_id:uuid}/answer",
        summary="Record the buyer's answer to a proposal",
        description="Accept one option (the case is agreed), counter (say what the buyer asks instead) or decline; "
        "`on_behalf_of` names who at the buyer gave the answer.",
        status_code=200,
    )
    async def answer_proposal(
        self, db: AsyncSession, principal: Principal, proposal_id: uuid.UUID, data: ProposalAnswerIn
    ) -> ProposalOut:
        proposal = await service.respond_to_proposal(
            db,
            principal,
            proposal_id,
            data.response,
            option_id=data.option_id,
            note=data.note,
            counter_amount=checked_decimal(data.counter_amount, "counter_amount"),
            on_behalf_of=data.on_behalf_of,
            version=data.version,
        )
        return await self._proposal_out(db, principal, proposal.case_id, proposal.id)

    @staticmethod
    async def _proposal_out(db: AsyncSession, principal: Principal, case_id: uuid.UUID, proposal_id: uuid.UUID) -> ProposalOut:
        details = await service.case_details(db, principal, case_id)
        proposal, options = next((p, o) for p, o in details.proposals if p.id == proposal_id)
        return ProposalOut.of(proposal, options, details.case.currency)

    # --- resolution and approvals -----------------------------------------------------------------

    @post(
        "/{case_id:uuid}/resolve",
        summary="Carry out the agreement and resolve the case",
        description="Writes the ledger entries of the accepted option and closes the case with its outcome and root cause (200). "
        "A credit or write-off above the tenant's threshold (or asked by a role that cannot approve) waits for a "
        "second person instead: 202 with the pending approval, the case still agreed.",
        status_code=200,
        responses={202: ResponseSpec(ResolveOut, description="Waiting for a second person's approval: `approval` is set")},
    )
    async def resolve(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: ResolveIn) -> Response[ResolveOut]:
        result = await service.resolve_case(db, principal, case_id, data.to_resolution(), version=data.version)
        details = await _details(db, principal, case_id)
        approval = ApprovalOut.of(result.approval, details.number) if result.approval else None
        return Response(ResolveOut(case=details, approval=approval), status_code=202 if approval else 200)

    @get(
        "/approvals",
        summary="Approvals waiting for a second person",
        description="Oldest first; for those who may approve credit notes and write-offs.",
    )
    async def pending_approvals(self, db: AsyncSession, principal: Principal) -> ApprovalList:
        rows = await service.pending_approvals(db, principal)
        return ApprovalList(items=[ApprovalOut.of(approval, case.number) for approval, case in rows])

    @post(
        "/approvals/{approval_id:uuid}/approve",
        summary="Approve a credit or write-off (four eyes)",
        description="By a person with the approving role other than the one who asked; the ledger entries are written and "
        "the case resolves. Someone deciding first, or the requester approving, answers 409.",
        status_code=200,
    )
    async def approve(
        self, db: AsyncSession, principal: Principal, approval_id: uuid.UUID, data: DecisionIn | None = None
    ) -> ResolveOut:
        return await self._decide(db, principal, approval_id, data, approve=True)

    @post(
        "/approvals/{approval_id:uuid}/refuse",
        summary="Refuse a credit or write-off",
        description="With a note saying why; the case stays agreed, for a new proposal or another resolution.",
        status_code=200,
    )
    async def refuse(
        self, db: AsyncSession, principal: Principal, approval_id: uuid.UUID, data: DecisionIn | None = None
    ) -> ResolveOut:
        return await self._decide(db, principal, approval_id, data, approve=False)

    @staticmethod
    async def _decide(
        db: AsyncSession, principal: Principal, approval_id: uuid.UUID, data: DecisionIn | None, *, approve: bool
    ) -> ResolveOut:
        approval = await service.decide_approval(
            db,
            principal,
            approval_id,
            approve=approve,
            note=data.note if data else None,
            version=data.version if data else None,
        )
        details = await _details(db, principal, approval.case_id)
        return ResolveOut(case=details, approval=ApprovalOut.of(approval, details.number))


class InvoiceDisputesController(Controller):
    path = "/invoices/{invoice_id:uuid}/disputes"
    tags = ["disputes"]

    @get("/", summary="List the dispute cases on an invoice", description="In progress and closed, newest first.")
    async def cases_of_invoice(self, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> CaseList:
        return CaseList(items=[CaseOut.of(c) for c in await service.cases_of_invoice(db, principal, invoice_id)])
