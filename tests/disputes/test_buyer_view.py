"""What the buyer sees of a case: the messages, proposals and steps meant for it, and never the team's
internal notes, their files, tasks, checklist, approvals or internal timeline."""

from __future__ import annotations

import dataclasses
import io
import secrets
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import inspect as orm_inspect

from backend.auth.principal import Principal, PrincipalKind
from backend.buyers import service as buyers
from backend.db.tenancy import TenantId
from backend.disputes import service as disputes
from backend.disputes.models import DisputeState, ProposalStatus
from backend.disputes.service import Attachment, ItemInput, NewTask, Resolution
from backend.errors import NotFound
from backend.tenants.models import Role
from tests.conftest import Supplier
from tests.disputes.helpers import credit, open_case, propose, uow
from tests.disputes.team import add_member
from tests.factories import make_buyer, make_invoice, owner_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + secrets.token_bytes(64)
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

# Every piece of text the team keeps to itself, each findable on its own.
SECRETS = {
    "note": "INTERNAL-NOTE buyer is stalling again, sales says push hard",
    "note_file": "internal-margin-calculation.pdf",
    "task_question": "TASK-QUESTION did logistics lose the second pallet",
    "task_answer": "TASK-ANSWER yes, forklift damage in our warehouse",
    "checklist_note": "CHECKLIST-NOTE contract clause 7 is on our side",
    "approval_note": "APPROVAL-NOTE refused, margin too thin this quarter",
}


