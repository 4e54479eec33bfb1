"""The import page in headless Chromium, in both languages: upload, preview with row errors, confirm, progress to 100 %.

Screenshots go to test-artifacts/<database>/imports-*.png.
"""

from __future__ import annotations

import pytest

from tests.browser.test_console_in_a_browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, _page, _sign_in, server  # noqa: F401
from tests.factories import make_buyer
from tests.invoices.test_imports import csv_bytes, one_line_invoices


@pytest.fixture(scope="module")
async def chromium():
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        await browser.close()


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_an_import_is_previewed_confirmed_and_followed_to_the_end(server, chromium, world, language, tmp_path):  # noqa: F811
    await make_buyer(world.a, "上海华东机电设备有限公司", reference="BR-1")
    rows = one_line_invoices(3_000, "BR-1", f"BR{language[:2].upper()}")
    rows[9] = rows[9].replace(",CNY,", ",RMB,")  # row 11
    rows[15] = rows[15].replace("2026-10-", "2026-10-3")  # row 17: 2026-10-3x is no date
    upload = tmp_path / f"erp-export-{language}.csv"
    upload.write_bytes(csv_bytes(rows))

    page = await _page(chromium, language)
    await _sign_in(page, server, world.a.finance)
    await page.goto(server + "/console/invoices/import")
    await page.set_input_files("#import-file", str(upload))
    await page.click("#upload button.primary")
    await page.wait_for_selector(".preview-table")
    errors = page.locator("table.row-errors tbody tr")
    assert await errors.count() == 2
    assert (await errors.nth(0).inner_text()).startswith("11")
    assert await page.locator("tr.bad-row").count() == 2
    await page.screenshot(path=ARTIFACTS / f"imports-{language}-preview.png", full_page=True, caret="initial")

    await page.click(".confirm-import button.primary")
    # htmx polls the status every second until the job is done, then stops.
    await page.wait_for_selector("#import-status .badge.import-done", timeout=60_000)
    assert await page.locator("#import-progress").get_attribute("value") == "100"
    assert await page.locator("#import-status[hx-trigger]").count() == 0
    counts = await page.locator(".import-counts").inner_text()
    assert "2,998" in counts or "2998" in counts
    await page.screenshot(path=ARTIFACTS / f"imports-{language}-done.png", full_page=True, caret="initial")
    assert [p for p in page.problems if "status of" not in p] == []
    await page.context.close()
