"""Console dispute pages: a case worked from registration to an approved credit note through the pages
alone, forms that explain a refusal beside the field and keep nothing, and every address refused to
another supplier (404) and to a role that may not use it."""

from __future__ import annotations

import io
import re
import secrets
import struct
import zlib
from contextlib import asynccontextmanager
from datetime import date, timedelta
from decimal import Decimal

from litestar.testing import AsyncTestClient

from backend.db.tenancy import TenantId
from backend.db.uow import global_unit_of_work, tenant_unit_of_work
from backend.disputes import service as disputes
from backend.disputes.models import DisputeState
from backend.disputes.repository import CaseFilter
from backend.disputes.service import ItemInput, NewTask, OptionInput, Resolution
from backend.files import storage
from backend.invoices import service as ledger
from tests.conftest import Person, csrf_token, sign_in
from tests.disputes.helpers import accept, credit, open_case, propose, uow
from tests.factories import make_buyer, make_invoice, owner_of

TODAY = date.today()
TWO_LINES = (("Bearing 6204", "10", "100.00", "13"), ("Freight", "1", "50.00", "0"))  # 1,130.00 + 50.00
PDF = b"%PDF-1.4\nsigned delivery note\n%%EOF"
NO_FILE = ("files", ("", b"", "application/octet-stream"))  # what a browser sends when no file is chosen
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def png(width: int = 4, height: int = 3) -> bytes:
    """A real (tiny, grey) PNG, so that a browser could show it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def credit_manager_of(supplier, name: str = "Wang Fang") -> Person:
    """A third person of the supplier: a credit manager, who may approve credit notes."""
    from backend.auth.passwords import hash_password
    from backend.tenants.models import Membership, MembershipStatus, Role, User

    tag = secrets.token_hex(4)
    email, password = f"credit.{tag}@example.com", f"credit-pass-{tag}-long"
    async with global_unit_of_work() as session:
        user = User(email=email, display_name=name, password_hash=hash_password(password))
        session.add(user)
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        membership = Membership(user_id=user.id, role=Role.CREDIT_MANAGER, status=MembershipStatus.ACTIVE)
        session.add(membership)
    return Person(email, password, user.id, membership.id)


@asynccontextmanager
async def browser_of(app, person: Person):
    """Another person's browser: their own cookies, signed in."""
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as other:
        await sign_in(other, person)
        yield other


async def _cases_of(supplier, **where):
    async with uow(supplier) as session:
        return await disputes.list_cases(session, owner_of(supplier), CaseFilter(states=(), **where))


def _stored_files(supplier) -> list:
    root = getattr(storage.get_storage(), "root", None)
    folder = root / str(supplier.tenant_id) if root else None
    return sorted(folder.iterdir()) if folder and folder.exists() else []


