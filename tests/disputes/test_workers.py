"""Dispute jobs as the worker runs them: a case the ledger settles closes by itself, and the people of a
case hear of new messages and tasks by e-mail — the buyer only ever of what was written for the buyer."""

from __future__ import annotations

import email
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal as D

from dramatiq import Message, Worker
from sqlalchemy import func, select

from backend.audit.models import AuditEvent
from backend.buyers import service as buyers
from backend.buyers.models import BuyerContact
from backend.disputes import service as disputes
from backend.disputes.models import DisputeCase, DisputeEvent, DisputeState, Outcome
from backend.disputes.service import Attachment, ItemInput, NewTask
from backend.invoices import service as ledger
from backend.invoices.models import InvoiceStatus
from backend.jobs.models import OutboxJob
from backend.tenants.models import Role
from tests.disputes.helpers import open_case, person, uow
from tests.disputes.test_settings import Member, join
from tests.factories import make_buyer, make_invoice, owner_of
from tests.test_team import run_jobs
from workers import disputes as dispute_jobs
from workers.actors import broker

# --- a case the ledger settles ---------------------------------------------------------------------


async def _invoice_and_case(supplier, *, disputed: str | None = "300.00"):
    """An invoice of 1,130.00 (10 × 100.00 + 13 % tax) and a case disputing `disputed` of it (None: all of it)."""
    buyer_id = await make_buyer(supplier)
    invoice = await make_invoice(supplier, buyer_id)
    case = await open_case(supplier, buyer_id, [ItemInput(invoice.id, amount=disputed)])
    return buyer_id, invoice, case


async def _pay(supplier, buyer_id, amount: str) -> None:
    async with uow(supplier) as session:
        await ledger.record_payment(session, owner_of(supplier), buyer_id=buyer_id, amount=amount, currency="CNY")


async def _state(supplier, case_id, invoice_id):
    async with uow(supplier) as session:
        case = await disputes.get_case(session, owner_of(supplier), case_id)
        invoice = await ledger.get_invoice(session, owner_of(supplier), invoice_id)
        return case, invoice


async def _count(supplier, model, *where) -> int:
    async with uow(supplier) as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def test_a_payment_of_the_disputed_part_in_full_closes_the_case(world):
    buyer_id, invoice, case = await _invoice_and_case(world.a)
    await _pay(world.a, buyer_id, "830.00")  # the undisputed part
    await run_jobs()
    assert (await _state(world.a, case.id, invoice.id))[0].state is DisputeState.OPEN
    await _pay(world.a, buyer_id, "300.00")
    await run_jobs()
    closed, paid = await _state(world.a, case.id, invoice.id)
    assert closed.state is DisputeState.RESOLVED and closed.closed_at is not None
    assert (closed.collected_amount, closed.credited_amount, closed.outcome) == (D("300.00"), D("0"), Outcome.INVALID)
    assert (paid.status, paid.disputed_amount, paid.open_amount) == (InvoiceStatus.PAID, D("0"), D("0"))
    assert await _count(world.a, DisputeEvent, DisputeEvent.case_id == case.id, DisputeEvent.kind == "closed_settled") == 1
    actor = await _audit_of(world.a, case.id, "dispute.closed_settled")
    assert actor == [("job", "disputes.check_settled")]


async def _audit_of(supplier, case_id, action):
    async with uow(supplier) as session:
        statement = select(AuditEvent.actor_kind, AuditEvent.actor_label).where(
            AuditEvent.action == action, AuditEvent.object_id == str(case_id)
        )
        return [tuple(row) for row in (await session.execute(statement)).all()]


async def test_a_credit_note_through_the_ledger_on_the_whole_held_amount_closes_the_case(world):
    _buyer_id, invoice, case = await _invoice_and_case(world.a, disputed=None)
    assert case.disputed_amount == D("1130.00")
    async with uow(world.a) as session:
        await ledger.record_credit_note(
            session,
            owner_of(world.a),
            invoice.id,
            amount="1130.00",
            reason="Goods returned",
            entry_date=None,
            document_number=None,
        )
    await run_jobs()
    closed, credited = await _state(world.a, case.id, invoice.id)
    assert closed.state is DisputeState.RESOLVED
    # Credited in full by the supplier: nothing was collected, and the buyer was right.
    assert (closed.credited_amount, closed.collected_amount, closed.outcome) == (D("1130.00"), D("0"), Outcome.VALID)
    assert (credited.status, credited.disputed_amount) == (InvoiceStatus.CREDITED, D("0"))


async def test_a_case_paid_in_part_and_credited_for_the_rest_closes_as_partly_valid(world):
    buyer_id, invoice, case = await _invoice_and_case(world.a)
    await _pay(world.a, buyer_id, "1030.00")  # 830.00 undisputed, then 200.00 of the 300.00 disputed
    async with uow(world.a) as session:
        await ledger.record_credit_note(
            session,
            owner_of(world.a),
            invoice.id,
            amount="100.00",
            reason="Scratched bearings",
            entry_date=None,
            document_number=None,
        )
    await run_jobs()
    closed, _invoice = await _state(world.a, case.id, invoice.id)
    assert closed.state is DisputeState.RESOLVED
    assert (closed.collected_amount, closed.credited_amount, closed.outcome) == (D("200.00"), D("100.00"), Outcome.PARTLY_VALID)


