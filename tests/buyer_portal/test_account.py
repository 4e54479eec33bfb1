"""The contact's own page: portals at several suppliers and switching between them, signing out
everywhere, a password of their own, language and e-mail preferences."""

from __future__ import annotations

import re

from backend.buyers import service as buyers
from backend.buyers.repository import BuyerRepository
from portal.web import LANGUAGE_COOKIE
from tests.buyer_portal.access_helpers import (
    an_address,
    another_browser,
    ask_for_link,
    is_signed_in,
    portal_token,
    post_form,
    sign_in_at,
    sign_in_with_password,
    slug_of,
)
from tests.buyer_portal.helpers import follow_link, invited_contact, latest_link, sign_in_to_portal
from tests.disputes.helpers import uow
from tests.factories import make_buyer, owner_of
from tests.test_team import run_jobs

PASSWORD = "a long portal password 42"


def _rows(page) -> list[str]:
    """The rows of the 'Your portals' table, as text."""
    table = page.text[page.text.index('id="portals"') :]
    table = table[: table.index("</table>")]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in table.split("<tr>")[2:]]


async def _person_at_both(world, address: str, *, name: str = "Li Na"):
    """One person, a contact of a buyer at supplier A and of another at supplier B: (buyer A, contact A, buyer B, contact B)."""
    buyer_a = await make_buyer(world.a, "Acme Trading Ltd")
    buyer_b = await make_buyer(world.b, "Acme Trading Ltd (Shenzhen)")
    contact_a = await invited_contact(world.a, buyer_a, address, name=name)
    contact_b = await invited_contact(world.b, buyer_b, address, name=name)
    return buyer_a, contact_a, buyer_b, contact_b


# --- one person, several suppliers ------------------------------------------------------------------------


async def test_a_person_invited_by_two_suppliers_sees_both_portals_and_switches(client, world, mail_dir):
    address = an_address("li.na")
    _buyer_a, contact_a, _buyer_b, contact_b = await _person_at_both(world, address)
    await sign_in_at(client, mail_dir, address, await slug_of(world.a))

    page = await client.get("/portal/account")
    assert page.status_code == 200
    rows = _rows(page)
    assert any(world.a.name in row and "Acme Trading Ltd" in row and "You are here" in row for row in rows)
    assert any(world.b.name in row and "Acme Trading Ltd (Shenzhen)" in row and "Switch" in row for row in rows)
    assert f'name="contact_id" value="{contact_b}"' in page.text
    assert f'name="contact_id" value="{contact_a}"' not in page.text  # no switching to where one already is

    switched = await post_form(client, "/portal/switch", {"contact_id": str(contact_b)})
    assert switched.status_code == 303 and switched.headers["location"] == "/portal"
    home = await client.get("/portal")
    assert home.status_code == 200
    assert world.b.name in home.text and world.a.name not in home.text
    account = await client.get("/portal/account")
    assert any(world.b.name in row and "You are here" in row for row in _rows(account))

    back = await post_form(client, "/portal/switch", {"contact_id": str(contact_a)})
    assert back.status_code == 303
    home = await client.get("/portal")
    assert world.a.name in home.text and world.b.name not in home.text


async def test_a_person_cannot_switch_to_a_portal_not_open_to_their_address(client, world, mail_dir):
    address = an_address("only.at.a")
    await invited_contact(world.a, await make_buyer(world.a), address)
    buyer_b = await make_buyer(world.b)
    someone_else_at_b = await invited_contact(world.b, buyer_b, an_address("someone.else"))
    async with uow(world.b) as session:
        # The same address at B, but B never invited it.
        same_address_at_b = (await buyers.add_contact(session, owner_of(world.b), buyer_b, name="Li Na", email=address)).id
    await sign_in_to_portal(client, mail_dir, address)
    for foreign in (someone_else_at_b, same_address_at_b, "not-an-id"):
        refused = await post_form(client, "/portal/switch", {"contact_id": str(foreign)})
        assert refused.status_code == 404, foreign
    assert await is_signed_in(client)  # a refused switch leaves the session as it was
    page = await client.get("/portal/account")
    assert world.b.name not in page.text and len(_rows(page)) == 1


