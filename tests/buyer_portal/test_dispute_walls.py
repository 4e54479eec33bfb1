"""What the buyer portal never shows: the team's internal notes, their files, tasks, checklist, approvals
and evidence on any page; another buyer's disputes at the same supplier, or anything at another
supplier (404, the same as a missing id, and nothing changed by a refused POST)."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

from backend.disputes import service as disputes
from backend.disputes.models import DisputeMessage, ProposalStatus
from backend.disputes.service import Attachment, ItemInput, NewTask, Resolution
from backend.tenants.models import Role
from tests.buyer_portal.test_disputes import PDF, UUID, contact_signed_in, count, png
from tests.conftest import csrf_token
from tests.disputes.helpers import credit, open_case, propose, uow
from tests.disputes.team import add_member
from tests.disputes.test_buyer_view import SECRETS
from tests.factories import make_buyer, make_invoice, owner_of

TEAM_EVIDENCE = "our-margin-analysis-TEAM-ONLY.pdf"


async def test_internal_notes_never_appear_in_any_portal_response(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="400.00")])
    owner = owner_of(world.a)
    collaborator = await add_member(world.a, Role.COLLABORATOR, "Sam Sales")
    async with uow(world.a) as session:
        await disputes.post_message(session, owner, case.id, body="We are looking into it.", internal=False)
        await disputes.post_message(
            session,
            owner,
            case.id,
            body="Photos attached for you.",
            internal=False,
            attachments=[Attachment("for-buyer.png", io.BytesIO(png()))],
        )
        note = await disputes.post_message(
            session,
            collaborator,
            case.id,
            body=SECRETS["note"],
            internal=True,
            attachments=[Attachment(SECRETS["note_file"], io.BytesIO(PDF))],
        )
        team_evidence = await disputes.add_evidence(session, owner, case.id, filename=TEAM_EVIDENCE, source=io.BytesIO(PDF))
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
        note_files = (await disputes.case_details(session, owner, case.id)).messages
    note_file = next(files[0] for message, files in note_files if message.id == note.id)

    await contact_signed_in(client, mail_dir, world.a, buyer_id, name="Li Na")
    proposal, options = await propose(world.a, case.id, credit("300.00"))
    token = await csrf_token(client, f"/portal/disputes/{case.id}")
    accepted = await client.post(
        f"/portal/disputes/{case.id}/proposals/{proposal.id}/answer",
        data={"_csrf_token": token, "choice": f"accept:{options[0].id}"},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    async with uow(world.a) as session:
        result = await disputes.resolve_case(session, owner, case.id, Resolution(outcome="valid", root_cause_code="logistics"))
    manager = await add_member(world.a, Role.CREDIT_MANAGER, "Mei Credit")
    async with uow(world.a) as session:
        await disputes.decide_approval(session, manager, result.approval.id, approve=False, note=SECRETS["approval_note"])

    secrets_all = {**SECRETS, "team_evidence": TEAM_EVIDENCE}
    page = await client.get(f"/portal/disputes/{case.id}")
    assert page.status_code == 200 and "Photos attached for you." in page.text and "for-buyer.png" in page.text
    links = set(re.findall(rf'href="(/portal/disputes/{case.id}/files/{UUID})"', page.text))
    assert len(links) == 1
    paths = [
        "/portal",
        "/portal/invoices",
        "/portal/invoices?status=all",
        f"/portal/invoices/{invoice.id}",
        "/portal/statement",
        "/portal/instalments",
        "/portal/disputes",
        "/portal/disputes/new",
        f"/portal/disputes/{case.id}",
        *links,
    ]
    for path in paths:
        response = await client.get(path)
        assert response.status_code < 500, path
        shown = (
            response.text if response.headers.get("content-type", "").startswith("text/") else response.content.decode("latin-1")
        )
        assert [name for name, secret in secrets_all.items() if secret in shown] == [], path
    # htmx's partial of the page holds no more than the page.
    partial = await client.get(f"/portal/disputes/{case.id}", headers={"HX-Request": "true"})
    assert [name for name, secret in secrets_all.items() if secret in partial.text] == []
    # The team's own files are not found through the portal, even by their ids.
    for file_id in (note_file.id, team_evidence.id):
        assert (await client.get(f"/portal/disputes/{case.id}/files/{file_id}")).status_code == 404


async def test_a_contact_reaches_nothing_of_another_buyer_nor_of_another_supplier(client, world, mail_dir):
    mine = await make_buyer(world.a, "Acme Trading Ltd")
    theirs = await make_buyer(world.a, "Other Buyer Ltd")
    their_invoice = await make_invoice(world.a, theirs, lines=(("Secret widget", "2", "100.00", "0"),))
    their_case = await open_case(world.a, theirs, [ItemInput(their_invoice.id, amount="150.00")])
    async with uow(world.a) as session:
        message = await disputes.post_message(
            session,
            owner_of(world.a),
            their_case.id,
            body="Which pallet?",
            internal=False,
            question=True,
            attachments=[Attachment("their-photo.png", io.BytesIO(png()))],
        )
        [(_m, [their_attachment])] = (await disputes.case_details(session, owner_of(world.a), their_case.id)).messages
    their_proposal, their_options = await propose(world.a, their_case.id, credit("50.00"))
    elsewhere_buyer = await make_buyer(world.b, "Acme Trading Ltd")
    elsewhere_case = await open_case(world.b, elsewhere_buyer, [ItemInput((await make_invoice(world.b, elsewhere_buyer)).id)])
    my_invoice = await make_invoice(world.a, mine)
    await contact_signed_in(client, mail_dir, world.a, mine)
    token = await csrf_token(client, "/portal/disputes/new")

    for case_id in (their_case.id, elsewhere_case.id):
        page = await client.get(f"/portal/disputes/{case_id}")
        assert page.status_code == 404 and "Not found" in page.text
    assert (await client.get(f"/portal/disputes/{their_case.id}/files/{their_attachment.id}")).status_code == 404
    answer = await client.post(
        f"/portal/disputes/{their_case.id}/proposals/{their_proposal.id}/answer",
        data={"_csrf_token": token, "choice": f"accept:{their_options[0].id}"},
    )
    assert answer.status_code == 404
    written = await client.post(
        f"/portal/disputes/{their_case.id}/messages",
        data={"_csrf_token": token, "body": "Hello", "answer_to": str(message.id)},
    )
    assert written.status_code == 404
    evidence = await client.post(
        f"/portal/disputes/{their_case.id}/evidence",
        data={"_csrf_token": token},
        files=[("files", ("x.pdf", PDF, "application/pdf"))],
    )
    assert evidence.status_code == 404
    # Their proposal is still open, their thread unchanged, nothing stored for them.
    async with uow(world.a) as session:
        details = await disputes.case_details(session, owner_of(world.a), their_case.id)
    assert [p.status for p, _o in details.proposals] == [ProposalStatus.OFFERED]
    assert len(details.messages) == 1 and details.evidence == []
    assert await count(world.a, DisputeMessage, DisputeMessage.author_kind == "buyer_contact") == 0
    # Nor is the other buyer's case in my list.
    listed = await client.get("/portal/disputes")
    assert their_case.number not in listed.text and elsewhere_case.number not in listed.text

    # The raise form does not offer their invoice, even when named in the address, and refuses it when posted.
    form = await client.get(f"/portal/disputes/new?invoice={their_invoice.id}&invoice={my_invoice.id}")
    assert form.status_code == 200 and their_invoice.number not in form.text and "Secret widget" not in form.text
    assert f'name="whole.{my_invoice.id}" value="1" checked' in form.text
    their_line = details.invoices[0].invoice  # the invoice; its line comes from the team's view
    async with uow(world.a) as session:
        lines = (await disputes.disputable_invoices(session, owner_of(world.a), theirs))[0].lines
    for key in (f"whole.{their_line.id}", f"line.{lines[0][0].id}"):
        refused = await client.post(
            "/portal/disputes/new",
            data={"_csrf_token": token, key: "1", "reason_code": "quality", "description": "Not ours, but let us try"},
            follow_redirects=False,
        )
        assert refused.status_code == 422, key
        assert "not one of your open invoices" in refused.text and their_invoice.number not in refused.text
    async with uow(world.a) as session:
        theirs_now = await disputes.list_cases(session, owner_of(world.a), disputes.CaseFilter())
    assert [c.number for c, _name in theirs_now[1]] == [their_case.number]


async def test_a_console_session_does_not_open_the_buyer_portal(client, world):
    from tests.conftest import sign_in

    buyer_id = await make_buyer(world.a)
    case = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id)])
    await sign_in(client, world.a.finance)
    response = await client.get(f"/portal/disputes/{case.id}", follow_redirects=False)
    assert response.status_code in (302, 303) and "/portal/sign-in" in response.headers["location"]
