"""Who is told of a new thread message, task or buyer's action in the portal, and what each may read.

The team (the case's owner and the people with a task on it) hears of internal notes and messages
alike, with a link to the case. The buyer's contacts hear only of messages written for the buyer:
a notice for them is built from an external message and nothing else, so a note never reaches them.
The author is never told of their own message. Each notice is for one person, in their language.
A contact hears of messages and of proposals only while it wants them (its portal preferences); one
with the portal open gets the way to the case there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from backend.buyers.models import BuyerContact
from backend.buyers.repository import BuyerRepository
from backend.disputes.models import OPTION_LABELS, DisputeCase, DisputeMessage, ProposalStatus, TaskStatus
from backend.disputes.repository import DisputeRepository
from backend.disputes.service import MESSAGE_FILE
from backend.i18n import DEFAULT, normalise
from backend.tenants.models import Role
from backend.tenants.service import get_current_tenant

# The buyer's actions in the portal the team is told of (its messages have their own notice).
BUYER_EVENTS = ("raised", "proposal_accepted", "proposal_countered", "proposal_declined", "evidence_added")
# Who hears of a case nobody owns yet: those who run the tenant's receivables.
UNOWNED_CASE_ROLES = (Role.OWNER, Role.ADMIN, Role.CREDIT_MANAGER)


@dataclass(frozen=True)
class TeamMessageNotice:
    email: str
    name: str
    language: str
    organisation: str
    case_number: str
    buyer_name: str
    author: str
    body: str
    internal: bool
    attachments: tuple[str, ...]
    link: str
    from_buyer: bool = False  # written by one of the buyer's contacts (in the portal)
    answers_question: bool = False  # the buyer's answer to a question the team put to it


@dataclass(frozen=True)
class BuyerMessageNotice:
    """A message the buyer may read, for one of the buyer's contacts; never built from an internal note."""

    email: str
    name: str
    language: str
    organisation: str
    case_number: str
    author: str
    from_buyer: bool  # written by another of the buyer's contacts
    body: str
    attachments: tuple[str, ...]
    question: bool = False  # the team asks the buyer to answer it
    portal_link: str | None = None  # the case in the buyer portal, for a contact who may sign in there
    contact_id: uuid.UUID | None = None  # whose e-mail it is (its unsubscribe link names the contact)


@dataclass(frozen=True)
class ProposalOptionLine:
    kind: str  # OptionKind's value
    amount: Decimal
    description: str | None
    schedule: tuple[tuple[date, Decimal], ...]


@dataclass(frozen=True)
class BuyerProposalNotice:
    """A proposal offered to the buyer, for one of its contacts: the options and where to answer."""

    email: str
    name: str
    language: str
    organisation: str
    case_number: str
    currency: str
    message: str | None
    options: tuple[ProposalOptionLine, ...]
    portal_link: str | None
    contact_id: uuid.UUID | None = None


@dataclass(frozen=True)
class TeamEventNotice:
    """Something the buyer's contact did on a case in the portal, for one person of the team."""

    email: str
    name: str
    language: str
    event: str  # one of BUYER_EVENTS
    case_number: str
    buyer_name: str
    contact: str  # the contact who acted
    currency: str
    amount: Decimal  # the case's disputed amount
    description: str | None  # the buyer's description (a new case)
    option: str | None  # the accepted option, as the option's label's English (translated when sent)
    option_amount: Decimal | None
    counter_amount: Decimal | None
    note: str | None  # the buyer's note with its answer
    files: tuple[str, ...]
    link: str


@dataclass(frozen=True)
class TaskNotice:
    email: str
    name: str
    language: str
    organisation: str
    case_number: str
    buyer_name: str
    team: str
    question: str
    due_on: date
    asked_by: str
    link: str


def case_link(base_url: str, case: DisputeCase) -> str:
    return f"{base_url}/console/disputes/{case.id}"


def portal_case_link(base_url: str, case: DisputeCase, contact: BuyerContact) -> str | None:
    return f"{base_url}/portal/disputes/{case.id}" if contact.portal_open else None


async def _people(
    session: AsyncSession, user_ids: list[uuid.UUID | None], *, except_user: uuid.UUID | None = None
) -> list[tuple[str, str, str]]:
    """(e-mail, name, language) of those among `user_ids` who are active members, but `except_user`."""
    tenant_language = normalise((await get_current_tenant(session)).default_language) or DEFAULT
    members = await DisputeRepository(session).member_emails(user_ids)
    return [
        (email, name, normalise(language) or tenant_language)
        for user_id, email, name, language in sorted(members, key=lambda member: member[1])
        if user_id != except_user
    ]


async def _team(session: AsyncSession, case: DisputeCase, *, except_user: uuid.UUID | None) -> list[tuple[str, str, str]]:
    """The case's owner and the people with a task on it (not a cancelled one)."""
    tasks = await DisputeRepository(session).tasks(case.id)
    people = [case.owner_user_id, *(t.assignee_user_id for t in tasks if t.status is not TaskStatus.CANCELLED)]
    return await _people(session, people, except_user=except_user)


