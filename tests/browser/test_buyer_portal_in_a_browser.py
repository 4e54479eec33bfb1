"""The buyer's journey through the portal in headless Chromium, in English and in Chinese.

A buyer's contact signs in by the link e-mailed to them, raises a dispute on one line of an invoice
with two files, answers the supplier's question, accepts one of two options, and sees the credit note
on the invoice once the supplier has carried it out. Screenshots go to test-artifacts/<db>/portal/.
The server is the real `accord serve` of test_console_in_a_browser.py (jobs in its own process, so the
sign-in link is e-mailed by its worker into the mail folder).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import shutil
import time
from datetime import date, timedelta

import pytest

from backend.disputes import service as disputes
from backend.disputes.models import DisputeCase, DisputeState
from backend.disputes.service import OptionInput, Resolution
from backend.invoices.models import EntryKind, LedgerEntry
from tests.browser.test_console_in_a_browser import ARTIFACTS as CONSOLE_ARTIFACTS
from tests.browser.test_console_in_a_browser import CHROMIUM, LAUNCH_ARGS, _page, server  # noqa: F401 (fixture)
from tests.buyer_portal.helpers import invited_contact
from tests.conftest import VAR_DIR
from tests.disputes.helpers import uow
from tests.disputes.team import set_threshold
from tests.factories import make_buyer, make_invoice, owner_of
from tests.portal.test_dispute_pages import PDF, png

ARTIFACTS = CONSOLE_ARTIFACTS / "portal"
LINK = re.compile(r"https?://[^/\s]+(/portal/link/[A-Za-z0-9_\-]+)")
# The words that show each step worked, in the page's language.
WORDS = {
    "en": {"sent": "sign-in link is on its way", "agreed": "Agreed", "credit": "Credit note"},
    "zh-CN": {"sent": "登录链接", "agreed": "已达成协议", "credit": "贷项通知单"},
}


@pytest.fixture(scope="module")
async def chromium():
    from playwright.async_api import async_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        await browser.close()


def _mails() -> set[str]:
    return {path.name for path in (VAR_DIR / "mail").glob("*.eml")}


async def _link_mailed_to(address: str, after: set[str], timeout: float = 20.0) -> str:
    """The path of the sign-in link the server's worker e-mailed to the address since `after` was taken."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in (VAR_DIR / "mail").glob("*.eml"):
            if path.name in after:
                continue
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == address and (match := LINK.search(message.get_body(("plain",)).get_content())):
                return match.group(1)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no sign-in link reached {address}")