def strings_in(value, seen: set[int] | None = None) -> list[str]:
    """Every string reachable from `value`: dataclass fields, mapped columns of ORM rows, containers."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [s for f in dataclasses.fields(value) for s in strings_in(getattr(value, f.name), seen)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings_in(k, seen), *strings_in(v, seen))]
    if isinstance(value, list | tuple | set | frozenset):
        return [s for item in value for s in strings_in(item, seen)]
    state = orm_inspect(value, raiseerr=False)
    if state is not None and hasattr(state, "mapper"):
        return [s for column in state.mapper.column_attrs for s in strings_in(getattr(value, column.key), seen)] + [repr(value)]
    return [repr(value)]


async def contact_of(supplier: Supplier, buyer_id, name: str) -> Principal:
    async with uow(supplier) as session:
        contact = await buyers.add_contact(
            session, owner_of(supplier), buyer_id, name=name, email=f"{secrets.token_hex(4)}@buyer.example.com"
        )
    return Principal(
        kind=PrincipalKind.BUYER_CONTACT,
        id=contact.id,
        tenant_id=TenantId(supplier.tenant_id),
        role=Role.VIEWER,
        label=contact.email,
        display_name=name,
    )


async def buyer_view(supplier: Supplier, buyer_id, case_id):
    async with uow(supplier) as session:
        return await disputes.buyer_case_view(session, buyer_id, case_id)


async def test_the_buyers_view_never_holds_anything_the_team_keeps_internal(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="400.00")])
    owner = owner_of(world.a)
    collaborator = await add_member(world.a, Role.COLLABORATOR, "Sam Sales")
    async with uow(world.a) as session:
        await disputes.post_message(
            session, owner, case.id, body="We are looking into it and will revert this week.", internal=False
        )
        await disputes.post_message(
            session,
            owner,
            case.id,
            body="Photos attached for you.",
            internal=False,
            attachments=[Attachment("for-buyer.png", io.BytesIO(PNG))],
        )
        await disputes.post_message(
            session,
            collaborator,
            case.id,
            body=SECRETS["note"],
            internal=True,
            attachments=[Attachment(SECRETS["note_file"], io.BytesIO(PDF))],
        )
        task = await disputes.create_task(
            session,
            owner,
            case.id,
            NewTask(
                assignee_user_id=collaborator.id,
                team="logistics",
                question=SECRETS["task_question"],
                due_on=date.today() + timedelta(days=3),
            ),
        )
        await disputes.answer_checklist(session, owner, case.id, "contract_terms_met", "yes", SECRETS["checklist_note"])
    async with uow(world.a) as session:
        await disputes.answer_task(session, collaborator, task.id, SECRETS["task_answer"])
    proposal, options = await propose(world.a, case.id, credit("300.00"))
    buyer_contact = await contact_of(world.a, buyer_id, "Li Na")
    async with uow(world.a) as session:
        await disputes.respond_to_proposal(
            session, buyer_contact, proposal.id, "accept", option_id=options[0].id, note="Fine by us"
        )
    async with uow(world.a) as session:
        result = await disputes.resolve_case(session, owner, case.id, Resolution(outcome="valid", root_cause_code="logistics"))
    manager = await add_member(world.a, Role.CREDIT_MANAGER, "Mei Credit")
    async with uow(world.a) as session:
        await disputes.decide_approval(session, manager, result.approval.id, approve=False, note=SECRETS["approval_note"])

    # The team sees all of it.
    async with uow(world.a) as session:
        team_view = await disputes.case_details(session, owner, case.id)
    team_text = "\n".join(strings_in(team_view))
    assert all(secret in team_text for secret in SECRETS.values()), [k for k, v in SECRETS.items() if v not in team_text]

    view = await buyer_view(world.a, buyer_id, case.id)
    buyer_text = "\n".join(strings_in(view))
    assert [name for name, secret in SECRETS.items() if secret in buyer_text] == []
    # ...yet it is the buyer's case, with what is meant for the buyer.
    assert [m.body for m, _files in view.messages] == [
        "We are looking into it and will revert this week.",
        "Photos attached for you.",
    ]
    assert [[f.filename for f in files] for _m, files in view.messages] == [[], ["for-buyer.png"]]
    assert [(p.status, [o.amount for o in opts]) for p, opts in view.proposals] == [(ProposalStatus.ACCEPTED, [D("300.00")])]
    assert {e.kind for e in view.events} <= disputes.EXTERNAL_EVENTS
    assert {"registered", "message", "proposal_offered", "proposal_answered"} <= {e.kind for e in view.events}
    assert not {f.name for f in dataclasses.fields(view)} & {"tasks", "checklist", "approvals", "names"}
    assert view.case.state is DisputeState.AGREED and [entry.held for entry in view.invoices] == [D("400.00")]


async def test_another_buyers_case_is_404_for_the_buyer_and_for_its_contacts(world):
    buyer_id = await make_buyer(world.a)
    other_buyer = await make_buyer(world.a, "Other Buyer Ltd")
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="100.00")])
    with pytest.raises(NotFound):
        await buyer_view(world.a, other_buyer, case.id)
    # Another tenant's session does not find the case at all, even naming the right buyer.
    with pytest.raises(NotFound):
        await buyer_view(world.b, buyer_id, case.id)
    # A contact of another buyer cannot answer this buyer's proposal; this buyer's contact can.
    proposal, options = await propose(world.a, case.id, credit("50.00"))
    outsider = await contact_of(world.a, other_buyer, "Zhang Wei")
    with pytest.raises(NotFound):
        async with uow(world.a) as session:
            await disputes.respond_to_proposal(session, outsider, proposal.id, "accept", option_id=options[0].id)
    assert [p.status for p, _o in (await buyer_view(world.a, buyer_id, case.id)).proposals] == [ProposalStatus.OFFERED]
    insider = await contact_of(world.a, buyer_id, "Li Na")
    async with uow(world.a) as session:
        answered = await disputes.respond_to_proposal(session, insider, proposal.id, "decline", note="Too little")
    assert (answered.status, answered.responded_by) == (ProposalStatus.DECLINED, "Li Na")


async def test_the_buyer_sees_its_own_evidence_and_never_the_teams(world):
    from backend.disputes import portal

    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="100.00")])
    contact = dataclasses.replace(await contact_of(world.a, buyer_id, "Li Na"), buyer_id=buyer_id)
    async with uow(world.a) as session:
        await disputes.add_evidence(session, owner_of(world.a), case.id, filename="our-margin.pdf", source=io.BytesIO(PDF))
        await portal.add_evidence(session, contact, case.id, [Attachment("their-photo.png", io.BytesIO(PNG))])
    view = await buyer_view(world.a, buyer_id, case.id)
    assert [f.filename for f in view.evidence] == ["their-photo.png"]
    async with uow(world.a) as session:
        team_view = await disputes.case_details(session, owner_of(world.a), case.id)
        assert sorted(f.filename for f in team_view.evidence) == ["our-margin.pdf", "their-photo.png"]
        # The team opens both; the buyer only its own.
        for file in team_view.evidence:
            _stored, content = await disputes.case_file(session, owner_of(world.a), case.id, file.id)
            content.close()
        ours = next(f for f in team_view.evidence if f.filename == "our-margin.pdf")
        with pytest.raises(NotFound):
            await portal.case_file(session, contact, case.id, ours.id)
