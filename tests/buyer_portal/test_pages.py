"""The buyer's own pages: home, invoices, an invoice and its PDF, the statement (confirming its balance,
disputing items from it), instalment plans — and that a contact sees only its own buyer's at its supplier."""

from __future__ import annotations

import io
import re
import secrets
import uuid
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from backend.audit.models import AuditEvent
from backend.disputes import service as disputes
from backend.disputes.models import DisputeMessage
from backend.disputes.service import ItemInput, OptionInput, Resolution
from backend.errors import NotFound
from backend.invoices import portal as buyer_ledger
from backend.invoices import service as ledger
from backend.invoices.models import StatementConfirmation
from tests.buyer_portal.helpers import invited_contact, sign_in_to_portal
from tests.conftest import CSRF_INPUT, sign_in
from tests.disputes.helpers import accept, credit, open_case, propose, uow
from tests.factories import make_buyer, make_invoice, owner_of

TODAY = date.today()
LINE = ("Bearing 6204", "10", "100.00", "13")  # 1,130.00 with tax


async def signed_in_contact(client, world, mail_dir, *, name: str = "Acme Trading Ltd") -> uuid.UUID:
    """A buyer of supplier A and its contact Li Na, signed in to the portal (an address of her own per test:
    a person's address opens every portal it is a contact at)."""
    buyer = await make_buyer(world.a, name)
    email = f"li.na.{secrets.token_hex(4)}@acme.example"
    await invited_contact(world.a, buyer, email)
    await sign_in_to_portal(client, mail_dir, email)
    return buyer


async def invoice_for(world_supplier, buyer, *, days_past_due: int, number: str | None = None, **extra):
    """An issued invoice of 1,130.00 whose due date lies `days_past_due` days before today (negative: not yet due)."""
    due = TODAY - timedelta(days=days_past_due)
    return await make_invoice(
        world_supplier, buyer, issue_date=min(due - timedelta(days=30), TODAY), due_date=due, number=number, **extra
    )


async def pay(supplier, buyer, invoice, amount: str, document_number: str):
    async with uow(supplier) as session:
        await ledger.record_payment(
            session,
            owner_of(supplier),
            buyer_id=buyer,
            amount=amount,
            currency="CNY",
            document_number=document_number,
            allocations=[ledger.PaymentAllocation(invoice.id, amount)],
        )


def cells(html: str, table_class: str) -> list[list[str]]:
    """The text of each body row's cells in the first table with this class."""
    table = re.search(rf'<table class="[^"]*\b{table_class}\b[^"]*">(.*?)</table>', html, re.S)
    assert table, f"no table .{table_class}"
    body = re.search(r"<tbody[^>]*>(.*?)</tbody>", table.group(1), re.S).group(1)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return [[re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)] for row in rows]


def without_tokens(html: str) -> str:
    return CSRF_INPUT.sub("", re.sub(r'"x-csrftoken": "[^"]+"', "", html))


# --- signed out ------------------------------------------------------------------------------------------


async def test_a_signed_out_visitor_is_sent_to_sign_in(client, world):
    buyer = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer)
    for path in (
        "/portal/invoices?status=all",
        f"/portal/invoices/{invoice.id}",
        f"/portal/invoices/{invoice.id}/pdf",
        "/portal/statement",
    ):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/portal/sign-in?next=/portal/"), response.headers["location"]


# --- home ----------------------------------------------------------------------------------------------