async def _shot(page, language: str, name: str) -> None:
    await page.screenshot(path=ARTIFACTS / f"{language}-{name}.png", full_page=True, caret="initial")


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_buyer_disputes_a_line_answers_accepts_and_sees_the_credit_note(server, chromium, world, language):  # noqa: F811
    words = WORDS[language]
    supplier = world.a
    owner = owner_of(supplier)
    buyer_id = await make_buyer(supplier, "上海精密轴承有限公司" if language == "zh-CN" else "Berlin Bolts GmbH")
    invoice = await make_invoice(
        supplier,
        buyer_id,
        lines=[("Bearing 6204 深沟球轴承", "100", "12.50", "13"), ("Freight 运费", "1", "80.00", "9")],
        issue_date=date.today() - timedelta(days=20),
    )
    address = f"ap-{language.lower()}@buyer.example"
    await invited_contact(supplier, buyer_id, address, name="王芳" if language == "zh-CN" else "Anna Weber", language=language)
    await set_threshold(supplier, "CNY", "10000")

    page = await _page(chromium, language)
    # 1. Sign in by the e-mailed link.
    await page.goto(server + "/portal/sign-in")
    assert await page.locator("html").get_attribute("lang") == language
    await page.fill("#email", address)
    # The invitation went out first (its link is replaced by the one asked for now).
    await _link_mailed_to(address, set())
    before = _mails()
    await page.click("button.primary")
    await page.wait_for_selector(f"text={words['sent']}")
    await _shot(page, language, "1-link-sent")
    await page.goto(server + await _link_mailed_to(address, before))
    await page.click("button.primary")
    await page.wait_for_url(server + "/portal")
    await _shot(page, language, "2-home")

    # 2. Raise a dispute on the bearing line, with two files.
    await page.goto(server + f"/portal/invoices/{invoice.id}")
    await _shot(page, language, "3-invoice")
    await page.click(f"a[href='/portal/disputes/new?invoice={invoice.id}']")
    async with uow(supplier) as session:
        from backend.invoices.repository import InvoiceRepository

        lines = await InvoiceRepository(session).lines(invoice.id)
        invoice_line_id = next(line.id for line in lines if line.line_no == 1)
    # The invoice page's link ticks the whole invoice; the buyer disputes one line of it instead.
    await page.uncheck(f"input[name='whole.{invoice.id}']")
    await page.check(f"input[name='line.{invoice_line_id}']")
    await page.fill(f"input[name='amount.{invoice_line_id}']", "300.00")
    await page.select_option("#dispute-reason", "quality")
    await page.fill(
        "#dispute-description", "约三分之一的轴承外圈有划痕。 About a third of the bearings have scratched outer rings."
    )
    await page.set_input_files(
        "#dispute-files",
        files=[
            {"name": "scratches.png", "mimeType": "image/png", "buffer": png(320, 200)},
            {"name": "delivery-note.pdf", "mimeType": "application/pdf", "buffer": PDF},
        ],
    )
    await _shot(page, language, "4-raise")
    await page.click("form.dispute-new-form button.primary")
    await page.wait_for_url(re.compile(r".*/portal/disputes/[0-9a-f-]{36}$"))
    case_id = page.url.rsplit("/", 1)[1]
    assert "scratches.png" in await page.content() and "delivery-note.pdf" in await page.content()
    await _shot(page, language, "5-dispute")

    async with uow(supplier) as session:
        case = await session.get(DisputeCase, (supplier.tenant_id, __import__("uuid").UUID(case_id)))
        assert case.channel.value == "portal" and str(case.disputed_amount) in ("300.0000", "300.00", "300")
        # 3. The supplier asks a question, then offers two options.
        await disputes.move_case(session, owner, case.id, "acknowledged")
        await disputes.post_message(
            session, owner, case.id, body="Which batch number is on the boxes?", internal=False, question=True
        )
        await disputes.post_message(session, owner, case.id, body="INTERNAL: check batch 2291 first", internal=True)
    await page.reload()
    question = page.locator("form textarea[id$='-body']").first
    await question.fill("Batch 2291, boxes 4 to 9. 批号 2291。")
    await _shot(page, language, "6-question")
    await page.locator("#questions button.primary").first.click()
    await page.wait_for_selector("text=Batch 2291, boxes 4 to 9")
    assert "INTERNAL: check batch" not in await page.content()

    async with uow(supplier) as session:
        await disputes.move_case(session, owner, case.id, "under_review")
        await disputes.create_proposal(
            session,
            owner,
            case.id,
            [
                OptionInput("credit_note", "250.00", "Credit for the scratched bearings"),
                OptionInput("redelivery", description="New bearings with the next delivery"),
            ],
        )
    await page.reload()
    await _shot(page, language, "7-proposal")
    await page.locator("#proposals form.accept-form button").first.click()
    await page.wait_for_selector(f"text={words['agreed']}")
    await _shot(page, language, "8-agreed")

    # 4. The supplier carries out the agreement; the buyer sees the credit note on the invoice.
    async with uow(supplier) as session:
        result = await disputes.resolve_case(session, owner, case.id, Resolution("partly_valid", "product_defect"))
        assert result.approval is None and result.case.state is DisputeState.RESOLVED
    await page.goto(server + f"/portal/invoices/{invoice.id}")
    content = await page.content()
    assert words["credit"] in content
    async with uow(supplier) as session:
        from sqlalchemy import select

        credit_notes = (await session.scalars(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.CREDIT_NOTE))).all()
        assert any(entry.document_number in content for entry in credit_notes)
    await _shot(page, language, "9-credit-note")
    assert page.problems == []


async def test_enter_in_the_counter_amount_sends_a_counter_proposal_and_accepts_nothing(server, chromium, world):  # noqa: F811
    supplier = world.a
    buyer_id = await make_buyer(supplier, "Enter Key Trading Ltd")
    invoice = await make_invoice(supplier, buyer_id)
    address = "ap-enter@buyer.example"
    await invited_contact(supplier, buyer_id, address, name="Anna Weber")
    async with uow(supplier) as session:
        from backend.disputes.service import ItemInput, NewCase

        owner = owner_of(supplier)
        case = await disputes.register_case(
            session,
            owner,
            NewCase(
                buyer_id=buyer_id,
                reason_code="quality",
                description="Scratched",
                channel="email",
                items=[ItemInput(invoice.id, amount="400.00")],
            ),
        )
        await disputes.create_proposal(session, owner, case.id, [OptionInput("credit_note", "100.00", "Credit")])

    page = await _page(chromium, "en")
    await page.goto(server + "/portal/sign-in")
    await page.fill("#email", address)
    await _link_mailed_to(address, set())
    before = _mails()
    await page.click("button.primary")
    await page.wait_for_selector("text=sign-in link is on its way")
    await page.goto(server + await _link_mailed_to(address, before))
    await page.click("button.primary")
    await page.wait_for_url(server + "/portal")

    await page.goto(server + f"/portal/disputes/{case.id}")
    await page.fill("#proposals textarea[name='note']", "We ask 250: half the lot is unusable.")
    await page.fill("#proposals input[name='counter_amount']", "250.00")
    await page.press("#proposals input[name='counter_amount']", "Enter")
    await page.wait_for_selector("text=Asked for instead")
    async with uow(supplier) as session:
        case = await session.get(DisputeCase, (supplier.tenant_id, case.id))
        assert case.state is DisputeState.NEGOTIATING and case.agreed_option_id is None
    assert page.problems == []
