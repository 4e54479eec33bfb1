"""The buyer's disputes in the portal, through the pages as a signed-in contact does it: raising one on
chosen lines with evidence, answering a question, accepting, countering or declining a proposal; a
refused file refusing the whole dispute with nothing kept; and the team's side of it (questions,
the buyer's evidence marked in the console)."""

from __future__ import annotations

import hashlib
import re
import secrets
import struct
import uuid
import zlib
from contextlib import asynccontextmanager
from datetime import date, timedelta
from decimal import Decimal as D
from html.parser import HTMLParser

from litestar.testing import AsyncTestClient
from sqlalchemy import func, inspect, select

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.disputes import service as disputes
from backend.disputes.models import Channel, DisputeCase, DisputeMessage, DisputeState, ProposalStatus
from backend.disputes.service import BUYER_EVIDENCE_FILE, ItemInput, OptionInput
from backend.files import storage
from backend.files.uploads import MAX_UPLOAD_BYTES
from backend.invoices import service as ledger
from backend.invoices.models import Invoice, StoredFile
from tests.buyer_portal.helpers import invited_contact, mails_to, sign_in_to_portal
from tests.conftest import Supplier, csrf_token, sign_in
from tests.disputes.helpers import credit, open_case, propose, uow
from tests.factories import make_buyer, make_invoice, owner_of
from tests.test_team import run_jobs

TWO_LINES = (("Bearing 6204", "10", "100.00", "13"), ("Freight", "1", "50.00", "0"))  # 1,130.00 + 50.00
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def png(width: int = 4, height: int = 3) -> bytes:
    """A real (tiny, grey) PNG, so that a browser could show it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def contact_signed_in(client, mail_dir, supplier: Supplier, buyer_id, *, name: str = "Li Na") -> str:
    """A contact of the buyer, invited and signed in to the portal in `client`; returns its e-mail."""
    email = f"{name.split()[0].lower()}.{secrets.token_hex(3)}@buyer.example.com"
    await invited_contact(supplier, buyer_id, email, name=name)
    await sign_in_to_portal(client, mail_dir, email)
    return email


async def count(supplier: Supplier, model, *where) -> int:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def files_in_storage(supplier: Supplier) -> list:
    root = getattr(storage.get_storage(), "root", None)
    folder = root / str(supplier.tenant_id) if root else None
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder and folder.exists() else []


async def held_on(supplier: Supplier, invoice_id) -> D:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return (await ledger.get_invoice(session, owner_of(supplier), invoice_id)).disputed_amount


async def case_of(supplier: Supplier, case_id) -> DisputeCase:
    async with uow(supplier) as session:
        return await disputes.get_case(session, owner_of(supplier), case_id)


@asynccontextmanager
async def console_of(app, supplier: Supplier):
    """The supplier's owner in a browser of their own, signed in to the console."""
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as other:
        await sign_in(other, supplier.finance)
        yield other


def raise_form(token: str, **fields) -> dict:
    return {"_csrf_token": token, "reason_code": "quality", "description": "Half of the bearings arrived scratched."} | fields


# --- raising a dispute ---------------------------------------------------------------------------


