"""The console in headless Chromium: sign in, work the team with htmx, keys, both languages.

Debian's Chromium is installed by infra/install-browser.sh (called by `make test`); Playwright
drives it through executable_path and never downloads a browser. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import VAR_DIR

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / os.environ.get("ACCORD_TEST_DATABASE", "postgresql")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash infra/install-browser.sh` (make test does)")
    port = _free_port()
    log = (VAR_DIR / f"server-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.terminate()
        pytest.fail("the server did not start: " + (VAR_DIR / f"server-{port}.log").read_text()[-2000:])
    yield base
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
async def chromium():
    from playwright.async_api import async_playwright

    # Only this module's screenshots: the other browser modules keep theirs in subfolders of ARTIFACTS.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for earlier in ARTIFACTS.glob("*.png"):
        earlier.unlink()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        await browser.close()


async def _page(browser, language: str):
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, locale=language, extra_http_headers={"Accept-Language": language}
    )
    page = await context.new_page()
    page.problems = []
    page.on("console", lambda message: page.problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    return page


async def _sign_in(page, base: str, person) -> None:
    await page.goto(base + "/console")
    await page.fill("#email", person.email)
    await page.fill("#password", person.password)
    await page.click("button.primary")
    await page.wait_for_url(base + "/console")


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_finance_admin_runs_the_team_from_the_console(server, chromium, world, language):
    page = await _page(chromium, language)
    await _sign_in(page, server, world.a.finance)
    assert await page.locator("html").get_attribute("lang") == language
    await page.screenshot(path=ARTIFACTS / f"{language}-home.png", caret="initial")

    await page.click("a[href='/console/team']")
    # htmx: changing a role in the select saves it without a page load (CSRF header from <body>).
    row = page.locator(f"#member-{world.a.collaborator.membership_id}")
    async with page.expect_response(lambda response: response.url.endswith("/role")) as answer:
        await row.locator("select").select_option("collector")
    assert (await answer.value).status == 200
    await page.reload()
    assert await page.locator(f"#member-{world.a.collaborator.membership_id} select").input_value() == "collector"

    # A bad address is explained next to the field, and nothing is added.
    await page.fill("#invite-email", "not-an-address")
    await page.click("#invite button.primary")
    await page.wait_for_selector("#invite-email-error")
    await page.screenshot(path=ARTIFACTS / f"{language}-invite-error.png", full_page=True, caret="initial")
    invitee = f"new.colleague.{language.lower()}@example.com"
    await page.fill("#invite-email", invitee)
    await page.click("#invite button.primary")
    await page.wait_for_selector(f"text={invitee}")
    await page.screenshot(path=ARTIFACTS / f"{language}-team.png", full_page=True, caret="initial")

    await page.click("a[href='/console/api-keys']")
    await page.fill("#key-name", f"ERP {language}")
    await page.click("#organisation-key-form button.primary")
    secret = await page.locator("#new-secret").inner_text()
    assert secret.startswith("acc_")
    assert httpx.get(server + "/api/v1/tenant", headers={"Authorization": f"Bearer {secret}"}).json()["id"] == str(
        world.a.tenant_id
    )
    await page.screenshot(path=ARTIFACTS / f"{language}-api-key.png", full_page=True, caret="initial")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator("tr", has_text=f"ERP {language}").locator("button.danger").click()
    await page.wait_for_selector(f"tr.revoked:has-text('ERP {language}')")
    assert httpx.get(server + "/api/v1/tenant", headers={"Authorization": f"Bearer {secret}"}).status_code == 401

    await page.click("a[href='/console/audit']")
    await page.screenshot(path=ARTIFACTS / f"{language}-audit.png", full_page=True, caret="initial")
    assert await page.locator("p.notice").count() == 1  # the chain is intact
    # The one refused request was the invalid address above (422, shown next to the field).
    assert [p for p in page.problems if "status of 422" not in p] == []
    await page.context.close()


async def test_switching_language_in_the_console_sticks(server, chromium, world):
    page = await _page(chromium, "en")
    await _sign_in(page, server, world.a.collaborator)
    await page.click("button[value='zh-CN']")
    await page.wait_for_selector("html[lang='zh-CN']")
    assert "团队" in await page.locator("nav").inner_text()
    await page.goto(server + "/console/team")
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    await page.context.close()