async def test_a_case_goes_from_registration_to_an_approved_credit_note_through_the_console(app, client, world):
    buyer_id = await make_buyer(world.a, "Ningbo Bearings Co.")
    invoice = await make_invoice(world.a, buyer_id, lines=TWO_LINES)
    manager = await credit_manager_of(world.a)
    await sign_in(client, world.a.finance)

    # Registration from the invoice: the invoice's lines are offered, the amount on a line is chosen.
    invoice_page = await client.get(f"/console/invoices/{invoice.id}")
    assert f'href="/console/disputes/new?invoice_id={invoice.id}"' in invoice_page.text
    form = await client.get(f"/console/disputes/new?invoice_id={invoice.id}")
    assert form.status_code == 200 and "Bearing 6204" in form.text and "Freight" in form.text
    assert "20 MB" in form.text  # the file limits are said before anything is uploaded
    bearing_line = re.search(rf'name="line\.({UUID})"', form.text).group(1)
    token = await csrf_token(client, "/console/disputes/new")
    registered = await client.post(
        "/console/disputes/new",
        data={
            "_csrf_token": token,
            "buyer_id": str(buyer_id),
            f"line.{bearing_line}": "1",
            f"amount.{bearing_line}": "565.00",
            "reason_code": "quality",
            "channel": "phone",
            "opened_on": TODAY.isoformat(),
            "description": "Half of the bearings arrived scratched.",
        },
        files=[("files", ("scratches.png", png(), "image/png"))],
        follow_redirects=False,
    )
    assert registered.status_code == 303, registered.text
    case_url = registered.headers["location"]
    case_id = case_url.rsplit("/", 1)[1]
    page = await client.get(case_url)
    number = re.search(r"<h1>Dispute (D-\d{4}-\d{5})</h1>", page.text).group(1)
    assert "Half of the bearings arrived scratched." in page.text and "scratches.png" in page.text
    image = re.search(rf'<img src="(/console/disputes/{case_id}/files/{UUID})"', page.text).group(1)
    shown = await client.get(image)
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png" and shown.content == png()
    # The line's disputed part is held; the rest of the invoice stays payable.
    async with uow(world.a) as session:
        held = await ledger.get_invoice(session, owner_of(world.a), invoice.id)
        assert (held.disputed_amount, held.open_amount) == (Decimal("565.00"), Decimal("1180.00"))

    # A task for the collaborator, who signs in and answers it on the case page.
    token = await csrf_token(client, case_url)
    asked = await client.post(
        f"{case_url}/tasks",
        data={
            "_csrf_token": token,
            "assignee_user_id": str(world.a.collaborator.user_id),
            "team": "quality",
            "due_on": (TODAY + timedelta(days=2)).isoformat(),
            "question": "Were the bearings packed to spec when they left the plant?",
        },
        follow_redirects=False,
    )
    assert asked.status_code == 303 and asked.headers["location"] == f"{case_url}#tasks"
    async with browser_of(app, world.a.collaborator) as collaborator:
        inbox = await collaborator.get("/console/disputes")
        assert "My tasks" in inbox.text and number in inbox.text
        seen = await collaborator.get(case_url)
        task_id = re.search(rf'action="{case_url}/tasks/({UUID})/answer"', seen.text).group(1)
        assert "Your answer" in seen.text
        assert 'name="decision"' not in seen.text and f'action="{case_url}/move"' not in seen.text
        answered = await collaborator.post(
            f"{case_url}/tasks/{task_id}/answer",
            data={
                "_csrf_token": await csrf_token(collaborator, case_url),
                "answer": "Packed to spec; the carrier dropped a pallet.",
                "version": re.search(rf'tasks/{task_id}/answer".*?name="version" value="(\d+)"', seen.text, re.S).group(1),
            },
            follow_redirects=False,
        )
        assert answered.status_code == 303
    page = await client.get(case_url)
    assert "Packed to spec; the carrier dropped a pallet." in page.text

    # A proposal with two options: a credit note, or the disputed part in two instalments.
    version = re.search(rf'action="{case_url}/proposals".*?name="version" value="(\d+)"', page.text, re.S).group(1)
    offered = await client.post(
        f"{case_url}/proposals",
        data={
            "_csrf_token": token,
            "version": version,
            "message": "Two ways to settle this.",
            "options[0].kind": "credit_note",
            "options[0].amount": "300.00",
            "options[0].description": "Credit for the scratched bearings",
            "options[1].kind": "instalments",
            "options[1].schedule[0].due_on": (TODAY + timedelta(days=30)).isoformat(),
            "options[1].schedule[0].amount": "282.50",
            "options[1].schedule[1].due_on": (TODAY + timedelta(days=60)).isoformat(),
            "options[1].schedule[1].amount": "282.50",
        },
        follow_redirects=False,
    )
    assert offered.status_code == 303, offered.text
    page = await client.get(case_url)
    choices = re.findall(rf'name="choice" value="accept:({UUID})"', page.text)
    assert len(choices) == 2 and "Instalment plan" in page.text

    # The buyer accepts the credit note by phone; the collector records it on their behalf.
    answer_url = re.search(rf'action="({case_url}/proposals/{UUID}/answer)"', page.text).group(1)
    version = re.search(r'/answer".*?name="version" value="(\d+)"', page.text, re.S).group(1)
    accepted = await client.post(
        answer_url,
        data={"_csrf_token": token, "version": version, "choice": f"accept:{choices[0]}", "on_behalf_of": "Li Na (AP)"},
        follow_redirects=False,
    )
    assert accepted.status_code == 303, accepted.text
    page = await client.get(case_url)
    assert "Li Na (AP) (recorded by" in page.text

    # Resolving asks a second person (no threshold set: every credit does); the requester cannot approve.
    version = re.search(rf'action="{case_url}/resolve".*?name="version" value="(\d+)"', page.text, re.S).group(1)
    resolved = await client.post(
        f"{case_url}/resolve",
        data={"_csrf_token": token, "version": version, "outcome": "partly_valid", "root_cause_code": "logistics"},
        follow_redirects=False,
    )
    assert resolved.status_code == 303
    page = await client.get(case_url)
    assert "Waiting for approval" in page.text and "You asked for this." in page.text
    assert 'name="decision"' not in page.text

    # The credit manager finds it in the inbox and approves it on the case page.
    async with browser_of(app, manager) as second:
        inbox = await second.get("/console/disputes")
        waiting = re.search(r'<section class="card attention" id="approvals".*?</section>', inbox.text, re.S).group(0)
        assert number in waiting and "CN¥300.00" in waiting
        seen = await second.get(case_url)
        approval_url = re.search(rf'action="({case_url}/approvals/{UUID})"', seen.text).group(1)
        version = re.search(r'/approvals/[^"]+".*?name="version" value="(\d+)"', seen.text, re.S).group(1)
        approved = await second.post(
            approval_url,
            data={"_csrf_token": await csrf_token(second, case_url), "version": version, "decision": "approve"},
            follow_redirects=False,
        )
        assert approved.status_code == 303, approved.text

    # The case shows resolved with its ledger effect; the invoice shows the credit note and the case.
    page = await client.get(case_url)
    assert re.search(r'class="badge big state-resolved">Resolved<', page.text)
    document = re.search(r"<td>Credit note</td><td>([^<]+)</td>", page.text).group(1)
    invoice_page = await client.get(f"/console/invoices/{invoice.id}")
    assert document in invoice_page.text and "−CN¥300.00" in invoice_page.text
    assert re.search(rf'<a href="{case_url}">{number}</a></td><td><span class="badge state-resolved">Resolved', invoice_page.text)
    async with uow(world.a) as session:
        after = await ledger.get_invoice(session, owner_of(world.a), invoice.id)
        assert (after.open_amount, after.disputed_amount) == (Decimal("880.00"), Decimal("0.00"))

    # The audit trail names every step, and who took it.
    audit = (await client.get("/console/audit")).text
    for action in (
        "dispute.registered",
        "dispute.evidence_added",
        "dispute.task_created",
        "dispute.task_answered",
        "dispute.proposal_offered",
        "dispute.proposal_answered",
        "dispute.approval_requested",
        "dispute.approval_approved",
        "ledger.credit_note_recorded",
        "dispute.resolved",
    ):
        assert f"<code>{action}</code>" in audit, action
    assert manager.email in audit and world.a.collaborator.email in audit