async def test_home_shows_balance_due_overdue_held_and_the_disputes_waiting_for_the_buyer(client, world, mail_dir):
    buyer = await signed_in_contact(client, world, mail_dir)
    late = await invoice_for(world.a, buyer, days_past_due=10)
    also_late = await invoice_for(world.a, buyer, days_past_due=40)
    await pay(world.a, buyer, also_late, "130.00", "PAY-HOME-1")
    current = await invoice_for(world.a, buyer, days_past_due=-20)
    await make_invoice(world.a, buyer, issue=False)  # a draft is never the buyer's business
    offered = await open_case(world.a, buyer, [ItemInput(current.id, amount="200.00")])
    await propose(world.a, offered.id, credit("150.00"))
    asked = await open_case(world.a, buyer, [ItemInput(late.id, amount="100.00")])
    async with uow(world.a) as session:
        message = await disputes.post_message(session, owner_of(world.a), asked.id, body="Which batch number?", internal=False)
        await session.execute(update(DisputeMessage).where(DisputeMessage.id == message.id).values(question=True))
    quiet = await open_case(world.a, buyer, [ItemInput(also_late.id, amount="50.00")])

    page = await client.get("/portal")
    assert page.status_code == 200
    text = page.text
    # 1,130 + 1,000 + 1,130 open; 2,130 of it past due (two invoices); 350 held by the three cases.
    assert "CN¥3,260.00" in text and "3 open invoices" in text
    assert "CN¥2,130.00" in text and "2 invoices past their due date" in text
    assert "CN¥350.00" in text
    assert f'href="/portal/disputes/{offered.id}"' in text and "An offer to answer" in text
    assert f'href="/portal/disputes/{asked.id}"' in text and "A question to answer" in text
    assert str(quiet.id) not in text  # in progress, but nothing asked of the buyer
    assert "No instalment is due" in text


async def test_home_of_a_buyer_with_nothing_open_says_so(client, world, mail_dir):
    await signed_in_contact(client, world, mail_dir)
    page = await client.get("/portal")
    assert page.status_code == 200 and "Nothing to pay right now." in page.text
    assert "Nothing waits for you." in page.text


# --- the invoice list ---------------------------------------------------------------------------------------


async def test_the_invoice_list_filters_searches_sorts_and_pages(client, world, mail_dir):
    buyer = await signed_in_contact(client, world, mail_dir)
    overdue = await invoice_for(world.a, buyer, days_past_due=5, number="INV-LATE-001", po_reference="PO-77123")
    paid = await invoice_for(world.a, buyer, days_past_due=60, number="INV-PAID-001")
    await pay(world.a, buyer, paid, "1130.00", "PAY-LIST-1")
    disputed = await invoice_for(world.a, buyer, days_past_due=-3, number="INV-DISP-001")
    await open_case(world.a, buyer, [ItemInput(disputed.id, amount="300.00")])
    for n in range(52):
        await invoice_for(world.a, buyer, days_past_due=-(n + 10), number=f"INV-FUT-{n:03d}")
    draft = await make_invoice(world.a, buyer, issue=False, number="INV-DRAFT-001")

    # Open (the default), due date first: the overdue one leads; 54 open over two pages of 50.
    first = await client.get("/portal/invoices")
    assert first.status_code == 200
    assert "54 invoices" in first.text and "page 1 of 2" in first.text
    numbers = [row[0].split()[0] for row in cells(first.text, "portal-invoices")]
    assert len(numbers) == 50 and numbers[:2] == ["INV-LATE-001", "INV-DISP-001"]
    assert "INV-PAID-001" not in first.text and draft.number not in first.text
    second = await client.get("/portal/invoices?status=open&sort=due&page=2")
    assert len(cells(second.text, "portal-invoices")) == 4 and "INV-FUT-051" in second.text

    overdue_page = await client.get("/portal/invoices?status=overdue")
    assert [row[0].split()[0] for row in cells(overdue_page.text, "portal-invoices")] == ["INV-LATE-001"]
    paid_page = await client.get("/portal/invoices?status=paid")
    assert [row[0].split()[0] for row in cells(paid_page.text, "portal-invoices")] == ["INV-PAID-001"]
    disputed_page = await client.get("/portal/invoices?status=disputed")
    rows = cells(disputed_page.text, "portal-invoices")
    assert [row[0].split()[0] for row in rows] == ["INV-DISP-001"] and rows[0][-1] == "CN¥300.00"

    everything = await client.get("/portal/invoices?status=all&sort=issued")
    assert "55 invoices" in everything.text and draft.number not in everything.text
    # Totals of all that match, not only of the page shown.
    assert "CN¥62,150.00" in everything.text  # 55 × 1,130.00

    by_po = await client.get("/portal/invoices?status=all&q=77123")
    assert [row[0].split()[0] for row in cells(by_po.text, "portal-invoices")] == [overdue.number]
    by_number = await client.get("/portal/invoices?status=all&q=inv-paid")
    assert [row[0].split()[0] for row in cells(by_number.text, "portal-invoices")] == ["INV-PAID-001"]
    nothing = await client.get("/portal/invoices?status=all&q=50%25")
    assert "0 invoices" in nothing.text and "No invoice matches" in nothing.text

    # htmx swaps only the table: no page around it.
    partial = await client.get("/portal/invoices?status=overdue", headers={"HX-Request": "true", "HX-Target": "invoice-list"})
    assert partial.status_code == 200 and "<html" not in partial.text and "INV-LATE-001" in partial.text