async def test_sign_out_everywhere_ends_the_sessions_at_both_suppliers_and_voids_unused_links(app, client, world, mail_dir):
    address = an_address("careful")
    await _person_at_both(world, address)
    slug_a = await slug_of(world.a)
    await sign_in_at(client, mail_dir, address, slug_a)
    async with another_browser(app) as phone, another_browser(app) as laptop:
        await sign_in_at(phone, mail_dir, address, await slug_of(world.b))
        assert await is_signed_in(phone)
        await ask_for_link(laptop, address)  # a link for each supplier, not followed yet
        await run_jobs()
        unused = latest_link(mail_dir, address)

        done = await post_form(client, "/portal/sign-out-everywhere")
        assert done.status_code == 303
        assert done.headers["location"] == f"/portal/sign-in?supplier={slug_a}&signed_out=everywhere"
        assert not await is_signed_in(client)
        assert not await is_signed_in(phone)
        refused = await follow_link(laptop, unused)
        assert refused.status_code == 404 and not await is_signed_in(laptop)
    notice = await client.get(done.headers["location"])
    assert "You are signed out on every device" in notice.text


# --- a password ------------------------------------------------------------------------------------------------


async def test_choosing_a_password_ends_the_persons_other_sessions_but_not_this_one(app, client, world, mail_dir):
    address = an_address("chooser")
    await invited_contact(world.a, await make_buyer(world.a), address)
    await sign_in_to_portal(client, mail_dir, address)
    async with another_browser(app) as tablet:
        await sign_in_to_portal(tablet, mail_dir, address)

        page = await client.get("/portal/account")
        assert "You sign in with links sent by e-mail" in page.text and "signs you out everywhere else" in page.text
        differ = await post_form(client, "/portal/account/password", {"password": PASSWORD, "password_again": PASSWORD + "!"})
        assert differ.status_code == 422 and "The two passwords differ." in differ.text
        assert (
            'id="password-again" name="password_again" type="password" autocomplete="new-password" required aria-invalid="true"'
            in (differ.text)
        )
        short = await post_form(client, "/portal/account/password", {"password": "short", "password_again": "short"})
        assert short.status_code == 422 and "at least 12 characters" in short.text
        assert 'aria-describedby="new-password-hint password-error" aria-invalid="true"' in short.text
        assert await is_signed_in(tablet)  # nothing saved, nobody signed out

        saved = await post_form(client, "/portal/account/password", {"password": PASSWORD, "password_again": PASSWORD})
        assert saved.status_code == 303
        page = await client.get(saved.headers["location"])
        assert "Your password is saved" in page.text and "Choose a new password here" in page.text
        assert not await is_signed_in(tablet)
        assert await is_signed_in(client)

    async with another_browser(app) as desktop:
        signed_in = await sign_in_with_password(desktop, address, PASSWORD)
        assert signed_in.status_code == 303 and await is_signed_in(desktop)


# --- language and e-mails ----------------------------------------------------------------------------------------


async def test_the_contacts_language_choice_changes_the_portals_language(app, client, world, mail_dir):
    address = an_address("chen")
    buyer = await make_buyer(world.a)
    contact_id = await invited_contact(world.a, buyer, address, name="陈静")
    await sign_in_to_portal(client, mail_dir, address)
    page = await client.get("/portal/account")
    assert '<html lang="en">' in page.text and page.headers["content-language"] == "en"

    chosen = await post_form(client, "/portal/language", {"language": "zh-CN", "next": "/portal/account?saved=x"})
    assert chosen.status_code == 303 and chosen.headers["location"] == "/portal/account?saved=x"
    assert client.cookies.get(LANGUAGE_COOKIE) == "zh-CN"
    page = await client.get("/portal/account")
    assert '<html lang="zh-CN">' in page.text and page.headers["content-language"] == "zh-CN"
    async with uow(world.a) as session:
        assert (await BuyerRepository(session).contact(buyer, contact_id)).language == "zh-CN"

    # Kept with the contact, not only in this browser: another browser with another language opens in Chinese.
    async with another_browser(app) as browser:
        browser.headers["accept-language"] = "en-GB,en;q=0.9"
        await sign_in_to_portal(browser, mail_dir, address)
        browser.cookies.delete(LANGUAGE_COOKIE)
        page = await browser.get("/portal/account")
        assert '<html lang="zh-CN">' in page.text