async def test_a_refused_registration_names_each_problem_beside_its_field_and_keeps_nothing(client, world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id, lines=TWO_LINES)
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/disputes/new")
    form = {
        "_csrf_token": token,
        "buyer_id": str(buyer_id),
        f"whole.{invoice.id}": "1",
        f"amount.{invoice.id}": "5000.00",  # above what is open
        "reason_code": "",
        "channel": "email",
        "opened_on": "31/12/2025",
        "description": "Wrong price on the freight line",
    }

    refused = await client.post("/console/disputes/new", data=form, files=[NO_FILE])

    assert refused.status_code == 422
    assert re.search(rf'id="amount\.{invoice.id}-error">At most CN¥1,180.00 is open', refused.text)
    assert 'id="dispute-opened-on-error">Enter the date as YYYY-MM-DD.' in refused.text
    assert "Wrong price on the freight line" in refused.text  # what was typed stays
    assert re.search(rf'name="whole\.{invoice.id}" value="1" checked', refused.text)

    # The service's own checks are shown too: a reason is missing, the rest is right now.
    form.update({f"amount.{invoice.id}": "100.00", "opened_on": TODAY.isoformat()})
    refused = await client.post("/console/disputes/new", data=form, files=[NO_FILE])
    assert refused.status_code == 422 and 'id="dispute-reason-error">Choose a reason.' in refused.text

    # Evidence whose name claims another type than its content: refused, no case, no file left behind.
    before = _stored_files(world.a)
    form["reason_code"] = "price"
    forged = await client.post(
        "/console/disputes/new",
        data=form,
        files=[("files", ("photo.png", PDF, "image/png")), ("files", ("a.pdf", PDF, "application/pdf"))],
    )
    assert forged.status_code == 422
    assert re.search(r'id="dispute-files-error" role="alert">photo.png: The file&#39;s name', forged.text)
    assert (await _cases_of(world.a))[0] == 0
    assert _stored_files(world.a) == before

    nothing_ticked = await client.post("/console/disputes/new", data={**form, f"whole.{invoice.id}": ""}, files=[NO_FILE])
    assert nothing_ticked.status_code == 422 and "Choose at least one invoice or invoice line to dispute." in nothing_ticked.text
    assert (await _cases_of(world.a))[0] == 0