async def test_an_empty_list_tells_the_buyer_what_to_do(client, world, mail_dir):
    await signed_in_contact(client, world, mail_dir)
    page = await client.get("/portal/invoices")
    assert "Nothing is open: you have no invoice to pay." in page.text
    assert 'href="/portal/invoices?status=all"' in page.text


# --- an invoice -------------------------------------------------------------------------------------------


async def test_the_invoice_page_shows_lines_payments_disputes_and_what_is_open(client, world, mail_dir):
    buyer = await signed_in_contact(client, world, mail_dir)
    invoice = await make_invoice(
        world.a, buyer, lines=[LINE, ("Seal kit SK-12", "5", "8.40", "13")], po_reference="PO-555", number="INV-PAGE-001"
    )
    await pay(world.a, buyer, invoice, "500.00", "PAY-PAGE-1")
    case = await open_case(world.a, buyer, [ItemInput(invoice.id, amount="200.00")])

    page = await client.get(f"/portal/invoices/{invoice.id}")
    assert page.status_code == 200
    text = page.text
    assert "Invoice INV-PAGE-001" in text and "PO-555" in text
    assert "Bearing 6204" in text and "Seal kit SK-12" in text
    assert "PAY-PAGE-1" in text and "CN¥500.00" in text
    assert f'href="/portal/disputes/{case.id}"' in text and case.number in text and "CN¥200.00" in text
    # 1,130.00 + 47.46 = 1,177.46; 500 paid: 677.46 open, 200 of it held, 477.46 to pay now.
    assert "CN¥677.46" in text and "CN¥477.46" in text
    assert f'href="/portal/disputes/new?invoice={invoice.id}"' in text
    assert f'href="/portal/invoices/{invoice.id}/pdf"' in text


async def test_an_invoice_held_in_full_offers_no_new_dispute(client, world, mail_dir):
    buyer = await signed_in_contact(client, world, mail_dir)
    invoice = await make_invoice(world.a, buyer)
    await open_case(world.a, buyer, [ItemInput(invoice.id)])
    page = await client.get(f"/portal/invoices/{invoice.id}")
    assert "Everything open on this invoice is already in dispute." in page.text
    assert "/portal/disputes/new?invoice=" not in page.text