async def test_a_partial_payment_of_the_disputed_part_leaves_the_case_open(world):
    buyer_id, invoice, case = await _invoice_and_case(world.a)
    await _pay(world.a, buyer_id, "1000.00")  # 830.00 undisputed, then 170.00 of the 300.00 disputed
    await run_jobs()
    still, invoice = await _state(world.a, case.id, invoice.id)
    assert still.state is DisputeState.OPEN and still.closed_at is None
    assert (invoice.status, invoice.disputed_amount, invoice.open_amount) == (InvoiceStatus.DISPUTED, D("130.00"), D("130.00"))


async def test_the_settled_job_delivered_twice_closes_the_case_once(world):
    buyer_id, invoice, case = await _invoice_and_case(world.a)
    await _pay(world.a, buyer_id, "1130.00")
    async with uow(world.a) as session:
        job = (await session.scalars(select(OutboxJob).where(OutboxJob.actor == "disputes.check_settled"))).one()
    await run_jobs()
    # The broker hands the same message over again, as Redis does after a worker dies before acking.
    broker.enqueue(
        Message(
            queue_name="default",
            actor_name=job.actor,
            args=(),
            kwargs={"tenant_id": str(job.tenant_id), "job_id": str(job.id), **job.payload},
            options={},
            message_id=str(job.id),
        )
    )
    worker = Worker(broker, worker_threads=1)
    worker.start()
    broker.join("default", timeout=10_000)
    worker.stop()
    # And a second job for the same case (another entry on the invoice) finds it closed already.
    await dispute_jobs.check_settled.run_async(tenant_id=str(world.a.tenant_id), job_id=str(uuid.uuid4()), case_id=str(case.id))
    assert await _count(world.a, DisputeEvent, DisputeEvent.case_id == case.id, DisputeEvent.kind == "closed_settled") == 1
    assert len(await _audit_of(world.a, case.id, "dispute.closed_settled")) == 1
    assert (await _state(world.a, case.id, invoice.id))[0].collected_amount == D("300.00")


# --- e-mails of the thread and of tasks --------------------------------------------------------------


def _mails_to(mail_dir, address: str) -> list[email.message.EmailMessage]:
    found = []
    for path in mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            found.append(message)
    return found


def _text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


async def _contact(supplier, buyer_id, name: str, language: str):
    async with uow(supplier) as session:
        return await buyers.add_contact(
            session,
            owner_of(supplier),
            buyer_id,
            name=name,
            email=f"{name.split()[0].lower()}.{secrets.token_hex(3)}@buyer.example.com",
            language=language,
        )


@dataclass
class Scene:
    case: DisputeCase
    wang: Member  # owns the case
    li_na: BuyerContact  # reads Chinese
    tom: BuyerContact  # reads English


async def _case_with_people(world) -> Scene:
    """A case owned by Wang, a task on it for the collaborator, and a buyer with a contact in Chinese and one in English."""
    wang = await join(world.a, "Wang")
    buyer_id = await make_buyer(world.a, "Acme Trading Ltd")
    li_na = await _contact(world.a, buyer_id, "Li Na", "zh-CN")
    tom = await _contact(world.a, buyer_id, "Tom Baker", "en")
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    async with uow(world.a) as session:
        await disputes.assign_case(session, owner_of(world.a), case.id, wang.id)
        await disputes.create_task(
            session,
            owner_of(world.a),
            case.id,
            NewTask(
                world.a.collaborator.user_id,
                "quality",
                "Were the bearings scratched before shipping?",
                date.today() + timedelta(days=3),
            ),
        )
    await run_jobs()
    return Scene(case, wang, li_na, tom)


async def _post(supplier, principal, case_id, body: str, *, internal: bool, files=()):
    async with uow(supplier) as session:
        await disputes.post_message(session, principal, case_id, body=body, internal=internal, attachments=list(files))


async def test_an_internal_note_reaches_the_owner_and_the_task_assignee_but_never_the_buyer(world, mail_dir):
    scene = await _case_with_people(world)
    note = f"Internal: the carrier admitted the damage, but let us offer 50% first ({secrets.token_hex(3)})."
    await _post(world.a, owner_of(world.a), scene.case.id, note, internal=True)
    await run_jobs()
    to_owner, to_assignee = _mails_to(mail_dir, scene.wang.principal.label), _mails_to(mail_dir, world.a.collaborator.email)
    assert [note in _text(m) for m in to_owner] == [True]
    assert [m for m in to_assignee if note in _text(m)] != []  # beside the e-mail of the task itself
    assert "Internal note" in to_owner[0]["Subject"] and scene.case.number in to_owner[0]["Subject"]
    assert f"/console/disputes/{scene.case.id}" in _text(to_owner[0])
    assert _mails_to(mail_dir, scene.li_na.email) == [] and _mails_to(mail_dir, scene.tom.email) == []
    assert _mails_to(mail_dir, world.a.finance.email) == []  # the author is not told of their own note