async def test_the_inbox_filters_from_the_address_and_assigns_in_bulk_without_javascript(client, world):
    acme = await make_buyer(world.a, "Acme Trading Ltd")
    berlin = await make_buyer(world.a, "Berlin Bolts GmbH")
    first = await open_case(world.a, acme, [ItemInput((await make_invoice(world.a, acme)).id, amount="100.00")])
    second = await open_case(
        world.a, berlin, [ItemInput((await make_invoice(world.a, berlin)).id, amount="900.00")], reason="price"
    )
    await sign_in(client, world.a.finance)

    unassigned = await client.get("/console/disputes", params={"tab": "unassigned"})
    assert first.number in unassigned.text and second.number in unassigned.text
    assert re.search(r'tab=unassigned"[^>]*aria-current="page">Unassigned <span class="count">2</span>', unassigned.text)
    priced = await client.get("/console/disputes", params={"tab": "team", "reason": "price", "min": "500"})
    assert second.number in priced.text and first.number not in priced.text
    by_buyer = await client.get(
        "/console/disputes", params={"tab": "team", "buyer": str(acme)}, headers={"HX-Request": "true", "HX-Target": "inbox"}
    )
    assert "<html" not in by_buyer.text and first.number in by_buyer.text and second.number not in by_buyer.text
    bad = await client.get("/console/disputes", params={"tab": "team", "min": "lots"})
    assert 'id="filter-min-error"' in bad.text

    token = await csrf_token(client, "/console/disputes")
    no_owner = await client.post(
        "/console/disputes/assign", data={"_csrf_token": token, "case_id": [str(first.id)], "keep_tab": "unassigned"}
    )
    assert no_owner.status_code == 422 and 'id="bulk-owner-error"' in no_owner.text
    assigned = await client.post(
        "/console/disputes/assign",
        data={
            "_csrf_token": token,
            "case_id": [str(first.id), str(second.id)],
            "owner_user_id": str(world.a.finance.user_id),
            "keep_tab": "unassigned",
            "keep_reason": "",
        },
        follow_redirects=False,
    )
    assert assigned.status_code == 303 and assigned.headers["location"].startswith("/console/disputes?tab=unassigned")
    mine = await client.get("/console/disputes", params={"tab": "mine"})
    assert first.number in mine.text and second.number in mine.text and "No case matches." not in mine.text
    assert "No case matches." in (await client.get(assigned.headers["location"])).text


