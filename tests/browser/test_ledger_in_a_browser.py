"""The ledger pages in headless Chromium, in both languages: buyers, a buyer, invoices, an invoice, a statement.

Same server and browser set-up as test_console_in_a_browser.py; screenshots go to test-artifacts/<db>/ledger/.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from decimal import Decimal

import pytest

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.invoices import checks
from backend.invoices import service as ledger
from tests.browser.test_console_in_a_browser import ARTIFACTS as CONSOLE_ARTIFACTS
from tests.browser.test_console_in_a_browser import CHROMIUM, LAUNCH_ARGS, _page, _sign_in, server  # noqa: F401 (fixture)
from tests.factories import make_buyer, make_invoice, owner_of

ARTIFACTS = CONSOLE_ARTIFACTS / "ledger"
TODAY = date.today()


@pytest.fixture(scope="module")
async def chromium():
    from playwright.async_api import async_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        await browser.close()


async def _ledger_of(supplier):
    """A buyer with invoices in every aging bucket, a part payment, a contact, and a draft the audit blocks."""
    buyer_id = await make_buyer(
        supplier, "上海精密轴承有限公司", reference="SH-0001", tags=["key account"], vat_number="91310000MA1FL"
    )
    await make_buyer(supplier, "Berlin Bolts GmbH", reference="DE-0042", country="DE", currency="EUR")
    invoices = []
    for days_past_due in (-20, 5, 40, 75, 120):
        invoices.append(
            await make_invoice(
                supplier,
                buyer_id,
                lines=(("Bearing 6204 深沟球轴承", "100", "12.50", "13"), ("Freight", "1", "80.00", "9")),
                issue_date=TODAY - timedelta(days=days_past_due + 30),
                due_date=TODAY - timedelta(days=days_past_due),
                po_reference=f"PO-{days_past_due + 100}",
            )
        )
    draft = await make_invoice(supplier, buyer_id, lines=(("Bearing 6306", "40", "30.00", "13"),), issue=False)
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        principal = owner_of(supplier)
        await ledger.record_payment(
            session, principal, buyer_id=buyer_id, amount=Decimal("1000.00"), currency="CNY", document_number="BANK-2026-001"
        )
        await checks.set_blocking(session, principal, "missing_order", True)
    return buyer_id, invoices, draft


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_collector_works_the_ledger_in_the_console(server, chromium, world, language):  # noqa: F811
    buyer_id, invoices, draft = await _ledger_of(world.a)
    page = await _page(chromium, language)
    await _sign_in(page, server, world.a.finance)
    if language != "en":
        await page.click(f"button[value='{language}']")
        await page.wait_for_selector(f"html[lang='{language}']")

    # Buyers: the list, then a search answered by htmx without a page load.
    await page.click("nav a[href='/console/buyers']")
    await page.wait_for_selector("#buyers table")
    async with page.expect_response(lambda r: "/console/buyers?" in r.url) as answer:
        await page.fill("#buyer-search", "精密")
    assert (await answer.value).status == 200
    await page.wait_for_function("!document.querySelector('#buyers').textContent.includes('Berlin Bolts')")
    assert "q=" in page.url
    await page.screenshot(path=ARTIFACTS / f"{language}-buyers.png", full_page=True, caret="initial")

    # A bad new buyer is explained next to its field.
    await page.fill("#buyer-reference", "NEW-1")
    await page.fill("#buyer-legal-name", "Nowhere Ltd")
    await page.fill("#buyer-new-country", "China")
    await page.click("#new-buyer button.primary")
    await page.wait_for_selector("#buyer-new-country-error")

    # The buyer: aging, contacts added in place, a payment with a bad amount refused in place.
    await page.goto(f"{server}/console/buyers/{buyer_id}")
    await page.fill("#contact-name", "李伟")
    await page.fill("#contact-email", f"li.wei.{language.lower()}@example.cn")
    await page.select_option("#contact-language", "zh-CN")
    await page.click("#contacts button.primary")
    await page.wait_for_selector(f"#contacts >> text=li.wei.{language.lower()}@example.cn")
    await page.fill("#payment-amount", "12.345")
    await page.click("#payment button.primary")
    await page.wait_for_selector("#payment-amount-error")
    await page.screenshot(path=ARTIFACTS / f"{language}-buyer.png", full_page=True, caret="initial")

    # Invoices: a filter changes the table through htmx and the address keeps it.
    await page.click("nav a[href='/console/invoices']")
    await page.check("input[name='overdue']")
    await page.wait_for_url(lambda url: "overdue=1" in url)
    await page.wait_for_function(f"!document.querySelector('#invoices').textContent.includes('{invoices[0].number}')")
    for late in invoices[1:]:
        assert await page.locator(f"#invoices >> text={late.number}").count() == 1
    await page.screenshot(path=ARTIFACTS / f"{language}-invoices.png", full_page=True, caret="initial")
    await page.reload()
    assert await page.locator("input[name='overdue']").is_checked()

    # An invoice with its lines and ledger; a credit note without a reason is refused in place.
    await page.click(f"a:text('{invoices[-1].number}')")
    await page.wait_for_selector("#credit-notes-amount")
    await page.fill("#credit-notes-amount", "100")
    await page.click("#form-credit-notes button")
    await page.wait_for_selector("#credit-notes-reason-error")
    await page.screenshot(path=ARTIFACTS / f"{language}-invoice.png", full_page=True, caret="initial")

    # A draft the audit blocks says why and what to do, and offers no Issue button to be refused by.
    await page.goto(f"{server}/console/invoices/{draft.id}")
    await page.wait_for_selector("#issue .finding.blocking")
    assert await page.locator("#issue .hint").count() == 1
    assert await page.locator("#issue button.primary").count() == 0
    await page.screenshot(path=ARTIFACTS / f"{language}-draft-blocked.png", full_page=True, caret="initial")

    # The statement, and its PDF.
    await page.goto(f"{server}/console/buyers/{buyer_id}/statement")
    await page.wait_for_selector("table.aging")
    await page.screenshot(path=ARTIFACTS / f"{language}-statement.png", full_page=True, caret="initial")
    async with page.expect_download() as download_info:
        await page.click("a[href*='format=pdf']")
    download = await download_info.value
    pdf_path = ARTIFACTS / f"{language}-statement.pdf"
    await download.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")

    # The only refused requests were the ones this test provoked (422 bad input).
    assert [p for p in page.problems if "status of 422" not in p] == []
    await page.context.close()


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_collector_types_in_an_order_an_invoice_and_a_delivery(server, chromium, world, language):  # noqa: F811
    buyer_id = await make_buyer(world.a, "杭州齿轮有限公司", reference=f"HZ-{language}")
    page = await _page(chromium, language)
    await _sign_in(page, server, world.a.finance)
    if language != "en":
        await page.click(f"button[value='{language}']")
        await page.wait_for_selector(f"html[lang='{language}']")
    prefix = f"ART-{language}"

    # A purchase order from the buyer page; a fourth line comes from htmx, not a page load.
    await page.goto(f"{server}/console/buyers/{buyer_id}")
    await page.click(f"a[href='/console/buyers/{buyer_id}/orders/new']")
    await page.fill("#order-number", f"PO-{prefix}")
    for row, (description, quantity, price) in enumerate(
        [("Gear 20T 齿轮", "100", "8.50"), ("Shaft", "10", "40"), ("Bearing", "10", "12"), ("Freight", "1", "60")], start=1
    ):
        if row == 4:
            async with page.expect_response(lambda r: "/console/invoices/new/line?next_line=4" in r.url):
                await page.click("#add-line")
            await page.wait_for_selector("#line-4-description")
            assert await page.input_value("#next-line") == "5"
        await page.fill(f"#line-{row}-description", description)
        await page.fill(f"#line-{row}-quantity", quantity)
        await page.fill(f"#line-{row}-unit_price", price)
        await page.fill(f"#line-{row}-tax_rate", "13")
    await page.screenshot(path=ARTIFACTS / f"{language}-order-new.png", full_page=True, caret="initial")
    await page.click("form.entry-page .form-actions button.primary")
    await page.wait_for_url(f"{server}/console/buyers/{buyer_id}#orders")
    await page.wait_for_selector(f"#orders >> text=PO-{prefix}")

    # An invoice of that order: the buyer, currency and order number come filled in; a bad line is named in place.
    await page.click(f"#orders a[href*='po=PO-{prefix}']")
    await page.wait_for_selector("#invoice-number")
    assert await page.input_value("#invoice-po") == f"PO-{prefix}"
    await page.fill("#invoice-number", f"INV-{prefix}")
    await page.fill("#line-1-description", "Gear 20T 齿轮")
    await page.fill("#line-1-quantity", "-5")
    await page.fill("#line-1-unit_price", "8.50")
    await page.fill("#line-1-tax_rate", "13")
    await page.click("form.entry-page .form-actions button.primary")
    await page.wait_for_selector("#line-1-quantity-error")
    assert await page.input_value("#line-1-description") == "Gear 20T 齿轮"
    await page.screenshot(path=ARTIFACTS / f"{language}-invoice-new-refused.png", full_page=True, caret="initial")
    await page.fill("#line-1-quantity", "60")
    await page.click("form.entry-page .form-actions button.primary")
    await page.wait_for_selector("#issue")
    assert "/console/invoices/" in page.url and "/new" not in page.url
    await page.screenshot(path=ARTIFACTS / f"{language}-invoice-draft.png", full_page=True, caret="initial")

    # A delivery with a file that is no proof is refused beside the file field; then recorded with a PDF.
    await page.fill("#delivery-number", f"DN-{prefix}")
    await page.fill("#delivery-carrier", "顺丰速运")
    await page.set_input_files("#delivery-files", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    await page.click("#delivery-form button.primary")
    await page.wait_for_selector("#delivery-files-error")
    assert await page.input_value("#delivery-carrier") == "顺丰速运"
    await page.screenshot(path=ARTIFACTS / f"{language}-delivery-refused.png", full_page=True, caret="initial")
    pdf = {"name": "签收单.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\nsigned\n%%EOF"}
    await page.set_input_files("#delivery-files", files=[pdf])
    await page.click("#delivery-form button.primary")
    await page.wait_for_selector(f"#deliveries >> text=DN-{prefix}")
    assert await page.locator("#deliveries a:text('签收单.pdf')").count() == 1
    await page.screenshot(path=ARTIFACTS / f"{language}-delivery-recorded.png", full_page=True, caret="initial")

    assert [p for p in page.problems if "status of 422" not in p] == []
    await page.context.close()
