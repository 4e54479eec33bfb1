"""The dispute pages in headless Chromium, in both languages: the inbox, registering a case, and working it.

Same server and browser set-up as test_console_in_a_browser.py; screenshots go to test-artifacts/<db>/disputes/.
"""

from __future__ import annotations

import io
import secrets
import shutil
from datetime import date, timedelta
from decimal import Decimal

import pytest

from backend.disputes import service as disputes
from backend.disputes.service import Attachment, ItemInput, NewTask, OptionInput
from backend.invoices import service as ledger
from backend.invoices.drafts import InvoiceDraft, LineDraft
from tests.browser.test_console_in_a_browser import ARTIFACTS as CONSOLE_ARTIFACTS
from tests.browser.test_console_in_a_browser import CHROMIUM, LAUNCH_ARGS, _page, _sign_in, server  # noqa: F401 (fixture)
from tests.disputes.helpers import accept, open_case, propose, uow
from tests.factories import make_buyer, owner_of
from tests.portal.test_dispute_pages import PDF, png

ARTIFACTS = CONSOLE_ARTIFACTS / "disputes"
TODAY = date.today()
LINES = (("Bearing 6204 深沟球轴承", "100", "12.50", "13"), ("Freight 运费", "1", "80.00", "9"))


@pytest.fixture(scope="module")
async def chromium():
    from playwright.async_api import async_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        await browser.close()


async def _invoice(supplier, buyer_id, days_ago: int):
    """An issued invoice whose bearing line carries a SKU, so that cases on it share a product."""
    draft = InvoiceDraft(
        number=f"INV-{secrets.token_hex(3).upper()}",
        buyer_reference="",
        currency="CNY",
        issue_date=TODAY - timedelta(days=days_ago),
        due_date=None,
        po_reference=f"PO-{days_ago}",
        lines=[
            LineDraft(description=d, quantity=Decimal(q), unit_price=Decimal(p), tax_rate=Decimal(t), sku=sku)
            for sku, (d, q, p, t) in zip(("6204-2RS", None), LINES, strict=True)
        ],
    )
    async with uow(supplier) as session:
        invoice = await ledger.create_invoice(session, owner_of(supplier), draft, buyer_id=buyer_id)
        return await ledger.issue_invoice(session, owner_of(supplier), invoice.id)