async def test_a_stale_or_disallowed_change_is_refused_with_a_clear_message_and_changes_nothing(client, world):
    buyer_id = await make_buyer(world.a)
    case = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="100.00")])
    await sign_in(client, world.a.finance)
    case_url = f"/console/disputes/{case.id}"
    token = await csrf_token(client, case_url)
    async with uow(world.a) as session:  # someone else acknowledges it meanwhile
        await disputes.move_case(session, owner_of(world.a), case.id, "acknowledged")

    stale = await client.post(f"{case_url}/move", data={"_csrf_token": token, "state": "under_review", "version": "1"})

    assert stale.status_code == 409
    assert "Someone else changed this case while you were looking at it" in stale.text
    assert 'class="badge big state-acknowledged"' in stale.text  # the page shows the case as it now is
    disallowed = await client.post(f"{case_url}/move", data={"_csrf_token": token, "state": "resolved"})
    assert disallowed.status_code == 409 and "cannot be resolved" in disallowed.text
    # With htmx the same refusal is answered in place (the page, not an error page).
    htmx = await client.post(
        f"{case_url}/move", data={"state": "under_review", "version": "1"}, headers={"HX-Request": "true", "x-csrftoken": token}
    )
    assert htmx.status_code == 409 and 'id="page-error"' in htmx.text
    rejected_without_reason = await client.post(
        f"{case_url}/move", data={"_csrf_token": token, "state": "rejected", "root_cause_code": "other"}
    )
    assert (
        rejected_without_reason.status_code == 422
        and "Give the reasons for rejecting the dispute" in rejected_without_reason.text
    )
    async with uow(world.a) as session:
        assert (await disputes.get_case(session, owner_of(world.a), case.id)).state is DisputeState.ACKNOWLEDGED


async def test_messages_and_internal_notes_are_told_apart_and_a_collaborator_writes_only_notes(app, client, world):
    buyer_id = await make_buyer(world.a)
    case = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="100.00")])
    case_url = f"/console/disputes/{case.id}"
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, case_url)

    sent = await client.post(
        f"{case_url}/messages",
        data={"_csrf_token": token, "audience": "buyer", "body": "We are looking into it."},
        files=[("files", ("note.pdf", PDF, "application/pdf"))],
        follow_redirects=False,
    )
    assert sent.status_code == 303
    noted = await client.post(
        f"{case_url}/messages",
        data={"audience": "note", "body": "Sales says this buyer always <b>pushes</b>."},
        files=[NO_FILE],
        headers={"HX-Request": "true", "x-csrftoken": token},
    )
    assert noted.status_code == 200 and "<html" in noted.text  # htmx swaps the page's main in place
    page = (await client.get(case_url)).text
    external = re.search(r'<li class="message to-buyer".*?</li>', page, re.S).group(0)
    internal = re.search(r'<li class="message internal".*?</li>', page, re.S).group(0)
    assert "We are looking into it." in external and "note.pdf" in external
    assert "Internal note" in internal and "&lt;b&gt;pushes&lt;/b&gt;" in internal
    attachment = re.search(rf'href="({case_url}/files/{UUID})"', external).group(1)
    download = await client.get(attachment)
    assert download.content == PDF and download.headers["content-disposition"].startswith("inline")
    # Framed for its preview by the case page only, and never read as anything but a PDF.
    assert "frame-ancestors 'self'" in download.headers["content-security-policy"]
    assert download.headers["x-frame-options"] == "SAMEORIGIN" and download.headers["x-content-type-options"] == "nosniff"

    async with browser_of(app, world.a.collaborator) as collaborator:
        seen = (await collaborator.get(case_url)).text
        assert 'value="buyer"' not in seen  # the choice is not even offered
        token = await csrf_token(collaborator, case_url)
        forced = await collaborator.post(
            f"{case_url}/messages", data={"_csrf_token": token, "audience": "buyer", "body": "Hello buyer"}, files=[NO_FILE]
        )
        assert forced.status_code == 403
        empty = await collaborator.post(f"{case_url}/messages", data={"_csrf_token": token, "body": " "}, files=[NO_FILE])
        assert empty.status_code == 422 and 'id="message-body-error">Write the message.' in empty.text