async def test_the_invoice_pdf_is_a_pdf_of_that_invoice(client, world, mail_dir):
    buyer = await signed_in_contact(client, world, mail_dir, name="华东机电有限公司")
    invoice = await make_invoice(world.a, buyer, number="INV/2026/0042")
    response = await client.get(f"/portal/invoices/{invoice.id}/pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'attachment; filename="invoice-INV-2026-0042.pdf"'
    reader = PdfReader(io.BytesIO(response.content))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "INV/2026/0042" in text and "Bearing 6204" in text
    assert world.a.name in text


# --- the statement ----------------------------------------------------------------------------------------


async def test_the_statement_ages_open_items_and_offers_them_for_dispute(client, world, mail_dir):
    buyer = await signed_in_contact(client, world, mail_dir)
    current = await invoice_for(world.a, buyer, days_past_due=0)
    await invoice_for(world.a, buyer, days_past_due=15)
    await invoice_for(world.a, buyer, days_past_due=45)
    held = await invoice_for(world.a, buyer, days_past_due=120)
    await open_case(world.a, buyer, [ItemInput(held.id)])
    paid = await invoice_for(world.a, buyer, days_past_due=70)
    await pay(world.a, buyer, paid, "1130.00", "PAY-STMT-1")

    page = await client.get("/portal/statement")
    assert page.status_code == 200
    assert cells(page.text, "aging") == [
        ["CNY", "CN¥1,130.00", "CN¥1,130.00", "CN¥1,130.00", "CN¥0.00", "CN¥1,130.00", "CN¥4,520.00"]
    ]
    assert paid.number not in page.text
    # Open items tick into one dispute (repeated `invoice`); the one held in full cannot be ticked.
    assert '<form method="get" action="/portal/disputes/new">' in page.text
    assert f'name="invoice" value="{current.id}"' in page.text
    assert f'name="invoice" value="{held.id}"' not in page.text and held.number in page.text

    document = await client.get("/portal/statement.pdf")
    assert document.status_code == 200 and document.headers["content-type"] == "application/pdf"
    assert document.headers["content-disposition"].startswith('attachment; filename="statement-')
    assert current.number in "".join(p.extract_text() for p in PdfReader(io.BytesIO(document.content)).pages)


async def test_confirming_the_balance_records_it_and_the_console_shows_it(client, world, mail_dir):
    buyer = await signed_in_contact(client, world, mail_dir)
    await invoice_for(world.a, buyer, days_past_due=5)
    await invoice_for(world.a, buyer, days_past_due=-5)
    page = await client.get("/portal/statement")
    assert 'name="balance_CNY" value="2260' in page.text
    token = CSRF_INPUT.search(page.text).group(1)
    response = await client.post(
        "/portal/statement/confirm",
        data={"_csrf_token": token, "balance_CNY": "2260.0000", "note": "Matches our ledger."},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/portal/statement?confirmed=1"
    after = await client.get("/portal/statement?confirmed=1")
    assert "your confirmation of the balance is recorded" in after.text
    assert "Last confirmed by Li Na on" in after.text and "for CN¥2,260.00" in after.text

    async with uow(world.a) as session:
        rows = (await session.scalars(select(StatementConfirmation).where(StatementConfirmation.buyer_id == buyer))).all()
        events = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "statement.confirmed"))).all()
    assert [(r.as_of, r.currency, r.balance, r.confirmed_by, r.note) for r in rows] == [
        (TODAY, "CNY", D("2260.00"), "Li Na", "Matches our ledger.")
    ]
    assert len(events) == 1 and events[0].actor_kind == "buyer_contact" and events[0].actor_label.startswith("li.na.")
    assert {c: D(v) for c, v in events[0].after["balances"].items()} == {"CNY": D("2260.00")}

    client.cookies.clear()
    await sign_in(client, world.a.finance)
    console = await client.get(f"/console/buyers/{buyer}/statement")
    assert console.status_code == 200
    assert re.search(r"Confirmed by Li Na on [^<]+ for CN¥2,260.00", console.text)


async def test_a_balance_that_changed_since_it_was_shown_is_not_confirmed(client, world, mail_dir):
    buyer = await signed_in_contact(client, world, mail_dir)
    invoice = await invoice_for(world.a, buyer, days_past_due=5)
    page = await client.get("/portal/statement")
    token = CSRF_INPUT.search(page.text).group(1)
    await pay(world.a, buyer, invoice, "130.00", "PAY-STALE-1")  # the ledger moves while the page is open
    response = await client.post("/portal/statement/confirm", data={"_csrf_token": token, "balance_CNY": "1130.0000"})
    assert response.status_code == 409
    assert "Your balance changed since the statement was opened" in response.text
    assert 'name="balance_CNY" value="1000' in response.text  # today's figure, to look at again
    async with uow(world.a) as session:
        assert (await session.scalars(select(StatementConfirmation))).all() == []


# --- instalments ------------------------------------------------------------------------------------------


