"""Personal API keys in headless Chromium, in both languages: a collaborator finds "API keys" in the
navigation, makes a key through htmx, answers their task with it, and revokes it; the owner sees the
team's personal keys below the organisation's.

Same server and browser set-up as test_console_in_a_browser.py; screenshots go to test-artifacts/<db>/api-keys/.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import httpx
import pytest

from backend.disputes import service as disputes
from backend.disputes.service import ItemInput, NewCase, NewTask
from tests.browser.test_console_in_a_browser import ARTIFACTS as CONSOLE_ARTIFACTS
from tests.browser.test_console_in_a_browser import CHROMIUM, LAUNCH_ARGS, _page, _sign_in, server  # noqa: F401 (fixture)
from tests.disputes.helpers import uow
from tests.factories import make_buyer, make_invoice, owner_of

ARTIFACTS = CONSOLE_ARTIFACTS / "api-keys"


@pytest.fixture(scope="module")
async def chromium():
    from playwright.async_api import async_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        await browser.close()


async def _task_for(supplier, assignee) -> str:
    buyer_id = await make_buyer(supplier, "Huadong Machinery Co.")
    invoice = await make_invoice(supplier, buyer_id)
    owner = owner_of(supplier)
    async with uow(supplier) as session:
        case = await disputes.register_case(
            session,
            owner,
            NewCase(
                buyer_id=buyer_id,
                reason_code="quality",
                description="Bearings arrived scratched.",
                channel="email",
                items=[ItemInput(invoice_id=invoice.id, amount="500.00")],
            ),
        )
        task = await disputes.create_task(
            session,
            owner,
            case.id,
            NewTask(
                assignee_user_id=assignee.user_id,
                team="quality",
                question="Scratched when they left?",
                due_on=date.today() + timedelta(days=3),
            ),
        )
    return str(task.id)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_collaborator_makes_a_personal_key_answers_with_it_and_revokes_it(server, chromium, world, language):  # noqa: F811
    task_id = await _task_for(world.a, world.a.collaborator)
    page = await _page(chromium, language)
    await _sign_in(page, server, world.a.collaborator)
    await page.click("nav a[href='/console/api-keys']")
    assert await page.locator("#organisation-key-form").count() == 0
    await page.screenshot(path=ARTIFACTS / f"{language}-collaborator-empty.png", full_page=True, caret="initial")

    # An empty name is refused beside the field, in place.
    async with page.expect_response(lambda response: response.url.endswith("/console/api-keys/personal")) as refused:
        await page.click("#personal-key-form button.primary")
    assert (await refused.value).status == 422
    await page.wait_for_selector("#personal-key-name-error")

    await page.fill("#personal-key-name", f"Scripts {language}")
    await page.click("#personal-key-form button.primary")
    secret = await page.locator("#new-secret").inner_text()
    assert secret.startswith("acc_")
    await page.screenshot(path=ARTIFACTS / f"{language}-collaborator-created.png", full_page=True, caret="initial")

    answered = httpx.post(
        f"{server}/api/v1/disputes/tasks/{task_id}/answer",
        headers={"Authorization": f"Bearer {secret}"},
        json={"answer": "Yes, five of them."},
    )
    assert answered.status_code == 200 and answered.json()["answered_by"] == world.a.collaborator.email

    await page.reload()
    assert secret not in await page.content()
    row = page.locator("tr", has_text=f"Scripts {language}")
    assert await row.locator("td").nth(3).inner_text() != "—"  # last used: just now
    page.once("dialog", lambda dialog: dialog.accept())
    await row.locator("button.danger").click()
    await page.wait_for_selector(f"tr.revoked:has-text('Scripts {language}')")
    await page.screenshot(path=ARTIFACTS / f"{language}-collaborator-revoked.png", full_page=True, caret="initial")
    assert httpx.get(server + "/api/v1/tenant", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert [p for p in page.problems if "status of 422" not in p] == []
    await page.context.close()


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_the_owner_sees_the_teams_personal_keys_below_the_organisations(server, chromium, world, language):  # noqa: F811
    collaborator = await _page(chromium, language)
    await _sign_in(collaborator, server, world.a.collaborator)
    await collaborator.goto(server + "/console/api-keys")
    await collaborator.fill("#personal-key-name", "Quality desk")
    await collaborator.click("#personal-key-form button.primary")
    secret = await collaborator.locator("#new-secret").inner_text()
    await collaborator.context.close()

    page = await _page(chromium, language)
    await _sign_in(page, server, world.a.finance)
    await page.click("nav a[href='/console/api-keys']")
    await page.fill("#personal-key-name", "Alice laptop")
    await page.click("#personal-key-form button.primary")
    await page.wait_for_selector("#new-secret")
    await page.reload()
    team = page.locator("section[aria-labelledby='team-keys-title']")
    assert "Quality desk" in await team.inner_text() and "Alice laptop" not in await team.inner_text()
    assert await page.locator("#organisation-key-form").count() == 1
    await page.screenshot(path=ARTIFACTS / f"{language}-owner.png", full_page=True, caret="initial")

    page.once("dialog", lambda dialog: dialog.accept())
    await team.locator("tr", has_text="Quality desk").locator("button.danger").click()
    await page.wait_for_selector("section[aria-labelledby='team-keys-title'] tr.revoked:has-text('Quality desk')")
    assert httpx.get(server + "/api/v1/tenant", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert page.problems == []
    await page.context.close()