async def test_a_collaborator_cannot_approve_and_another_supplier_finds_nothing_of_the_case(app, client, world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    proposal, options = await propose(world.a, case.id, credit("200.00"))
    await accept(world.a, proposal.id, options[0].id)
    async with uow(world.a) as session:
        owner = owner_of(world.a)
        task = await disputes.create_task(
            session, owner, case.id, NewTask(world.a.collaborator.user_id, "sales", "Any history?", TODAY + timedelta(days=1))
        )
        evidence = await disputes.add_evidence(session, owner, case.id, filename="photo.png", source=io.BytesIO(png()))
        result = await disputes.resolve_case(session, owner, case.id, Resolution("valid", "product_defect"))
    approval = result.approval
    case_url = f"/console/disputes/{case.id}"

    async with browser_of(app, world.a.collaborator) as collaborator:
        page = await collaborator.get(case_url)
        assert page.status_code == 200 and "Waiting for approval" in page.text and 'name="decision"' not in page.text
        refused = await collaborator.post(
            f"{case_url}/approvals/{approval.id}",
            data={"_csrf_token": await csrf_token(collaborator, case_url), "decision": "approve"},
        )
        assert refused.status_code == 403
        assert (await collaborator.get(f"/console/disputes/new?buyer_id={buyer_id}")).status_code == 403

    # Another supplier's owner: every address of the case is not found, never forbidden.
    await sign_in(client, world.b.finance)
    token = await csrf_token(client, "/console/disputes")
    for url in (case_url, f"{case_url}/files/{evidence.id}", f"/console/disputes/new?invoice_id={invoice.id}"):
        assert (await client.get(url)).status_code == 404, url
    for url, data in (
        (f"{case_url}/move", {"state": "acknowledged"}),
        (f"{case_url}/owner", {"owner_user_id": ""}),
        (f"{case_url}/phase", {"phase": "late"}),
        (f"{case_url}/checklist", {"delivery_proven.answer": "yes"}),
        (
            f"{case_url}/tasks",
            {"assignee_user_id": str(world.b.finance.user_id), "team": "sales", "question": "?", "due_on": TODAY.isoformat()},
        ),
        (f"{case_url}/tasks/{task.id}/answer", {"answer": "mine now"}),
        (f"{case_url}/tasks/{task.id}/cancel", {}),
        (f"{case_url}/proposals", {"options[0].kind": "write_off", "options[0].amount": "1"}),
        (f"{case_url}/proposals/{proposal.id}/answer", {"choice": "decline", "on_behalf_of": "x"}),
        (f"{case_url}/resolve", {"outcome": "valid", "root_cause_code": "other"}),
        (f"{case_url}/approvals/{approval.id}", {"decision": "approve"}),
    ):
        assert (await client.post(url, data={"_csrf_token": token, **data})).status_code == 404, url
    for url in (f"{case_url}/evidence", f"{case_url}/messages"):
        posted = await client.post(
            url, data={"_csrf_token": token, "body": "x"}, files=[("files", ("p.png", png(), "image/png"))]
        )
        assert posted.status_code == 404, url
    # Their own case's address cannot reach A's task, proposal or approval either.
    b_buyer = await make_buyer(world.b)
    b_case = await open_case(world.b, b_buyer, [ItemInput((await make_invoice(world.b, b_buyer)).id, amount="10.00")])
    b_url = f"/console/disputes/{b_case.id}"
    for url, data in (
        (f"{b_url}/tasks/{task.id}/answer", {"answer": "x"}),
        (f"{b_url}/proposals/{proposal.id}/answer", {"choice": "decline", "on_behalf_of": "x"}),
        (f"{b_url}/approvals/{approval.id}", {"decision": "approve"}),
    ):
        assert (await client.post(url, data={"_csrf_token": token, **data})).status_code == 404, url
    assert (await client.get(f"{b_url}/files/{evidence.id}")).status_code == 404
    inbox = await client.get("/console/disputes", params={"tab": "team", "state": "all"})
    assert str(b_case.id) in inbox.text and str(case.id) not in inbox.text
    async with uow(world.a) as session:
        assert (await disputes.get_case(session, owner_of(world.a), case.id)).state is DisputeState.AGREED


async def test_a_proposal_form_grows_rows_without_javascript_and_names_a_bad_option_in_place(client, world):
    buyer_id = await make_buyer(world.a)
    case = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="300.00")])
    case_url = f"/console/disputes/{case.id}"
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, case_url)
    typed = {
        "_csrf_token": token,
        "message": "Our offer",
        "options[0].kind": "instalments",
        "options[0].schedule[0].due_on": (TODAY + timedelta(days=10)).isoformat(),
        "options[0].schedule[0].amount": "100",
        "options[1].kind": "discount",
        "options[1].amount": "900.00",  # above what the case holds
    }

    grown = await client.post(f"{case_url}/proposals", data={**typed, "add_option": "1"})
    assert grown.status_code == 200 and 'name="options[2].kind"' in grown.text and "Our offer" in grown.text
    more = await client.post(f"{case_url}/proposals", data={**typed, "add_instalment": "0"})
    assert 'name="options[0].schedule[3].due_on"' in more.text

    refused = await client.post(f"{case_url}/proposals", data=typed)
    assert refused.status_code == 422
    assert re.search(r'id="option-1-amount-error">The amount is above what the case still disputes', refused.text)
    assert 'value="900.00"' in refused.text
    async with uow(world.a) as session:
        assert (await disputes.case_details(session, owner_of(world.a), case.id)).proposals == []

    offered = await client.post(f"{case_url}/proposals", data={**typed, "options[1].amount": "250"}, follow_redirects=False)
    assert offered.status_code == 303
    async with uow(world.a) as session:
        [(_proposal, options)] = (await disputes.case_details(session, owner_of(world.a), case.id)).proposals
        assert [(o.kind.value, o.amount) for o in options] == [("instalments", Decimal("100")), ("discount", Decimal("250"))]


