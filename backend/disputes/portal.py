"""The buyer's side of its disputes: what a signed-in buyer contact reads and does in the portal.

Every function takes the contact's principal and works on `principal.buyer_id`'s cases only: any
other principal (a team member, a key), and another buyer's case, invoice, proposal, question or file,
get NotFound, the same answer as a missing id. Raising a case, writing in the thread and answering a
proposal go through the team's own checks in `backend.disputes.service`, so a case raised here is held,
numbered, routed and recorded like any other; it comes by the `portal` channel, from the contact.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal, PrincipalKind
from backend.disputes import service
from backend.disputes.codes import Code
from backend.disputes.models import ACTIVE_STATES, Channel, CodeKind, DisputeCase, DisputeMessage, Proposal
from backend.disputes.repository import DisputeRepository
from backend.disputes.service import Attachment, BuyerCaseView, DisputableChoice, ItemInput
from backend.errors import NotFound, ValidationFailed
from backend.files import uploads
from backend.i18n import _
from backend.invoices.models import StoredFile

MAX_FILES = 10  # evidence files or attachments sent at once
OPEN_INVOICES_LISTED = service.OPEN_INVOICES_LISTED
MAX_FILE_MB = uploads.MAX_UPLOAD_BYTES // (1024 * 1024)


def buyer_of(principal: Principal) -> uuid.UUID:
    """The buyer a contact acts for; nobody else has a buyer's disputes to see here.

    The same check as `backend.invoices.portal.buyer_of`, kept here so that disputes do not import the
    invoices' portal module (each area's portal functions stand on their own)."""
    if principal.kind is not PrincipalKind.BUYER_CONTACT or principal.buyer_id is None:
        raise NotFound(_("Not found."))
    return principal.buyer_id


async def _case_for_change(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> DisputeCase:
    buyer_id = buyer_of(principal)
    case = await DisputeRepository(session).get(case_id, for_update=True)
    if case is None or case.buyer_id != buyer_id:
        raise NotFound(_("Not found."))
    return case


def _check_count(files: Sequence[Attachment]) -> None:
    if len(files) > MAX_FILES:
        raise ValidationFailed(_("Choose at most %(count)s files at once."), field="file", params={"count": MAX_FILES})


# --- the list -------------------------------------------------------------------------------------


@dataclass
class BuyerCaseRow:
    case: DisputeCase
    invoice_numbers: list[str]
    open_questions: int  # questions from the supplier that wait for the buyer's answer
    proposal_waiting: bool  # a proposal the buyer may accept, counter or decline

    @property
    def waits_for_buyer(self) -> bool:
        return self.open_questions > 0 or self.proposal_waiting

    @property
    def in_progress(self) -> bool:
        return self.case.state in ACTIVE_STATES


async def list_cases(session: AsyncSession, principal: Principal) -> list[BuyerCaseRow]:
    """The buyer's cases (in progress first, newest first), each with what waits for the buyer."""
    disputes = DisputeRepository(session)
    cases = await disputes.cases_of_buyer(buyer_of(principal))
    ids = [case.id for case in cases]
    questions = await disputes.open_questions_by_case(ids)
    offers = await disputes.cases_with_offer(ids)
    numbers = await disputes.invoice_numbers_by_case(ids)
    return [BuyerCaseRow(case, numbers.get(case.id, []), questions.get(case.id, 0), case.id in offers) for case in cases]


# --- raising a case --------------------------------------------------------------------------------


async def disputable_invoices(
    session: AsyncSession,
    principal: Principal,
    *,
    named_invoices: Sequence[uuid.UUID] = (),
    named_lines: Sequence[uuid.UUID] = (),
) -> DisputableChoice:
    """The buyer's open invoices with their lines, each with what is left to dispute on it: the earliest
    due, and those named (the invoice the buyer came from, the ones it ticked) however late they fall due."""
    return await service._disputable(session, buyer_of(principal), named_invoices=named_invoices, named_lines=named_lines)


async def reasons(session: AsyncSession, principal: Principal, *, active_only: bool = True) -> list[Code]:
    """The supplier's reasons a buyer may give (its active reason codes; all of them to name an older case's)."""
    buyer_of(principal)
    return await service.codes(session, CodeKind.REASON, active_only=active_only)


@dataclass
class BuyerDispute:
    reason_code: str
    description: str
    items: list[ItemInput]
    files: list[Attachment] = field(default_factory=list)


async def raise_case(session: AsyncSession, principal: Principal, data: BuyerDispute) -> DisputeCase:
    """The buyer disputes invoices or lines of its own, with evidence: one case, all or nothing. A file
    refused refuses the case; the caller rolls back, and no file's bytes are left in storage."""
    buyer_id = buyer_of(principal)
    if not (data.reason_code or "").strip():
        raise ValidationFailed(_("Choose the reason for the dispute."), field="reason_code")
    if not (data.description or "").strip():
        raise ValidationFailed(_("Describe what is wrong, in a few words."), field="description")
    _check_count(data.files)
    case = await service._register(
        session,
        principal,
        service.NewCase(
            buyer_id=buyer_id,
            reason_code=data.reason_code,
            description=data.description,
            channel=Channel.PORTAL,
            items=data.items,
        ),
    )
    kept = await _keep_evidence(session, principal, case, data.files)
    _tell_team(session, principal, case, "raised", files=kept)
    return case