async def test_the_instalments_page_shows_each_plan_with_the_next_instalment_highlighted(client, world, mail_dir):
    buyer = await signed_in_contact(client, world, mail_dir)
    invoice = await make_invoice(world.a, buyer)
    case = await open_case(world.a, buyer, [ItemInput(invoice.id, amount="1130.00")])
    plan = [(TODAY + timedelta(days=30), "500.00"), (TODAY + timedelta(days=60), "630.00")]
    proposal, options = await propose(world.a, case.id, OptionInput(kind="instalments", schedule=plan))
    await accept(world.a, proposal.id, options[0].id)
    async with uow(world.a) as session:
        await disputes.resolve_case(session, owner_of(world.a), case.id, Resolution(outcome="invalid", root_cause_code="other"))

    page = await client.get("/portal/instalments")
    assert page.status_code == 200
    assert f'href="/portal/disputes/{case.id}"' in page.text and case.number in page.text
    rows = cells(page.text, "instalments")
    assert [row[:4] for row in rows] == [
        ["1", _medium(plan[0][0]), "CN¥500.00", "CN¥0.00"],
        ["2", _medium(plan[1][0]), "CN¥630.00", "CN¥0.00"],
    ]
    assert "Next to pay" in rows[0][4] and "Next to pay" not in rows[1][4]
    assert re.search(r'<tr class="next-due">\s*<td>1</td>', page.text)

    home = await client.get("/portal")
    assert "CN¥500.00" in home.text and f"due on {_medium(plan[0][0])}" in home.text


async def test_a_buyer_without_instalments_is_told_where_they_come_from(client, world, mail_dir):
    await signed_in_contact(client, world, mail_dir)
    page = await client.get("/portal/instalments")
    assert "You have no instalment plan." in page.text


def _medium(day: date) -> str:
    from babel.dates import format_date

    return format_date(day, format="medium", locale="en")


# --- tenancy ----------------------------------------------------------------------------------------------


async def test_a_contact_cannot_reach_another_buyers_or_another_suppliers_invoices(client, world, mail_dir):
    buyer_x = await signed_in_contact(client, world, mail_dir)
    mine = await make_invoice(world.a, buyer_x, number="INV-X-001")
    buyer_y = await make_buyer(world.a, "Yangtze Components")
    theirs = await make_invoice(world.a, buyer_y, number="INV-Y-001", po_reference="PO-Y-1")
    await invited_contact(world.a, buyer_y, "buyer.y@yangtze.example")
    buyer_b = await make_buyer(world.b, "Acme Trading Ltd")
    elsewhere = await make_invoice(world.b, buyer_b, number="INV-B-001")
    draft = await make_invoice(world.a, buyer_x, issue=False, number="INV-X-DRAFT")

    nobody = uuid.uuid4()
    missing = await client.get(f"/portal/invoices/{nobody}")
    assert missing.status_code == 404
    for other in (theirs, elsewhere, draft):
        page = await client.get(f"/portal/invoices/{other.id}")
        assert page.status_code == 404 and other.number not in page.text
        # The same answer as for an id that does not exist (the page names its own address, nothing else differs).
        assert without_tokens(page.text).replace(str(other.id), "ID") == without_tokens(missing.text).replace(str(nobody), "ID")
        document = await client.get(f"/portal/invoices/{other.id}/pdf")
        assert document.status_code == 404 and document.headers["content-type"].startswith("text/html")

    listed = await client.get("/portal/invoices?status=all")
    assert "INV-X-001" in listed.text and "INV-Y-001" not in listed.text and "INV-B-001" not in listed.text
    searched = await client.get("/portal/invoices?status=all&q=PO-Y")
    assert "0 invoices" in searched.text and "INV-Y-001" not in searched.text
    statement = await client.get("/portal/statement")
    assert mine.number in statement.text and "INV-Y-001" not in statement.text and "Yangtze" not in statement.text
    assert "INV-Y-001" not in (await client.get("/portal")).text


async def test_only_a_buyers_contact_reads_through_the_portal_services(world):
    buyer = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer)
    async with uow(world.a) as session:
        with pytest.raises(NotFound):
            await buyer_ledger.invoice_list(session, owner_of(world.a))
        with pytest.raises(NotFound):
            await buyer_ledger.invoice_page(session, owner_of(world.a), invoice.id)
        with pytest.raises(NotFound):
            await buyer_ledger.confirm_balance(session, owner_of(world.a), seen={})