async def test_the_checklist_is_answered_in_one_form_and_only_changes_are_recorded(client, world):
    buyer_id = await make_buyer(world.a)
    case = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="100.00")])
    case_url = f"/console/disputes/{case.id}"
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, case_url)
    answers = {"_csrf_token": token, "delivery_proven.answer": "yes", "delivery_proven.note": "POD signed by Li Wei"}

    assert (await client.post(f"{case_url}/checklist", data=answers, follow_redirects=False)).status_code == 303
    assert (await client.post(f"{case_url}/checklist", data=answers, follow_redirects=False)).status_code == 303

    page = (await client.get(case_url)).text
    assert re.search(r'name="delivery_proven.answer" value="yes" checked', page) and "POD signed by Li Wei" in page
    async with uow(world.a) as session:
        events = (await disputes.case_details(session, owner_of(world.a), case.id)).events
        assert [e.kind for e in events].count("checklist_answered") == 1


async def test_a_resolution_above_the_threshold_waits_and_a_refusal_says_why(app, client, world):
    buyer_id = await make_buyer(world.a)
    case = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="300.00")])
    proposal, options = await propose(world.a, case.id, OptionInput("write_off", "120.00", "Goodwill"))
    await accept(world.a, proposal.id, options[0].id)
    case_url = f"/console/disputes/{case.id}"
    await sign_in(client, world.a.finance)
    page = (await client.get(case_url)).text
    assert "Every credit note or write-off in CNY needs a second person" in page
    token = await csrf_token(client, case_url)
    version = re.search(rf'action="{case_url}/resolve".*?name="version" value="(\d+)"', page, re.S).group(1)
    no_cause = await client.post(f"{case_url}/resolve", data={"_csrf_token": token, "version": version, "outcome": "valid"})
    assert no_cause.status_code == 422 and 'id="resolve-cause-error">Choose a root cause.' in no_cause.text
    await client.post(
        f"{case_url}/resolve", data={"_csrf_token": token, "version": version, "outcome": "valid", "root_cause_code": "other"}
    )

    manager = await credit_manager_of(world.a)
    async with browser_of(app, manager) as second:
        page = (await second.get(case_url)).text
        approval_url = re.search(rf'action="({case_url}/approvals/{UUID})"', page).group(1)
        token = await csrf_token(second, case_url)
        silent = await second.post(approval_url, data={"_csrf_token": token, "decision": "refuse"})
        assert silent.status_code == 422 and 'id="approval-note-error">Say why you refuse' in silent.text
        refused = await second.post(
            approval_url, data={"_csrf_token": token, "decision": "refuse", "note": "Too generous"}, follow_redirects=False
        )
        assert refused.status_code == 303
    page = (await client.get(case_url)).text
    assert "Refused" in page and "Too generous" in page and "Carry out the agreement" in page