async def _disputes_of(supplier):
    """A buyer with a case in negotiation (evidence, a task, notes, a proposal), one closed elsewhere, one new."""
    buyer_id = await make_buyer(supplier, "上海精密轴承有限公司", reference="SH-0001")
    other_buyer = await make_buyer(supplier, "Berlin Bolts GmbH", reference="DE-0042")
    invoices = [await _invoice(supplier, buyer_id, days) for days in (40, 20)]
    older = await _invoice(supplier, other_buyer, 90)
    owner = owner_of(supplier)
    # A closed case of another buyer, same reason and product: the knowledge base.
    closed = await open_case(supplier, other_buyer, [ItemInput(older.id, amount="200.00")], description="Rusty bearings.")
    async with uow(supplier) as session:
        await disputes.move_case(
            session, owner, closed.id, "rejected", note="Stored wet by the buyer.", root_cause_code="buyer_misunderstanding"
        )
    case = await open_case(
        supplier,
        buyer_id,
        [ItemInput(invoices[0].id, amount="400.00")],
        description="约三分之一的轴承外圈有划痕。\nAbout a third of the bearings have scratched outer rings.",
    )
    async with uow(supplier) as session:
        await disputes.assign_case(session, owner, case.id, supplier.finance.user_id)
        await disputes.add_evidence(session, owner, case.id, filename="划痕照片.png", source=io.BytesIO(png(320, 200)))
        await disputes.add_evidence(session, owner, case.id, filename="delivery-note.pdf", source=io.BytesIO(PDF))
        await disputes.create_task(
            session,
            owner,
            case.id,
            NewTask(supplier.collaborator.user_id, "quality", "Were the bearings packed to spec?", TODAY + timedelta(days=3)),
        )
        await disputes.post_message(
            session, owner, case.id, body="We have your photos and are checking the batch.", internal=False
        )
        await disputes.post_message(
            session,
            owner,
            case.id,
            body="Batch 2291 had a packing complaint before.",
            internal=True,
            attachments=[Attachment("packing.pdf", io.BytesIO(PDF))],
        )
        await disputes.answer_checklist(session, owner, case.id, "delivery_proven", "yes", "POD signed")
    await propose(
        supplier,
        case.id,
        OptionInput("credit_note", "250.00", "Credit for the scratched bearings"),
        OptionInput("instalments", schedule=[(TODAY + timedelta(days=30), "500.00"), (TODAY + timedelta(days=60), "500.00")]),
    )
    fresh = await open_case(supplier, buyer_id, [ItemInput(invoices[1].id, amount="80.00")], reason="price")
    return buyer_id, invoices, case, fresh


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_collector_works_disputes_in_the_console(server, chromium, world, language):  # noqa: F811
    buyer_id, _invoices, case, fresh = await _disputes_of(world.a)
    page = await _page(chromium, language)
    await _sign_in(page, server, world.a.finance)
    if language != "en":
        await page.click(f"button[value='{language}']")
        await page.wait_for_selector(f"html[lang='{language}']")

    # The inbox: my cases first; the unassigned tab; a filter answered by htmx and kept in the address.
    await page.click("nav a[href='/console/disputes']")
    await page.wait_for_selector("#inbox table")
    assert await page.locator(f"#case-{case.id}").count() == 1 and await page.locator(f"#case-{fresh.id}").count() == 0
    await page.screenshot(path=ARTIFACTS / f"{language}-inbox-mine.png", full_page=True, caret="initial")
    await page.click("#inbox .tabs a[href^='/console/disputes?tab=unassigned']")
    await page.wait_for_selector(f"#case-{fresh.id}")
    async with page.expect_response(lambda r: "/console/disputes?" in r.url and "reason=quality" in r.url) as answer:
        await page.select_option("#filter-reason", "quality")
    assert (await answer.value).status == 200
    await page.wait_for_selector(f"#case-{fresh.id}", state="detached")
    assert "reason=quality" in page.url
    await page.select_option("#filter-reason", "")
    await page.wait_for_selector(f"#case-{fresh.id}")
    # Bulk assign the new case to myself.
    await page.check(f"#pick-{fresh.id}")
    await page.select_option("#bulk-owner", str(world.a.finance.user_id))
    await page.click("#bulk-assign .bulk-bar button")
    await page.wait_for_selector("#inbox .notice")
    assert await page.locator(f"#case-{fresh.id}").count() == 0
    await page.screenshot(path=ARTIFACTS / f"{language}-inbox-assigned.png", full_page=True, caret="initial")

    # Registering a case: the buyer, then a line of an invoice with less than its amount.
    await page.click("a[href='/console/disputes/new']")
    await page.select_option("#dispute-buyer", str(buyer_id))
    await page.wait_for_selector("#new-dispute")
    line = page.locator("#new-dispute tr.line-row input[type='checkbox']").nth(2)  # the second invoice's bearing line
    await line.check()
    line_id = (await line.get_attribute("id")).split(".", 1)[1]
    await page.fill(f"[id='amount.{line_id}']", "99999")
    await page.select_option("#dispute-reason", "quantity")
    await page.fill("#dispute-description", "少了 12 个轴承 / 12 bearings short")
    await page.click("#new-dispute .form-actions button.primary")
    await page.wait_for_selector(f"[id='amount.{line_id}-error']")
    assert await page.input_value("#dispute-description") == "少了 12 个轴承 / 12 bearings short"
    await page.screenshot(path=ARTIFACTS / f"{language}-register-refused.png", full_page=True, caret="initial")
    await page.fill(f"[id='amount.{line_id}']", "150.00")
    await page.set_input_files("#dispute-files", files=[{"name": "count.png", "mimeType": "image/png", "buffer": png(240, 160)}])
    await page.click("#new-dispute .form-actions button.primary")
    await page.wait_for_selector("#items")
    assert "/console/disputes/" in page.url and "/new" not in page.url
    await page.screenshot(path=ARTIFACTS / f"{language}-registered.png", full_page=True, caret="initial")
    # A move is a button: htmx sends the one clicked and the case page is redrawn in place.
    async with page.expect_response(lambda r: r.url.endswith("/move")) as moved:
        await page.click("#actions button[value='acknowledged']")
    assert (await moved.value).status == 200
    await page.wait_for_selector("h1 + .badge.state-acknowledged")

    # The case in negotiation: evidence previewed, the thread, the buyer's answer recorded, resolved.
    await page.goto(f"{server}/console/disputes/{case.id}")
    await page.wait_for_selector("#evidence img")
    assert await page.eval_on_selector("#evidence img", "img => img.complete && img.naturalWidth") == 320
    # The PDF is previewed in a frame of the page (headless Chromium has no PDF viewer to draw it).
    async with page.expect_response(lambda r: "/files/" in r.url and r.request.resource_type == "document") as shown:
        await page.click("#evidence details.pdf-preview summary")
    assert (await shown.value).status == 200 and (await shown.value).headers["content-type"] == "application/pdf"
    assert await page.locator("#similar li >> text=Berlin Bolts GmbH").count() == 1  # same reason and product, closed
    await page.screenshot(path=ARTIFACTS / f"{language}-case.png", full_page=True, caret="initial")

    # An internal note through htmx: the thread grows without a page load.
    await page.check("input[name='audience'][value='note']")
    await page.fill("#message-body", "Quality confirms: packing was to spec / 包装符合规范")
    async with page.expect_response(lambda r: r.url.endswith("/messages")) as answer:
        await page.click("#thread button.primary")
    assert (await answer.value).status == 200
    await page.wait_for_selector("#thread li.message.internal >> text=包装符合规范")

    # The buyer's answer, without naming who gave it: refused in place; then accepted.
    await page.check("#proposals input[name='choice'][value^='accept:']")
    await page.click("#proposals .answer-form button.primary")
    await page.wait_for_selector("#proposals [id$='-by-error']")
    await page.screenshot(path=ARTIFACTS / f"{language}-answer-refused.png", full_page=True, caret="initial")
    await page.check("#proposals input[name='choice'][value^='accept:']")
    await page.fill("#proposals input[name='on_behalf_of']", "李娜 (AP)")
    await page.click("#proposals .answer-form button.primary")
    await page.wait_for_selector("#resolution .resolve-form")
    await page.select_option("#resolve-cause", "logistics")
    await page.click("#resolution .resolve-form button.primary")
    await page.wait_for_selector("#resolution .approval-box")
    await page.screenshot(path=ARTIFACTS / f"{language}-waiting-for-approval.png", full_page=True, caret="initial")

    # The only refused requests were the ones this test provoked (422 bad input).
    assert [p for p in page.problems if "status of 422" not in p] == []
    await page.context.close()


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_a_collaborator_answers_a_task_and_sees_no_approval_button(server, chromium, world, language):  # noqa: F811
    _buyer_id, _invoices, case, _fresh = await _disputes_of(world.a)
    async with uow(world.a) as session:
        details = await disputes.case_details(session, owner_of(world.a), case.id)
    proposal, options = details.proposals[0]
    await accept(world.a, proposal.id, options[0].id)
    async with uow(world.a) as session:
        await disputes.resolve_case(session, owner_of(world.a), case.id, disputes.Resolution("valid", "logistics"))
    page = await _page(chromium, language)
    await _sign_in(page, server, world.a.collaborator)
    if language != "en":
        await page.click(f"button[value='{language}']")
        await page.wait_for_selector(f"html[lang='{language}']")

    await page.goto(f"{server}/console/disputes")
    await page.wait_for_selector("#my-tasks")
    await page.screenshot(path=ARTIFACTS / f"{language}-collaborator-inbox.png", full_page=True, caret="initial")
    await page.click(f"#my-tasks a[href^='/console/disputes/{case.id}']")
    await page.wait_for_selector(".task.mine textarea")
    assert await page.locator("button[name='decision']").count() == 0
    assert await page.locator("input[name='audience'][value='buyer']").count() == 0
    await page.fill(".task.mine textarea", "包装符合规范；承运人摔了一个托盘。Packed to spec; the carrier dropped a pallet.")
    await page.click(".task.mine button.primary")
    await page.wait_for_selector("blockquote.answer >> text=Packed to spec")
    await page.screenshot(path=ARTIFACTS / f"{language}-collaborator-case.png", full_page=True, caret="initial")
    assert page.problems == []
    await page.context.close()