async def test_the_author_of_a_note_is_not_told_of_it(world, mail_dir):
    scene = await _case_with_people(world)
    note = f"Wang's own note {secrets.token_hex(3)}"
    await _post(world.a, scene.wang.principal, scene.case.id, note, internal=True)
    await run_jobs()
    assert _mails_to(mail_dir, scene.wang.principal.label) == []
    assert len([m for m in _mails_to(mail_dir, world.a.collaborator.email) if note in _text(m)]) == 1


async def test_an_external_message_reaches_the_buyers_contacts_each_in_their_language(world, mail_dir):
    scene = await _case_with_people(world)
    text = f"We can offer a credit note of 150.00 for the scratched bearings ({secrets.token_hex(3)})."
    await _post(world.a, scene.wang.principal, scene.case.id, text, internal=False, files=[Attachment("offer.pdf", _pdf())])
    await run_jobs()
    [chinese], [english] = _mails_to(mail_dir, scene.li_na.email), _mails_to(mail_dir, scene.tom.email)
    assert text in _text(chinese) and text in _text(english)
    assert chinese["Content-Language"] == "zh-CN" and _text(chinese).startswith("Li Na，您好：")
    assert english["Content-Language"] == "en" and _text(english).startswith("Hello Tom Baker,")
    assert "offer.pdf" in _text(english) and scene.case.number in english["Subject"]
    # Nothing of the team's side: no link into the console, no other recipient's address.
    for message in (chinese, english):
        assert "/console/" not in _text(message) and world.a.collaborator.email not in message.as_string()
    assert len([m for m in _mails_to(mail_dir, world.a.collaborator.email) if text in _text(m)]) == 1
    assert _mails_to(mail_dir, scene.wang.principal.label) == []


async def test_no_e_mail_to_the_buyer_ever_holds_an_internal_notes_text(world, mail_dir):
    scene = await _case_with_people(world)
    notes = [f"Internal {n}: our logistics partner is at fault ({secrets.token_hex(4)})" for n in range(3)]
    messages = [f"To the buyer {n}: we are looking into it ({secrets.token_hex(4)})" for n in range(3)]
    for note, message in zip(notes, messages, strict=True):
        await _post(world.a, scene.wang.principal, scene.case.id, message, internal=False)
        await _post(world.a, owner_of(world.a), scene.case.id, note, internal=True)
    await run_jobs()
    to_buyer = _mails_to(mail_dir, scene.li_na.email) + _mails_to(mail_dir, scene.tom.email)
    assert len(to_buyer) == 6
    buyer_text = "\n".join(m.as_string() + _text(m) for m in to_buyer)
    assert all(message in buyer_text for message in messages)
    assert not any(note in buyer_text for note in notes)
    team_text = "\n".join(_text(m) for m in _mails_to(mail_dir, world.a.collaborator.email))
    assert all(note in team_text for note in notes)  # the notes were sent, to the team


async def test_an_actor_finds_no_message_of_another_tenant(world, mail_dir):
    scene = await _case_with_people(world)
    secret = f"B must not mail this {secrets.token_hex(3)}"
    await _post(world.a, scene.wang.principal, scene.case.id, secret, internal=False)
    async with uow(world.a) as session:
        job = (
            await session.scalars(
                select(OutboxJob).where(OutboxJob.actor == "disputes.notify_message").order_by(OutboxJob.created_at.desc())
            )
        ).first()
    # B's tenant in the message, A's message id: the query is scoped to B and finds nothing.
    await dispute_jobs.notify_message.run_async(tenant_id=str(world.b.tenant_id), job_id=str(uuid.uuid4()), **job.payload)
    assert _mails_to(mail_dir, scene.li_na.email) == []


async def test_a_new_task_e_mails_its_assignee_the_question_due_date_and_case(world, mail_dir):
    scene = await _case_with_people(world)
    [asked] = _mails_to(mail_dir, world.a.collaborator.email)
    text = _text(asked)
    assert "Were the bearings scratched before shipping?" in text and f"/console/disputes/{scene.case.id}" in text
    due = date.today() + timedelta(days=3)
    assert due.strftime("%B") in asked["Subject"] and str(due.day) in asked["Subject"] and scene.case.number in asked["Subject"]
    assert "Quality" in text and "Acme Trading Ltd" in text
    assert _mails_to(mail_dir, scene.li_na.email) == [] and _mails_to(mail_dir, scene.tom.email) == []


async def test_a_task_cancelled_before_its_job_runs_sends_nothing(world, mail_dir):
    scene = await _case_with_people(world)
    async with uow(world.a) as session:
        task = await disputes.create_task(
            session,
            owner_of(world.a),
            scene.case.id,
            NewTask(scene.wang.id, "sales", "Did sales promise a discount?", date.today()),
        )
    async with uow(world.a) as session:
        await disputes.cancel_task(session, person(world.a, Role.OWNER), task.id)
    await run_jobs()
    assert not any("promise a discount" in _text(m) for m in _mails_to(mail_dir, scene.wang.principal.label))


def _pdf():
    import io

    return io.BytesIO(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