async def message_notices(
    session: AsyncSession, message_id: uuid.UUID, base_url: str
) -> tuple[list[TeamMessageNotice], list[BuyerMessageNotice]]:
    """The e-mails a new thread message calls for: to the team, and (an external message only) to the buyer's contacts."""
    disputes = DisputeRepository(session)
    message: DisputeMessage | None = await disputes.message(message_id)
    if message is None:
        return [], []
    case = await disputes.get(message.case_id)
    buyer = await BuyerRepository(session).get(case.buyer_id)
    organisation = (await get_current_tenant(session)).name
    attachments = tuple(f.filename for f in await disputes.files_of(MESSAGE_FILE, [message.id]))
    author_user = message.author_id if message.author_kind == "user" else None
    team = [
        TeamMessageNotice(
            email=email,
            name=name,
            language=language,
            organisation=organisation,
            case_number=case.number,
            buyer_name=buyer.legal_name,
            author=message.author_name,
            body=message.body,
            internal=message.internal,
            attachments=attachments,
            link=case_link(base_url, case),
            from_buyer=message.author_kind == "buyer_contact",
            answers_question=message.answer_to_id is not None,
        )
        for email, name, language in await _team(session, case, except_user=author_user)
    ]
    if message.internal:
        return team, []
    author_contact = message.author_id if message.author_kind == "buyer_contact" else None
    buyer_side = [
        BuyerMessageNotice(
            email=contact.email,
            name=contact.name,
            language=normalise(contact.language) or DEFAULT,
            organisation=organisation,
            case_number=case.number,
            author=message.author_name,
            from_buyer=author_contact is not None,
            body=message.body,
            attachments=attachments,
            question=message.question,
            portal_link=portal_case_link(base_url, case, contact),
            contact_id=contact.id,
        )
        for contact in await BuyerRepository(session).contacts(case.buyer_id)
        if contact.id != author_contact and contact.wants("messages")
    ]
    return team, buyer_side


async def proposal_notices(session: AsyncSession, proposal_id: uuid.UUID, base_url: str) -> list[BuyerProposalNotice]:
    """The e-mails to the buyer's contacts for a proposal still open for their answer (none once it is not)."""
    disputes = DisputeRepository(session)
    proposal = await disputes.proposal(proposal_id)
    if proposal is None or proposal.status is not ProposalStatus.OFFERED:
        return []
    case = await disputes.get(proposal.case_id)
    options = tuple(
        ProposalOptionLine(
            kind=option.kind.value,
            amount=option.amount,
            description=option.description,
            schedule=tuple((date.fromisoformat(i["due_on"]), Decimal(i["amount"])) for i in option.schedule or []),
        )
        for option in await disputes.options([proposal.id])
    )
    organisation = (await get_current_tenant(session)).name
    return [
        BuyerProposalNotice(
            email=contact.email,
            name=contact.name,
            language=normalise(contact.language) or DEFAULT,
            organisation=organisation,
            case_number=case.number,
            currency=case.currency,
            message=proposal.message,
            options=options,
            portal_link=portal_case_link(base_url, case, contact),
            contact_id=contact.id,
        )
        for contact in await BuyerRepository(session).contacts(case.buyer_id)
        if contact.wants("proposals")
    ]


async def task_notice(session: AsyncSession, task_id: uuid.UUID, base_url: str) -> TaskNotice | None:
    """The e-mail to the assignee of a task still open; None when there is no one to tell."""
    disputes = DisputeRepository(session)
    task = await disputes.task(task_id)
    if task is None or task.status is not TaskStatus.OPEN:
        return None
    case = await disputes.get(task.case_id)
    assignee = next(iter(await _people(session, [task.assignee_user_id])), None)
    if assignee is None or assignee[0] == task.created_by:
        return None  # left the team meanwhile, or asked themselves
    email, name, language = assignee
    buyer = await BuyerRepository(session).get(case.buyer_id)
    return TaskNotice(
        email=email,
        name=name,
        language=language,
        organisation=(await get_current_tenant(session)).name,
        case_number=case.number,
        buyer_name=buyer.legal_name,
        team=task.team,
        question=task.question,
        due_on=task.due_on,
        asked_by=task.created_by,
        link=case_link(base_url, case),
    )


async def team_event_notices(
    session: AsyncSession,
    case_id: uuid.UUID,
    event: str,
    base_url: str,
    *,
    contact: str,
    proposal_id: uuid.UUID | None = None,
    files: tuple[str, ...] = (),
) -> list[TeamEventNotice]:
    """The e-mails to the team for a buyer's action in the portal: to the case's owner and the people
    with a task on it; a case nobody owns yet goes to the tenant's owners, admins and credit managers."""
    disputes = DisputeRepository(session)
    case = await disputes.get(case_id)
    if case is None or event not in BUYER_EVENTS:
        return []
    people = await _team(session, case, except_user=None)
    if not people:
        people = await _people(session, list(await disputes.active_member_ids_in_roles(UNOWNED_CASE_ROLES)))
    proposal = await disputes.proposal(proposal_id) if proposal_id else None
    option = await disputes.option(proposal.accepted_option_id) if proposal and proposal.accepted_option_id else None
    buyer = await BuyerRepository(session).get(case.buyer_id)
    return [
        TeamEventNotice(
            email=email,
            name=name,
            language=language,
            event=event,
            case_number=case.number,
            buyer_name=buyer.legal_name,
            contact=contact,
            currency=case.currency,
            amount=case.disputed_amount,
            description=case.description if event == "raised" else None,
            option=OPTION_LABELS[option.kind] if option else None,
            option_amount=option.amount if option else None,
            counter_amount=proposal.counter_amount if proposal else None,
            note=proposal.response_note if proposal else None,
            files=files,
            link=case_link(base_url, case),
        )
        for email, name, language in people
    ]
