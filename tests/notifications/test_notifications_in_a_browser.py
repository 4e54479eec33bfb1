"""Notifications in headless Chromium, in both languages: the bell filled in by htmx, the list, marking one
read in place, the e-mail preferences, the portal's list and account choices, and the unsubscribe page.

Same server and browser set-up as tests/browser; screenshots go to test-artifacts/<db>/notifications/.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import shutil
import time
import uuid

import pytest
from playwright.async_api import expect

from tests.browser.test_console_in_a_browser import ARTIFACTS as CONSOLE_ARTIFACTS
from tests.browser.test_console_in_a_browser import CHROMIUM, LAUNCH_ARGS, _page, _sign_in, server  # noqa: F401 (fixture)
from tests.buyer_portal.helpers import invited_contact
from tests.conftest import VAR_DIR
from tests.factories import make_buyer
from tests.notifications.helpers import REMINDER, tell

ARTIFACTS = CONSOLE_ARTIFACTS / "notifications"
LINK = re.compile(r"https?://[^/\s]+(/(?:portal/link|unsubscribe)/[A-Za-z0-9_.\-]+)")


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


async def _link_mailed_to(address: str, kind: str, timeout: float = 20.0) -> str:
    """The newest link of `kind` ("portal/link" or "unsubscribe") the server e-mailed to the address."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = []
        for path in (VAR_DIR / "mail").glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] != address:
                continue
            for match in LINK.finditer(message.get_body(("plain",)).get_content()):
                if match.group(1).startswith(f"/{kind}/"):
                    found.append((path.stat().st_mtime_ns, match.group(1)))
        if found:
            return max(found)[1]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {kind} link reached {address}")


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_member_reads_notifications_and_chooses_the_digest(server, chromium, world, language):  # noqa: F811
    case_id = uuid.uuid4()
    for number, timer in (("D-0001", "acknowledge"), ("D-0002", "respond")):
        await tell(
            world.a,
            params={**REMINDER, "case_number": number, "timer": timer},
            case_id=case_id,
            user_ids=[world.a.finance.user_id],
        )
    await tell(
        world.a,
        "instalment.missed",
        {"case_number": "D-0003", "seq": 2, "amount": "1250.5", "currency": "CNY", "due_on": "2026-11-20"},
        user_ids=[world.a.finance.user_id],
    )
    page = await _page(chromium, language)
    await _sign_in(page, server, world.a.finance)
    await page.wait_for_selector("#bell .count")
    assert await page.locator("#bell .count").inner_text() == "3"
    await _shot(page, language, "1-bell")
    await page.click("#bell")
    await page.wait_for_url(server + "/console/notifications")
    await _shot(page, language, "2-list")
    first = page.locator("tbody tr").first
    await first.locator("button").click()
    await expect(page.locator("#bell .count")).to_have_text("2")  # the bell follows, by htmx out of band
    await _shot(page, language, "3-one-read")
    await page.click("a[href='/console/notifications/preferences']")
    await page.check("input[name='escalations'][value='digest']")
    await page.check("input[name='instalments'][value='off']")
    await page.click("form button.primary")
    await page.wait_for_url(re.compile(r".*/console/notifications/preferences\?saved=true$"))
    assert await page.locator("input[name='escalations'][value='digest']").is_checked()
    await _shot(page, language, "4-preferences")
    assert page.problems == []


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_contact_reads_its_notifications_and_unsubscribes_from_a_mail(server, chromium, world, language):  # noqa: F811
    buyer_id = await make_buyer(world.a, "上海精密轴承有限公司" if language == "zh-CN" else "Berlin Bolts GmbH")
    address = f"notices-{language.lower()}@buyer.example"
    contact = await invited_contact(
        world.a, buyer_id, address, name="王芳" if language == "zh-CN" else "Anna Weber", language=language
    )
    await tell(
        world.a,
        "case.reminder_buyer",
        {"case_number": "D-0042", "supplier": world.a.name, "due_on": "2026-12-03"},
        contact_ids=[contact],
    )
    await tell(
        world.a,
        "instalment.reminder",
        {"case_number": "D-0042", "seq": 1, "amount": "980", "currency": "CNY", "due_on": "2026-12-10"},
        contact_ids=[contact],
    )
    page = await _page(chromium, language)
    await page.goto(server + "/portal/sign-in")
    await _link_mailed_to(address, "portal/link")  # the invitation went out
    await page.fill("#email", address)
    await page.click("button.primary")
    await asyncio.sleep(0.5)
    await page.goto(server + await _link_mailed_to(address, "portal/link"))
    await page.click("button.primary")
    await page.wait_for_url(server + "/portal")
    await page.wait_for_selector("#bell .count")
    await page.click("#bell")
    await page.wait_for_url(server + "/portal/notifications")
    await _shot(page, language, "5-portal-list")
    await page.goto(server + "/portal/account#preferences")
    await _shot(page, language, "6-portal-account")

    fresh = await _page(chromium, language)  # the e-mail's reader, not signed in
    await fresh.goto(server + await _link_mailed_to(address, "unsubscribe"))
    await _shot(fresh, language, "7-unsubscribe")
    await fresh.click("button.primary")
    await fresh.wait_for_selector("h1")
    await _shot(fresh, language, "8-unsubscribed")
    assert page.problems == [] and fresh.problems == []