async def test_a_buyer_raises_a_line_level_dispute_with_two_files(app, client, world, mail_dir):
    buyer_id = await make_buyer(world.a, "Ningbo Bearings Co.")
    invoice = await make_invoice(world.a, buyer_id, lines=TWO_LINES)
    email = await contact_signed_in(client, mail_dir, world.a, buyer_id)

    # From the invoice's link: its lines are offered, the whole invoice ticked, the limits said up front.
    form = await client.get(f"/portal/disputes/new?invoice={invoice.id}")
    assert form.status_code == 200
    assert "Bearing 6204" in form.text and "Freight" in form.text and invoice.number in form.text
    assert re.search(rf'name="whole\.{invoice.id}" value="1" checked', form.text)
    assert "20 MB each" in form.text and "at most 10 files" in form.text and "PDF, PNG, JPEG, WebP or TIFF" in form.text
    assert "<progress" in form.text and "data-upload" in form.text and 'type="file" multiple' in form.text
    bearing = re.search(rf'name="line\.({UUID})"', form.text).group(1)
    assert f'name="amount.{bearing}" value="1130.00"' in form.text  # prefilled with what is left to dispute

    photo, letter = png(), PDF + b"% our complaint letter\n"
    sent = await client.post(
        "/portal/disputes/new",
        data=raise_form(
            await csrf_token(client, "/portal/disputes/new"), **{f"line.{bearing}": "1", f"amount.{bearing}": "565.00"}
        ),
        files=[("files", ("scratches.png", photo, "image/png")), ("files", ("complaint.pdf", letter, "application/pdf"))],
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text[:2000]
    case_id = uuid.UUID(re.fullmatch(rf"/portal/disputes/({UUID})", sent.headers["location"]).group(1))

    case = await case_of(world.a, case_id)
    assert (case.channel, case.created_by, case.state, case.disputed_amount) == (
        Channel.PORTAL,
        email,
        DisputeState.OPEN,
        D("565"),
    )
    assert await held_on(world.a, invoice.id) == D("565.00")  # held out of collection at once
    async with uow(world.a) as session:
        details = await disputes.case_details(session, owner_of(world.a), case.id)
    kept = {f.filename: f for f in details.evidence}
    assert set(kept) == {"scratches.png", "complaint.pdf"}
    assert {f.owner_type for f in kept.values()} == {BUYER_EVIDENCE_FILE}
    assert kept["scratches.png"].sha256 == hashlib.sha256(photo).hexdigest()
    assert kept["complaint.pdf"].sha256 == hashlib.sha256(letter).hexdigest()
    assert [(item.invoice_id, line.line_no if line else None) for entry in details.invoices for item, line in entry.items] == [
        (invoice.id, 1)
    ]

    # The buyer's page shows the case, its files (downloadable), and where it stands.
    page = await client.get(f"/portal/disputes/{case_id}")
    assert page.status_code == 200
    assert case.number in page.text and "scratches.png" in page.text and "complaint.pdf" in page.text
    assert "Half of the bearings arrived scratched." in page.text
    image = await client.get(f"/portal/disputes/{case_id}/files/{kept['scratches.png'].id}")
    assert image.status_code == 200 and image.content == photo and image.headers["x-content-type-options"] == "nosniff"
    listed = await client.get("/portal/disputes")
    assert case.number in listed.text and invoice.number in listed.text

    # The team sees the buyer's files marked as the buyer's, and may open them.
    async with console_of(app, world.a) as console:
        team_page = await console.get(f"/console/disputes/{case_id}")
        assert "From the buyer" in team_page.text and "scratches.png" in team_page.text
        served = await console.get(f"/console/disputes/{case_id}/files/{kept['complaint.pdf'].id}")
        assert served.status_code == 200 and served.content == letter


async def test_a_refused_form_names_each_problem_beside_its_field_and_keeps_what_was_typed(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id, lines=TWO_LINES)
    await contact_signed_in(client, mail_dir, world.a, buyer_id)
    form = await client.get("/portal/disputes/new")
    bearing = re.search(rf'name="line\.({UUID})"', form.text).group(1)
    refused = await client.post(
        "/portal/disputes/new",
        data={
            "_csrf_token": await csrf_token(client, "/portal/disputes/new"),
            f"line.{bearing}": "1",
            f"amount.{bearing}": "5000.00",
            "reason_code": "",
            "description": "Scratched, see the photos",
        },
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert re.search(rf'id="amount\.{bearing}-error"[^>]*>At most CN¥1,130\.00 is left to dispute here\.', refused.text)
    assert 'id="dispute-reason-error"' in refused.text and "Choose the reason for the dispute." in refused.text
    assert "Scratched, see the photos" in refused.text and 'value="5000.00"' in refused.text
    assert await count(world.a, DisputeCase) == 0 and await held_on(world.a, invoice.id) == 0

    # With htmx (or portal.js), the answer is the form alone, to swap in place.
    partial = await client.post(
        "/portal/disputes/new",
        data={"_csrf_token": await csrf_token(client, "/portal/disputes/new"), "description": "x"},
        headers={"HX-Request": "true"},
        follow_redirects=False,
    )
    assert partial.status_code == 422 and partial.text.lstrip().startswith('<div id="dispute-new">')
    assert "Choose at least one invoice, or some lines of one, to dispute." in partial.text and "<html" not in partial.text


async def open_invoices_due_earlier(supplier: Supplier, model: Invoice, count: int) -> None:
    """`count` more open invoices of the same buyer, copies of `model` falling due before it (rows
    written directly: only the list of open invoices reads them)."""
    columns = [c.key for c in inspect(Invoice).column_attrs if c.key not in ("id", "number", "due_date", "created_at")]
    async with uow(supplier) as session:
        for n in range(count):
            copy = Invoice(**{key: getattr(model, key) for key in columns})
            copy.number, copy.due_date = f"EARLIER-{secrets.token_hex(3)}-{n:03d}", model.due_date - timedelta(days=30 + n)
            session.add(copy)


async def test_a_buyer_with_more_open_invoices_than_listed_disputes_the_latest_due_from_its_link(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    latest = await make_invoice(world.a, buyer_id, due_date=date.today() + timedelta(days=300))
    await open_invoices_due_earlier(world.a, latest, 204)  # 205 open invoices in all
    await contact_signed_in(client, mail_dir, world.a, buyer_id)

    form = await client.get("/portal/disputes/new")
    assert f"<strong>{latest.number}</strong>" not in form.text and "it shows the 200 earliest due" in form.text
    # From the invoice's link it is on the form, ticked, and can be disputed.
    form = await client.get(f"/portal/disputes/new?invoice={latest.id}")
    assert re.search(rf'name="whole\.{latest.id}" value="1" checked', form.text)
    sent = await client.post(
        "/portal/disputes/new",
        data=raise_form(await csrf_token(client, "/portal/disputes/new"), **{f"whole.{latest.id}": "1"}),
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text[:2000]
    assert await held_on(world.a, latest.id) == latest.gross_amount

    # Another buyer's invoice named in the address is still not on the form, nor accepted when posted.
    other = await make_invoice(world.a, await make_buyer(world.a))
    form = await client.get(f"/portal/disputes/new?invoice={other.id}")
    assert other.number not in form.text
    refused = await client.post(
        "/portal/disputes/new",
        data=raise_form(await csrf_token(client, "/portal/disputes/new"), **{f"whole.{other.id}": "1"}),
    )
    assert refused.status_code == 422 and "not one of your open invoices" in refused.text
    assert await held_on(world.a, other.id) == D("0")


async def test_a_file_over_the_limit_refuses_the_whole_dispute_and_nothing_is_stored(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    await contact_signed_in(client, mail_dir, world.a, buyer_id)
    too_big = PDF + b"\x00" * (MAX_UPLOAD_BYTES + 1 - len(PDF))
    refused = await client.post(
        "/portal/disputes/new",
        data=raise_form(await csrf_token(client, "/portal/disputes/new"), **{f"whole.{invoice.id}": "1"}),
        # The first file is fine and is copied in before the second is found too large.
        files=[("files", ("photo.png", png(), "image/png")), ("files", ("scan.pdf", too_big, "application/pdf"))],
        follow_redirects=False,
    )
    assert refused.status_code == 413
    assert "scan.pdf: The file is larger than 20 MB." in refused.text
    assert await count(world.a, DisputeCase) == 0 and await count(world.a, StoredFile) == 0
    assert files_in_storage(world.a) == [] and await held_on(world.a, invoice.id) == 0


async def test_a_file_of_a_refused_type_refuses_the_whole_dispute_and_nothing_is_stored(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    await contact_signed_in(client, mail_dir, world.a, buyer_id)
    windows_program = b"MZ\x90\x00\x03\x00\x00\x00" + secrets.token_bytes(200)
    for name, content, problem in (
        ("invoice-copy.pdf", windows_program, "invoice-copy.pdf: Evidence must be a PDF, PNG, JPEG, WebP or TIFF file."),
        ("notes.pdf", b"just some text, not a PDF\n", "notes.pdf: Evidence must be a PDF, PNG, JPEG, WebP or TIFF file."),
        ("photo.pdf", png(), "The file&#39;s name (photo.pdf) does not match its content (image/png)"),
    ):
        refused = await client.post(
            "/portal/disputes/new",
            data=raise_form(await csrf_token(client, "/portal/disputes/new"), **{f"whole.{invoice.id}": "1"}),
            files=[("files", ("good.png", png(), "image/png")), ("files", (name, content, "application/pdf"))],
            follow_redirects=False,
        )
        assert refused.status_code == 422, name
        assert re.search(r'id="dispute-files-error" role="alert">[^<]*' + re.escape(problem), refused.text), name
        assert await count(world.a, DisputeCase) == 0 and await count(world.a, StoredFile) == 0
        assert files_in_storage(world.a) == [] and await held_on(world.a, invoice.id) == 0
        # What was chosen and typed is still there to send again.
        assert f'name="whole.{invoice.id}" value="1" checked' in refused.text


# --- answering: questions and proposals ------------------------------------------------------------


async def test_the_buyer_answers_a_question_and_the_team_is_told(app, client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    email = await contact_signed_in(client, mail_dir, world.a, buyer_id, name="Li Na")
    colleague = f"tom.{secrets.token_hex(3)}@buyer.example.com"
    await invited_contact(world.a, buyer_id, colleague, name="Tom Baker")
    async with uow(world.a) as session:
        await disputes.assign_case(session, owner_of(world.a), case.id, world.a.finance.user_id)
        question = await disputes.post_message(
            session, owner_of(world.a), case.id, body="How many bearings were scratched?", internal=False, question=True
        )
    await run_jobs()
    [asked] = [m for m in mails_to(mail_dir, colleague) if "question" in m["Subject"]]
    assert f"/portal/disputes/{case.id}" in asked.get_body(preferencelist=("plain",)).get_content()

    page = await client.get(f"/portal/disputes/{case.id}")
    assert 'id="questions"' in page.text and "How many bearings were scratched?" in page.text
    assert f'name="answer_to" value="{question.id}"' in page.text
    assert "1 question waits for your answer" in page.text
    listed = await client.get("/portal/disputes")
    assert "1 question to answer" in listed.text

    answered = await client.post(
        f"/portal/disputes/{case.id}/messages",
        data={
            "_csrf_token": await csrf_token(client, f"/portal/disputes/{case.id}"),
            "answer_to": str(question.id),
            "body": "Four of ten.",
        },
        files=[("files", ("", b"", "application/octet-stream"))],  # what a browser sends when no file is chosen
        follow_redirects=False,
    )
    assert answered.status_code == 303 and answered.headers["location"] == f"/portal/disputes/{case.id}#thread"
    async with uow(world.a) as session:
        details = await disputes.case_details(session, owner_of(world.a), case.id)
    [(asked_message, _f), (answer, _files)] = details.messages
    assert asked_message.answered_at is not None and answer.answer_to_id == question.id
    assert (answer.internal, answer.author_kind, answer.author_name) == (False, "buyer_contact", "Li Na")
    page = await client.get(f"/portal/disputes/{case.id}")
    assert 'id="questions"' not in page.text and "Four of ten." in page.text and "Question, answered" in page.text

    # The team hears of it by e-mail; the author does not get their own message, their colleague does.
    mail_dir_before = len(mails_to(mail_dir, email))
    await run_jobs()
    [to_team] = [m for m in mails_to(mail_dir, world.a.finance.email) if "answered your question" in m["Subject"]]
    assert "Four of ten." in to_team.get_body(preferencelist=("plain",)).get_content()
    assert len(mails_to(mail_dir, email)) == mail_dir_before
    assert any("Four of ten." in m.get_body(preferencelist=("plain",)).get_content() for m in mails_to(mail_dir, colleague))

    async with console_of(app, world.a) as console:
        team_page = await console.get(f"/console/disputes/{case.id}")
        assert "Question, answered by the buyer" in team_page.text and "Answer to your question" in team_page.text
        assert "The buyer&#39;s answer to a question" in team_page.text and "Question to the buyer" in team_page.text


async def test_a_question_already_answered_or_of_another_case_is_handled(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    first = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="100.00")])
    second = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="100.00")])
    await contact_signed_in(client, mail_dir, world.a, buyer_id)
    async with uow(world.a) as session:
        question = await disputes.post_message(
            session, owner_of(world.a), first.id, body="Photos?", internal=False, question=True
        )
        note = await disputes.post_message(session, owner_of(world.a), first.id, body="internal", internal=True)
    token = await csrf_token(client, f"/portal/disputes/{first.id}")
    # A question of another case, or a note, is not one the buyer can answer: not found, nothing written.
    for case_id, answer_to in ((second.id, question.id), (first.id, note.id)):
        refused = await client.post(
            f"/portal/disputes/{case_id}/messages", data={"_csrf_token": token, "answer_to": str(answer_to), "body": "Here"}
        )
        assert refused.status_code == 404
    assert await count(world.a, DisputeMessage, DisputeMessage.author_kind == "buyer_contact") == 0
    empty = await client.post(
        f"/portal/disputes/{first.id}/messages", data={"_csrf_token": token, "answer_to": str(question.id), "body": "  "}
    )
    assert (
        empty.status_code == 422
        and "Write the message." in empty.text
        and f'id="question-{question.id}-body-error"' in empty.text
    )


async def test_the_buyer_accepts_one_option_and_the_case_is_agreed(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="400.00")])
    await contact_signed_in(client, mail_dir, world.a, buyer_id, name="Li Na")
    proposal, options = await propose(
        world.a, case.id, credit("300.00"), OptionInput(kind="redelivery", description="New bearings")
    )
    page = await client.get(f"/portal/disputes/{case.id}")
    assert "A proposal waits for your answer" in page.text and "CN¥300.00" in page.text and "New bearings" in page.text
    assert f'value="accept:{options[0].id}"' in page.text and f'value="accept:{options[1].id}"' in page.text

    accepted = await client.post(
        f"/portal/disputes/{case.id}/proposals/{proposal.id}/answer",
        data={
            "_csrf_token": await csrf_token(client, f"/portal/disputes/{case.id}"),
            "choice": f"accept:{options[0].id}",
            "note": "Fine by us",
        },
        follow_redirects=False,
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/portal/disputes/{case.id}#proposals"
    case = await case_of(world.a, case.id)
    assert case.state is DisputeState.AGREED and case.agreed_option_id == options[0].id
    page = await client.get(f"/portal/disputes/{case.id}")
    assert 'id="agreement"' in page.text and "Accepted by Li Na" in page.text and "Fine by us" in page.text
    assert "accept:" not in page.text  # nothing left to answer

    # Once carried out, the buyer sees the credit note it was settled with.
    async with uow(world.a) as session:
        from tests.disputes.team import set_threshold

        await set_threshold(world.a, "CNY", "1000")
    async with uow(world.a) as session:
        await disputes.resolve_case(
            session, owner_of(world.a), case.id, disputes.Resolution(outcome="valid", root_cause_code="logistics")
        )
    page = await client.get(f"/portal/disputes/{case.id}")
    assert "Credit note" in page.text and re.search(r"Credit note <strong>[^<]+</strong>: CN¥300\.00", page.text)


class _Forms(HTMLParser):
    """Each <form> of a page: the names and values of its fields and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[list[tuple[str, str, str]]] = []
        self._open = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append([])
            self._open = True
        elif self._open and tag in ("input", "button", "textarea", "select"):
            self.forms[-1].append((tag, attrs.get("name") or "", attrs.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = False


def forms_of(html: str) -> list[list[tuple[str, str, str]]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


async def test_enter_in_the_counter_amount_can_never_accept_an_option(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="400.00")])
    await contact_signed_in(client, mail_dir, world.a, buyer_id)
    _proposal, options = await propose(world.a, case.id, credit("300.00"), OptionInput(kind="redelivery", description="New"))
    page = await client.get(f"/portal/disputes/{case.id}")
    forms = [form for form in forms_of(page.text) if any(value.startswith(("accept:", "counter")) for _t, _n, value in form)]

    # One form per option, each accepting that option only; the counter-proposal's form accepts nothing,
    # and its first button (what Enter in the amount sends) is the counter-proposal.
    accepting = [form for form in forms if any(value.startswith("accept:") for _t, _n, value in form)]
    assert sorted(value for form in accepting for _t, name, value in form if name == "choice") == sorted(
        f"accept:{option.id}" for option in options
    )
    assert all(not any(name in ("counter_amount", "note") for _t, name, _v in form) for form in accepting)
    [answering] = [form for form in forms if any(name == "counter_amount" for _t, name, _v in form)]
    assert not any(value.startswith("accept:") for _t, _n, value in answering)
    assert [value for tag, name, value in answering if tag == "button"] == ["counter", "decline"]
    assert all(any(name == "_csrf_token" for _t, name, _v in form) for form in forms)


async def test_the_buyer_counters_or_declines_and_a_counter_needs_a_note(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="400.00")])
    await contact_signed_in(client, mail_dir, world.a, buyer_id, name="Li Na")
    proposal, _options = await propose(world.a, case.id, credit("100.00"))
    url = f"/portal/disputes/{case.id}/proposals/{proposal.id}/answer"
    token = await csrf_token(client, f"/portal/disputes/{case.id}")

    no_note = await client.post(url, data={"_csrf_token": token, "choice": "counter", "counter_amount": "250.00"})
    assert no_note.status_code == 422 and f'id="proposal-{proposal.id}-note-error"' in no_note.text
    assert "Say what the buyer asks for instead." in no_note.text and 'value="250.00"' in no_note.text
    # By htmx, the answer is the dispute's part of the page, swapped in place.
    countered = await client.post(
        url,
        data={
            "_csrf_token": token,
            "choice": "counter",
            "note": "We ask 250: half the lot is unusable.",
            "counter_amount": "250.00",
        },
        headers={"HX-Request": "true"},
    )
    assert countered.status_code == 200 and countered.text.lstrip().startswith('<div id="dispute-body">')
    assert "We ask 250: half the lot is unusable." in countered.text and "Asked for instead: CN¥250.00." in countered.text
    async with uow(world.a) as session:
        [(answered, _o)] = (await disputes.case_details(session, owner_of(world.a), case.id)).proposals
    assert (answered.status, answered.counter_amount, answered.responded_by) == (ProposalStatus.COUNTERED, D("250"), "Li Na")
    again = await client.post(url, data={"_csrf_token": token, "choice": "decline"})
    assert again.status_code == 409 and "This proposal is no longer open for an answer." in again.text

    second, _options = await propose(world.a, case.id, credit("150.00"))
    declined = await client.post(
        f"/portal/disputes/{case.id}/proposals/{second.id}/answer",
        data={"_csrf_token": token, "choice": "decline", "note": "Not enough."},
        follow_redirects=False,
    )
    assert declined.status_code == 303
    async with uow(world.a) as session:
        statuses = [p.status for p, _o in (await disputes.case_details(session, owner_of(world.a), case.id)).proposals]
    assert statuses == [ProposalStatus.COUNTERED, ProposalStatus.DECLINED]
    assert (await case_of(world.a, case.id)).state is DisputeState.NEGOTIATING


async def test_the_buyer_adds_evidence_to_an_open_case_but_not_to_a_closed_one(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    case = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="100.00")])
    await contact_signed_in(client, mail_dir, world.a, buyer_id)
    token = await csrf_token(client, f"/portal/disputes/{case.id}")
    added = await client.post(
        f"/portal/disputes/{case.id}/evidence",
        data={"_csrf_token": token},
        files=[("files", ("delivery-note.pdf", PDF, "application/pdf"))],
        follow_redirects=False,
    )
    assert added.status_code == 303 and added.headers["location"].endswith("#evidence")
    page = await client.get(f"/portal/disputes/{case.id}")
    assert "delivery-note.pdf" in page.text and "Evidence added" in page.text
    async with uow(world.a) as session:
        await disputes.move_case(session, owner_of(world.a), case.id, "withdrawn", note="Buyer called: sorted out")
    closed = await client.post(
        f"/portal/disputes/{case.id}/evidence",
        data={"_csrf_token": token},
        files=[("files", ("more.pdf", PDF, "application/pdf"))],
    )
    assert closed.status_code == 409 and "takes no more evidence" in closed.text
    assert await count(world.a, StoredFile) == 1


# --- the team's side --------------------------------------------------------------------------------


async def test_the_team_asks_a_question_from_the_console_and_a_note_cannot_be_one(client, world):
    buyer_id = await make_buyer(world.a)
    case = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="100.00")])
    await sign_in(client, world.a.finance)
    page = await client.get(f"/console/disputes/{case.id}")
    assert "Ask the buyer to answer (question)" in page.text
    token = await csrf_token(client, f"/console/disputes/{case.id}")
    refused = await client.post(
        f"/console/disputes/{case.id}/messages",
        data={"_csrf_token": token, "audience": "note", "question": "1", "body": "Which pallet?"},
    )
    assert refused.status_code == 422 and "Only a message to the buyer can be a question" in refused.text
    asked = await client.post(
        f"/console/disputes/{case.id}/messages",
        data={"_csrf_token": token, "audience": "buyer", "question": "1", "body": "Which pallet?"},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    page = await client.get(f"/console/disputes/{case.id}")
    assert "Question, waiting for the buyer" in page.text
    async with uow(world.a) as session:
        [(message, _f)] = (await disputes.case_details(session, owner_of(world.a), case.id)).messages
    assert (message.question, message.internal, message.answered_at) == (True, False, None)


async def test_the_api_posts_a_question_and_shows_whether_it_was_answered(client, world):
    from tests.conftest import bearer

    buyer_id = await make_buyer(world.a)
    case = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="100.00")])
    headers = bearer(world.a.api_key)
    asked = await client.post(
        f"/api/v1/disputes/{case.id}/messages", json={"body": "Photos, please?", "question": True}, headers=headers
    )
    assert asked.status_code == 201, asked.text
    assert (asked.json()["question"], asked.json()["answered_at"]) == (True, None)
    refused = await client.post(
        f"/api/v1/disputes/{case.id}/messages", json={"body": "x", "internal": True, "question": True}, headers=headers
    )
    assert refused.status_code == 422 and refused.json()["field"] == "question"


# --- e-mails to the buyer's contacts ---------------------------------------------------------------


async def test_contacts_are_told_of_a_proposal_and_messages_only_while_they_want_them(world, mail_dir):
    from backend.buyers import service as buyers
    from backend.buyers.repository import BuyerRepository

    buyer_id = await make_buyer(world.a)
    case = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="400.00")])
    in_portal = f"li.{secrets.token_hex(3)}@buyer.example.com"
    quiet = f"quiet.{secrets.token_hex(3)}@buyer.example.com"
    by_mail = f"mail.{secrets.token_hex(3)}@buyer.example.com"
    await invited_contact(world.a, buyer_id, in_portal, name="Li Na")
    quiet_id = await invited_contact(world.a, buyer_id, quiet, name="Quiet Qi")
    async with uow(world.a) as session:
        await buyers.add_contact(session, owner_of(world.a), buyer_id, name="Mail Ma", email=by_mail)
        (await BuyerRepository(session).contact_by_id(quiet_id)).notification_prefs = {"messages": False, "proposals": False}
    await run_jobs()  # the invitations
    await propose(world.a, case.id, credit("300.00"), OptionInput(kind="redelivery", description="New bearings"))
    async with uow(world.a) as session:
        await disputes.post_message(session, owner_of(world.a), case.id, body="We sent you an offer.", internal=False)
    await run_jobs()

    def texts(address: str) -> list[str]:
        return [m["Subject"] + "\n" + m.get_body(preferencelist=("plain",)).get_content() for m in mails_to(mail_dir, address)]

    [offer] = [t for t in texts(in_portal) if "proposes" in t]
    assert case.number in offer and "Credit note: CN¥300.00" in offer and "Re-delivery or replacement (New bearings)" in offer
    assert f"/portal/disputes/{case.id}" in offer
    [message] = [t for t in texts(in_portal) if "We sent you an offer." in t]
    assert f"/portal/disputes/{case.id}" in message
    # A contact without the portal is told too, and to answer the usual way; one who opted out hears nothing.
    assert any("proposes" in t and "/portal/" not in t for t in texts(by_mail))
    assert not [t for t in texts(quiet) if case.number in t]


async def test_the_team_is_told_when_the_buyer_raises_a_case_answers_a_proposal_or_adds_evidence(client, world, mail_dir):
    buyer_id = await make_buyer(world.a, "Harbin Gears Ltd")
    invoice = await make_invoice(world.a, buyer_id, lines=TWO_LINES)
    await contact_signed_in(client, mail_dir, world.a, buyer_id, name="Li Na")
    await run_jobs()  # the invitation and the sign-in link

    def texts(address: str) -> list[str]:
        return [m["Subject"] + "\n" + m.get_body(preferencelist=("plain",)).get_content() for m in mails_to(mail_dir, address)]

    # A case raised in the portal that no routing rule gives an owner: the owner of the tenant hears of it.
    sent = await client.post(
        "/portal/disputes/new",
        data=raise_form(await csrf_token(client, "/portal/disputes/new"), **{f"whole.{invoice.id}": "1"}),
        follow_redirects=False,
    )
    assert sent.status_code == 303
    raised = await case_of(world.a, uuid.UUID(sent.headers["location"].rsplit("/", 1)[1]))
    assert raised.owner_user_id is None
    await run_jobs()
    [new_case] = [t for t in texts(world.a.finance.email) if raised.number in t]
    assert "New dispute from Harbin Gears Ltd" in new_case and "Li Na of Harbin Gears Ltd raised" in new_case
    assert "Half of the bearings arrived scratched." in new_case and f"/console/disputes/{raised.id}" in new_case
    assert not [t for t in texts(world.a.collaborator.email) if raised.number in t]  # a collaborator runs no receivables

    # The case's owner hears that the buyer accepted an option, and of evidence it added.
    async with uow(world.a) as session:
        await disputes.move_case(session, owner_of(world.a), raised.id, "withdrawn", note="Raised twice")
        owned = await disputes.register_case(
            session,
            owner_of(world.a),
            disputes.NewCase(
                buyer_id=buyer_id,
                reason_code="quality",
                description="Scratched",
                channel="email",
                items=[ItemInput(invoice.id, amount="400.00")],
                owner_user_id=world.a.finance.user_id,
            ),
        )
    proposal, options = await propose(world.a, owned.id, credit("300.00"))
    token = await csrf_token(client, f"/portal/disputes/{owned.id}")
    evidence = await client.post(
        f"/portal/disputes/{owned.id}/evidence",
        data={"_csrf_token": token},
        files=[("files", ("scratches.png", png(), "image/png"))],
        follow_redirects=False,
    )
    assert evidence.status_code == 303
    accepted = await client.post(
        f"/portal/disputes/{owned.id}/proposals/{proposal.id}/answer",
        data={"_csrf_token": token, "choice": f"accept:{options[0].id}"},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    await run_jobs()
    about_owned = [t for t in texts(world.a.finance.email) if owned.number in t]
    [agreed] = [t for t in about_owned if "accepted your proposal" in t]
    assert "Credit note: CN¥300.00" in agreed and "The case is agreed" in agreed and f"/console/disputes/{owned.id}" in agreed
    [added] = [t for t in about_owned if "added evidence" in t]
    assert "scratches.png" in added


async def test_a_counter_proposal_cannot_ask_for_more_than_is_still_in_dispute(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="400.00")])
    await contact_signed_in(client, mail_dir, world.a, buyer_id)
    proposal, _options = await propose(world.a, case.id, credit("100.00"))
    url = f"/portal/disputes/{case.id}/proposals/{proposal.id}/answer"
    token = await csrf_token(client, f"/portal/disputes/{case.id}")

    too_much = await client.post(
        url, data={"_csrf_token": token, "choice": "counter", "note": "All of it and more.", "counter_amount": "400.01"}
    )
    assert too_much.status_code == 422
    assert (
        f'id="proposal-{proposal.id}-amount-error"' in too_much.text
        and "at most what is still in dispute (400.00)" in too_much.text
    )
    assert 'value="400.01"' in too_much.text  # kept to correct
    async with uow(world.a) as session:
        [(unanswered, _o)] = (await disputes.case_details(session, owner_of(world.a), case.id)).proposals
    assert (unanswered.status, unanswered.counter_amount) == (ProposalStatus.OFFERED, None)

    all_of_it = await client.post(
        url,
        data={"_csrf_token": token, "choice": "counter", "note": "All of it.", "counter_amount": "400.00"},
        follow_redirects=False,
    )
    assert all_of_it.status_code == 303


async def test_an_offer_is_withdrawn_when_the_case_goes_back_to_review_and_cannot_be_accepted_later(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="400.00")])
    await contact_signed_in(client, mail_dir, world.a, buyer_id)
    proposal, options = await propose(world.a, case.id, credit("300.00"))
    token = await csrf_token(client, f"/portal/disputes/{case.id}")
    async with uow(world.a) as session:
        await disputes.move_case(session, owner_of(world.a), case.id, "under_review")
        await disputes.move_case(session, owner_of(world.a), case.id, "negotiating")

    page = await client.get(f"/portal/disputes/{case.id}")
    assert "A proposal waits for your answer" not in page.text and "accept:" not in page.text
    listed = await client.get("/portal/disputes")
    assert "wait for your answer" not in listed.text and "waits for your answer" not in listed.text
    stale = await client.post(
        f"/portal/disputes/{case.id}/proposals/{proposal.id}/answer",
        data={"_csrf_token": token, "choice": f"accept:{options[0].id}"},
    )
    assert stale.status_code == 409 and "This proposal is no longer open for an answer." in stale.text
    case = await case_of(world.a, case.id)
    assert case.state is DisputeState.NEGOTIATING and case.agreed_option_id is None
    async with uow(world.a) as session:
        [(withdrawn, _o)] = (await disputes.case_details(session, owner_of(world.a), case.id)).proposals
    assert withdrawn.status is ProposalStatus.WITHDRAWN


async def test_a_closed_case_asks_nothing_of_the_buyer_and_takes_no_more_messages(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="400.00")])
    await contact_signed_in(client, mail_dir, world.a, buyer_id)
    async with uow(world.a) as session:
        question = await disputes.post_message(
            session, owner_of(world.a), case.id, body="Which batch was it?", internal=False, question=True
        )
    token = await csrf_token(client, f"/portal/disputes/{case.id}")
    assert "1 question to answer" in (await client.get("/portal/disputes")).text
    async with uow(world.a) as session:
        await disputes.move_case(session, owner_of(world.a), case.id, "withdrawn", note="Settled by phone")

    listed = await client.get("/portal/disputes")
    assert "question to answer" not in listed.text and "wait for your answer" not in listed.text
    page = await client.get(f"/portal/disputes/{case.id}")
    assert "waits for your answer" not in page.text and "Questions for you" not in page.text
    assert "Which batch was it?" in page.text and 'name="body"' not in page.text  # the thread stays, its form goes

    for data in ({"body": "Batch 2291."}, {"body": "Batch 2291.", "answer_to": str(question.id)}):
        refused = await client.post(
            f"/portal/disputes/{case.id}/messages", data={"_csrf_token": token, **data}, files=[("files", ("", b"", ""))]
        )
        assert refused.status_code == 409 and "This dispute is closed (Withdrawn): it takes no more messages." in refused.text
    assert await count(world.a, DisputeMessage, DisputeMessage.case_id == case.id) == 1


async def test_a_case_the_team_registered_shows_its_description_not_as_the_buyers_words(app, client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="400.00")], channel="phone")
    await contact_signed_in(client, mail_dir, world.a, buyer_id)
    page = await client.get(f"/portal/disputes/{case.id}")
    assert "<h3>Description</h3>" in page.text and "What you wrote" not in page.text
    async with console_of(app, world.a) as console:
        form = await console.get(f"/console/disputes/new?buyer_id={buyer_id}")
    assert "The buyer sees this description in the portal." in form.text