def _tell_team(
    session: AsyncSession,
    principal: Principal,
    case: DisputeCase,
    event: str,
    *,
    proposal_id: uuid.UUID | None = None,
    files: Sequence[StoredFile] = (),
) -> None:
    """The team hears of what the buyer did (by e-mail, once this transaction commits)."""
    from backend.jobs import service as jobs

    payload = {"case_id": str(case.id), "event": event, "contact": principal.display_name or principal.label}
    if proposal_id:
        payload["proposal_id"] = str(proposal_id)
    if files:
        payload["files"] = [stored.filename for stored in files]
    jobs.enqueue(session, "disputes.notify_team", payload)


async def _keep_evidence(
    session: AsyncSession, principal: Principal, case: DisputeCase, files: Sequence[Attachment]
) -> list[StoredFile]:
    if not files:
        return []
    kept = await service.store_files(
        session, service.BUYER_EVIDENCE_FILE, case.id, files, fallback_name="evidence", name_refused=True
    )
    service._log(session, principal, case, "buyer_evidence_added", files=[uploads.file_view(stored) for stored in kept])
    return list(kept)


# --- one case ---------------------------------------------------------------------------------------


async def case_view(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> BuyerCaseView:
    """The case as the buyer sees it: no internal note, task, checklist, approval or team evidence."""
    return await service.buyer_case_view(session, buyer_of(principal), case_id)


async def add_evidence(session: AsyncSession, principal: Principal, case_id: uuid.UUID, files: Sequence[Attachment]) -> None:
    case = await _case_for_change(session, principal, case_id)
    service._require_in_progress(case, _("This dispute is closed (%(state)s): it takes no more evidence."))
    if not files:
        raise ValidationFailed(_("Choose one or more files."), field="file")
    _check_count(files)
    _tell_team(session, principal, case, "evidence_added", files=await _keep_evidence(session, principal, case, files))


async def post_message(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    *,
    body: str,
    answer_to: uuid.UUID | None = None,
    attachments: Sequence[Attachment] = (),
) -> DisputeMessage:
    """The buyer writes to the supplier's team, or answers one of its questions (`answer_to`), while the case is in progress."""
    case = await _case_for_change(session, principal, case_id)
    service._require_in_progress(case, _("This dispute is closed (%(state)s): it takes no more messages."))
    question = None
    if answer_to is not None:
        question = await DisputeRepository(session).message(answer_to)
        # Only a question put to this buyer on this case: anything else does not exist for it.
        if question is None or question.case_id != case.id or question.internal or not question.question:
            raise NotFound(_("Not found."))
    _check_count(attachments)
    return await service._post_message(
        session,
        principal,
        case,
        body=body,
        internal=False,
        attachments=attachments,
        answer_to=question,
        name_refused=True,
    )


async def answer_proposal(
    session: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    proposal_id: uuid.UUID,
    response: str,
    *,
    option_id: uuid.UUID | None = None,
    note: str | None = None,
    counter_amount: Decimal | str | None = None,
) -> Proposal:
    """Accept one option (the case is agreed), counter, or decline: the contact answers for its buyer."""
    case = await _case_for_change(session, principal, case_id)
    proposal = await DisputeRepository(session).proposal(proposal_id)
    if proposal is None or proposal.case_id != case_id:
        raise NotFound(_("Not found."))
    answered = await service.respond_to_proposal(
        session, principal, proposal_id, response, option_id=option_id, note=note, counter_amount=counter_amount
    )
    event = {"accept": "proposal_accepted", "counter": "proposal_countered", "decline": "proposal_declined"}[response]
    _tell_team(session, principal, case, event, proposal_id=answered.id)
    return answered


async def case_file(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, file_id: uuid.UUID
) -> tuple[StoredFile, BinaryIO]:
    """A file of the case the buyer may see (its own evidence, an attachment of a message it may read),
    with its content opened (the caller closes it). The team's evidence and notes' files are not found."""
    buyer_id = buyer_of(principal)
    disputes = DisputeRepository(session)
    case = await disputes.get(case_id)
    stored = await disputes.file(file_id)
    if case is None or case.buyer_id != buyer_id or stored is None:
        raise NotFound(_("Not found."))
    if stored.owner_type == service.BUYER_EVIDENCE_FILE and stored.owner_id == case.id:
        return stored, await uploads.open_stored(session, stored)
    if stored.owner_type == service.MESSAGE_FILE:
        message = await disputes.message(stored.owner_id)
        if message is not None and message.case_id == case.id and not message.internal:
            return stored, await uploads.open_stored(session, stored)
    raise NotFound(_("Not found."))
