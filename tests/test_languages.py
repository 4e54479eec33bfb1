"""English and Simplified Chinese, chosen by the person's setting, their choice, or the browser."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import csrf_token, sign_in


def test_every_message_has_a_chinese_translation():
    result = subprocess.run([sys.executable, "-m", "backend.i18n.check_catalogue"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_the_browser_language_picks_chinese(client):
    page = await client.get("/console/sign-in", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text


async def test_english_is_the_default(client):
    page = await client.get("/console/sign-in", headers={"Accept-Language": "fr-FR"})
    assert '<html lang="en">' in page.text and "Sign in to Accord" in page.text


async def test_a_chosen_language_is_kept_for_the_person(client, app, world):
    from litestar.testing import AsyncTestClient

    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console")
    await client.post("/language", data={"language": "zh-CN", "next": "/console/team", "_csrf_token": token})
    assert "团队" in (await client.get("/console/team")).text
    # A new browser, with an English Accept-Language, still gets Chinese once signed in.
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as other:
        await sign_in(other, world.a.finance)
        page = await other.get("/console", headers={"Accept-Language": "en"})
        assert '<html lang="zh-CN">' in page.text


async def test_errors_are_translated_too(client, world):
    token = await csrf_token(client)
    response = await client.post(
        "/console/sign-in",
        data={"email": world.a.finance.email, "password": "wrong-wrong-wrong", "_csrf_token": token},
        headers={"Accept-Language": "zh-CN"},
    )
    assert "The e-mail address or the password is not right." not in response.text and 'role="alert"' in response.text
