"""The dispute settings page in headless Chromium, in both languages: a reason added and moved, a pool
rule created and a bad one refused beside its field, all through htmx without a page load.

Same server and browser set-up as test_console_in_a_browser.py; screenshots go to test-artifacts/<db>/dispute-settings/.
"""

from __future__ import annotations

import shutil

import pytest

from backend.disputes import settings
from backend.disputes.models import CodeKind
from tests.browser.test_console_in_a_browser import ARTIFACTS as CONSOLE_ARTIFACTS
from tests.browser.test_console_in_a_browser import CHROMIUM, LAUNCH_ARGS, _page, _sign_in, server  # noqa: F401 (fixture)
from tests.disputes.helpers import uow
from tests.disputes.test_settings import join
from tests.factories import owner_of

ARTIFACTS = CONSOLE_ARTIFACTS / "dispute-settings"


@pytest.fixture(scope="module")
async def chromium():
    from playwright.async_api import async_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        await browser.close()


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_credit_manager_sets_up_reasons_and_routing_in_the_console(server, chromium, world, language):  # noqa: F811
    wang, li = await join(world.a, "Wang"), await join(world.a, "Li")
    page = await _page(chromium, language)
    await _sign_in(page, server, world.a.finance)
    await page.goto(server + "/console/dispute-settings")
    marker = await page.evaluate("window.performance.getEntriesByType('navigation').length")

    # A new reason, added in place; then moved up by its row's arrow (the clicked button says which action).
    add = page.locator("#codes-reason form[action='/console/dispute-settings/codes/reason']")
    await add.locator("input[name=code]").fill("wrong_colour")
    await add.locator("input[name=label_en]").fill("Wrong colour")
    await add.locator("input[name=label_zh]").fill("颜色不符")
    async with page.expect_response(lambda r: r.url.endswith("/codes/reason")) as answer:
        await add.locator("button[type=submit]").click()
    assert (await answer.value).status == 200
    row = page.locator("#code-reason-wrong_colour")
    await row.wait_for()
    async with page.expect_response(lambda r: r.url.endswith("/codes/reason/wrong_colour")) as answer:
        await row.locator("button[value=up]").click()
    assert (await answer.value).status == 200
    await page.locator("#code-reason-wrong_colour [role=status]").wait_for()

    # A rule with a pool of two, through the form's checkboxes.
    await page.locator("#routing details > summary").last.click()
    form = page.locator("#routing form[action='/console/dispute-settings/rules']")
    await form.locator("input[name=name]").fill("Quality desk")
    await form.locator("select[name=reason_code]").select_option("quality")
    await form.locator(f"input[name=pool][value='{wang.id}']").check()
    await form.locator(f"input[name=pool][value='{li.id}']").check()
    async with page.expect_response(lambda r: r.url.endswith("/rules")) as answer:
        await form.locator("button[type=submit]").click()
    assert (await answer.value).status == 200
    await page.locator("#routing tbody tr").first.wait_for()

    # A rule with nothing to match is refused beside the reason, and what was typed stays.
    await page.locator("#routing details > summary").last.click()
    form = page.locator("#routing form[action='/console/dispute-settings/rules']")
    await form.locator("input[name=name]").fill("Everything to Wang")
    await form.locator("select[name=owner_user_id]").select_option(str(wang.id))
    async with page.expect_response(lambda r: r.url.endswith("/rules")) as answer:
        await form.locator("button[type=submit]").click()
    assert (await answer.value).status == 422
    await page.locator("#add-rule-reason-error").wait_for()
    assert await page.locator("#add-rule-name").input_value() == "Everything to Wang"
    await page.screenshot(path=ARTIFACTS / f"{language}-settings.png", full_page=True, caret="initial")

    # All of it without a page load, and without a script error (the browser logs the refusal's 422 itself).
    assert await page.evaluate("window.performance.getEntriesByType('navigation').length") == marker
    assert [problem for problem in page.problems if "status of 422" not in problem] == []
    async with uow(world.a) as session:
        codes = [c.code for c in await settings.list_codes(session, owner_of(world.a), CodeKind.REASON)]
        rules = await settings.list_rules(session, owner_of(world.a))
    assert codes.index("wrong_colour") == len(codes) - 2
    assert [(r.name, sorted(r.pool)) for r in rules] == [("Quality desk", sorted([str(wang.id), str(li.id)]))]