async def test_a_visitor_not_signed_in_chooses_a_language_for_the_sign_in_page(client, world):
    slug = await slug_of(world.a)
    token = await portal_token(client, f"/portal/sign-in?supplier={slug}")
    chosen = await client.post(
        "/portal/language",
        data={"language": "zh-CN", "next": f"/portal/sign-in?supplier={slug}", "_csrf_token": token},
        follow_redirects=False,
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == f"/portal/sign-in?supplier={slug}"
    page = await client.get(chosen.headers["location"])
    assert '<html lang="zh-CN">' in page.text and page.headers["content-language"] == "zh-CN"
    assert world.a.name in page.text  # still the supplier's own sign-in page


async def test_choosing_a_language_returns_only_to_a_portal_page(client, world):
    for elsewhere in ("https://evil.example/portal", "//evil.example/portal", "/console/team", "/portalx"):
        token = await portal_token(client)
        response = await client.post(
            "/portal/language", data={"language": "en", "next": elsewhere, "_csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 303 and response.headers["location"] == "/portal", elsewhere


async def test_notification_preferences_and_language_are_saved_from_the_account_page(client, world, mail_dir):
    address = an_address("prefs")
    buyer = await make_buyer(world.a)
    contact_id = await invited_contact(world.a, buyer, address)
    await sign_in_to_portal(client, mail_dir, address)
    page = await client.get("/portal/account")
    assert 'value="en" checked>' in page.text
    assert all(f'name="notifications" value="{kind}" checked>' in page.text for kind in ("messages", "proposals", "statements"))

    saved = await post_form(
        client, "/portal/account/preferences", {"language": "zh-CN", "notifications": ["messages", "statements"]}
    )
    assert saved.status_code == 303 and saved.headers["location"].startswith("/portal/account?saved=preferences")
    async with uow(world.a) as session:
        contact = await BuyerRepository(session).contact(buyer, contact_id)
    assert contact.language == "zh-CN"
    assert (contact.wants("messages"), contact.wants("proposals"), contact.wants("statements")) == (True, False, True)
    page = await client.get("/portal/account")
    assert '<html lang="zh-CN">' in page.text
    assert 'value="proposals" >' in page.text and 'value="messages" checked>' in page.text

    refused = await post_form(client, "/portal/account/preferences", {"language": "fr"})
    assert refused.status_code == 422 and 'id="language-error"' in refused.text
    async with uow(world.a) as session:
        contact = await BuyerRepository(session).contact(buyer, contact_id)
    assert contact.wants("messages") and contact.language == "zh-CN"  # nothing of the refused form was kept


async def test_the_account_page_needs_a_signed_in_contact(client, world):
    response = await client.get("/portal/account", follow_redirects=False)
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/portal/sign-in")
    token = await portal_token(client)
    for path in ("/portal/switch", "/portal/sign-out-everywhere", "/portal/account/password", "/portal/account/preferences"):
        response = await client.post(path, data={"_csrf_token": token}, follow_redirects=False)
        assert response.status_code in (302, 303) and "/portal/sign-in" in response.headers["location"], path


async def test_changing_the_password_needs_the_current_one(client, world, mail_dir):
    from tests.buyer_portal.helpers import invited_contact, sign_in_to_portal
    from tests.conftest import csrf_token
    from tests.factories import make_buyer

    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, "pw.change@acme.example")
    await sign_in_to_portal(client, mail_dir, "pw.change@acme.example")
    token = await csrf_token(client, "/portal/account")
    first = {"password": "first-password-123", "password_again": "first-password-123", "_csrf_token": token}
    assert (await client.post("/portal/account/password", data=first, follow_redirects=False)).status_code == 303
    second = {"password": "second-password-456", "password_again": "second-password-456", "_csrf_token": token}
    refused = await client.post("/portal/account/password", data={**second, "current_password": "wrong-one-000"})
    assert refused.status_code == 422 and "current password is not right" in refused.text
    changed = await client.post(
        "/portal/account/password", data={**second, "current_password": "first-password-123"}, follow_redirects=False
    )
    assert changed.status_code == 303


async def test_a_first_password_needs_a_fresh_sign_in_by_link(client, world, mail_dir):
    from datetime import timedelta

    from sqlalchemy import update

    from backend.auth.models import SignInSession
    from backend.db.base import utcnow
    from tests.buyer_portal.helpers import invited_contact, sign_in_to_portal
    from tests.conftest import csrf_token
    from tests.disputes.helpers import uow
    from tests.factories import make_buyer

    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, "pw.stale@acme.example")
    await sign_in_to_portal(client, mail_dir, "pw.stale@acme.example")
    async with uow(world.a) as session:
        # A session opened an hour ago and kept alive since (a computer left signed in).
        await session.execute(update(SignInSession).values(created_at=utcnow() - timedelta(hours=1), last_seen_at=utcnow()))
    token = await csrf_token(client, "/portal/account")
    data = {"password": "a-fine-password-1", "password_again": "a-fine-password-1", "_csrf_token": token}
    refused = await client.post("/portal/account/password", data=data)
    assert refused.status_code == 422 and "sign in again with a new link" in refused.text
