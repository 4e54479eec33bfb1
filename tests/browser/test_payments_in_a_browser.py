"""A buyer pays the undisputed part of a disputed invoice in headless Chromium.

A real `accord serve` talks to an HTTP-boundary Stripe (tests/payments/stripe_fakes.py) started in
this process: the buyer signs in by the e-mailed link, opens the disputed invoice, presses "Pay the
undisputed amount" and lands on the fake's Checkout address. Stripe's part is played here: the
session is paid and the signed checkout.session.completed is posted to the server's webhook. The
invoice page then shows the payment, the disputed part still open and the dispute still in progress.
Screenshots go to test-artifacts/<db>/payments/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import pytest

from backend.config import get_settings
from backend.disputes.models import ACTIVE_STATES, DisputeCase
from backend.invoices.models import EntryKind
from tests.browser.test_buyer_portal_in_a_browser import _link_mailed_to, _mails
from tests.browser.test_console_in_a_browser import ARTIFACTS as CONSOLE_ARTIFACTS
from tests.browser.test_console_in_a_browser import CHROMIUM, LAUNCH_ARGS, _free_port, _page, _sign_in
from tests.conftest import VAR_DIR
from tests.disputes.helpers import uow
from tests.payments.helpers import connect_account, disputed_invoice, entries, invoice_now
from tests.payments.stripe_fakes import WEBHOOK_SECRET, StripeFake, event_payload, signed

ARTIFACTS = CONSOLE_ARTIFACTS / "payments"


@pytest.fixture(scope="module")
def stripe_fake():
    """Stripe for both processes: the server's SDK and this test's helpers talk to the same fake."""
    fake = StripeFake().start()
    saved = {name: os.environ.get(name) for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE")}
    os.environ.update(STRIPE_SECRET_KEY="sk_test_accord", STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_BASE=fake.base)
    get_settings.cache_clear()
    yield fake
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()
    fake.stop()


@pytest.fixture(scope="module")
def server(stripe_fake):
    """`accord serve` (jobs in its own process) with Stripe pointed at the fake."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `bash infra/install-browser.sh` (make test does)")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = VAR_DIR / f"server-payments-{port}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ACCORD_BASE_URL": base},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.terminate()
        pytest.fail("the server did not start: " + log_path.read_text()[-2000:])
    yield base
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
async def chromium():
    from playwright.async_api import async_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        await browser.close()


async def _shot(page, language: str, name: str) -> None:
    await page.screenshot(path=ARTIFACTS / f"{language}-{name}.png", full_page=True, caret="initial")


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_buyer_pays_the_undisputed_part_of_a_disputed_invoice(server, stripe_fake, chromium, world, language):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a, language=language)
    page = await _page(chromium, language)

    # Sign in by the e-mailed link (the invitation went out first; the link asked for now replaces it).
    await page.goto(server + "/portal/sign-in")
    await page.fill("#email", setup.contact_email)
    await _link_mailed_to(setup.contact_email, set())
    before = _mails()
    await page.click("button.primary")
    await page.goto(server + await _link_mailed_to(setup.contact_email, before))
    await page.click("button.primary")
    await page.wait_for_url(server + "/portal")

    await page.goto(server + "/portal/invoices")
    assert await page.locator(f"#pick-{setup.invoice.id}").count() == 1
    await _shot(page, language, "0-invoices")
    await page.goto(server + f"/portal/invoices/{setup.invoice.id}")
    button = page.locator("#pay-invoice button.pay-button")
    assert "830.00" in await button.inner_text()
    await _shot(page, language, "1-disputed-invoice")
    await button.click()
    # On to Stripe's Checkout (the fake's address; its page itself is not served).
    await page.wait_for_url(f"{stripe_fake.base}/pay/**")
    session_id = page.url.rsplit("/", 1)[-1]
    assert stripe_fake.sessions[session_id]["amount_total"] == 83000
    assert stripe_fake.sessions[session_id]["account"] == account

    # Stripe's part: the buyer paid and is sent back; the return page waits for Stripe's word.
    paid = stripe_fake.pay(session_id)
    await page.goto(paid["success_url"])
    page.problems.clear()  # the fake serves no Checkout page (nor its favicon): those 404s are expected
    assert await page.locator("#payment-return").get_attribute("data-status") == "open"
    await _shot(page, language, "2-being-confirmed")
    payload = event_payload("checkout.session.completed", paid, account=account)
    async with httpx.AsyncClient() as http:
        answer = await http.post(server + "/stripe/webhook", content=payload, headers=signed(payload))
    assert answer.status_code == 200, answer.text
    # The page asks again by itself (htmx) and shows the payment recorded once the worker applied it.
    await page.wait_for_selector("#payment-return[data-status='paid']", timeout=20_000)
    await _shot(page, language, "3-recorded")

    # The server's worker applies it; the invoice page shows it once it has.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        await page.goto(server + f"/portal/invoices/{setup.invoice.id}")
        if paid["payment_intent"] in await page.content():
            break
        await asyncio.sleep(0.3)
    else:
        raise AssertionError("the payment never showed on the invoice page")
    assert page.problems == []
    await _shot(page, language, "4-paid-undisputed")
    figures = await page.locator("dl.figures").inner_text()
    assert "300.00" in figures  # open: the disputed part
    assert await page.locator("#pay-invoice").count() == 0  # nothing else is payable now

    invoice = await invoice_now(world.a, setup.invoice.id)
    assert invoice.open_amount == Decimal("300.00") and invoice.disputed_amount == Decimal("300.00")
    [payment] = [e for e in await entries(world.a, setup.buyer_id) if e.kind is EntryKind.PAYMENT]
    assert payment.document_number == paid["payment_intent"]
    async with uow(world.a) as session:
        case = await session.get(DisputeCase, (world.a.tenant_id, setup.case_id))
    assert case.state in ACTIVE_STATES

    # The supplier's team sees the card payment, its Stripe payment id and the connected account.
    team = await _page(chromium, language)
    await _sign_in(team, server, world.a.finance)
    await team.goto(server + "/console/payments")
    assert account in await team.locator("#stripe-account").inner_text()
    assert paid["payment_intent"] in await team.locator("#card-payments").inner_text()
    assert team.problems == []
    await _shot(team, language, "5-console-payments")
