"""The portal's door: links throttled per address, passwords with growing lock-outs, withdrawn access
ending at once, a session cookie of its own, and links that never leak nor follow the request's Host."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from backend.auth import portal as access
from backend.auth.repository import SignInThrottleRepository
from backend.auth.service import WRONG_CREDENTIALS
from backend.buyers import service as buyers
from backend.config import get_settings
from backend.db.base import utcnow
from backend.db.uow import global_unit_of_work
from tests.buyer_portal.access_helpers import (
    CONSOLE_COOKIE,
    PORTAL_COOKIE,
    an_address,
    another_browser,
    ask_for_link,
    is_signed_in,
    post_form,
    sign_in_at,
    sign_in_with_password,
    slug_of,
)
from tests.buyer_portal.helpers import follow_link, invited_contact, latest_link, mails_to, sign_in_to_portal
from tests.conftest import sign_in
from tests.disputes.helpers import uow
from tests.factories import make_buyer, owner_of
from tests.test_team import run_jobs

PASSWORD = "a long portal password 42"
ERROR = re.compile(r'<p class="error" role="alert" id="sign-in-error">([^<]*)</p>')


def _error_on(page) -> str:
    match = ERROR.search(page.text)
    assert match, page.text
    return match.group(1)


async def _contact_with_password(client, world, mail_dir, address: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A contact of a buyer of A who chose a password, and a browser signed out again: (buyer, contact)."""
    buyer = await make_buyer(world.a)
    contact = await invited_contact(world.a, buyer, address)
    await sign_in_to_portal(client, mail_dir, address)
    saved = await post_form(client, "/portal/account/password", {"password": PASSWORD, "password_again": PASSWORD})
    assert saved.status_code == 303, saved.text
    client.cookies.clear()
    return buyer, contact


async def _unlock(address: str) -> None:
    """The lock-out's time passes."""
    async with global_unit_of_work() as session:
        throttle = await SignInThrottleRepository(session).get(f"portal:{address}", for_update=True)
        throttle.locked_until = utcnow() - timedelta(seconds=1)


# --- links, asked for on the sign-in page -------------------------------------------------------


async def test_the_sixth_link_asked_for_an_address_within_15_minutes_is_refused_and_nothing_is_sent(client, world, mail_dir):
    busy = an_address("busy")
    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, busy)
    for _ in range(5):
        assert (await ask_for_link(client, busy)).status_code == 200
    refused = await ask_for_link(client, busy)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
    assert "Several sign-in links were asked for this address in the last minutes" in refused.text
    assert f'value="{busy}"' in refused.text  # the form keeps what was typed
    await run_jobs()
    assert len(mails_to(mail_dir, busy)) == 1 + 5  # the invitation, and five links


async def test_an_address_nobody_invited_is_throttled_the_same_way(client, world):
    stranger = an_address("stranger", "nowhere.example")
    for _ in range(5):
        assert (await ask_for_link(client, stranger)).status_code == 200
    refused = await ask_for_link(client, stranger)
    assert refused.status_code == 429 and "retry-after" in refused.headers


async def test_a_newer_link_replaces_the_one_sent_before(client, world, mail_dir):
    twice = an_address("twice")
    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, twice)
    await run_jobs()
    invitation = latest_link(mail_dir, twice)
    await ask_for_link(client, twice)
    await run_jobs()
    newest = latest_link(mail_dir, twice)
    assert newest != invitation
    replaced = await follow_link(client, invitation)
    assert replaced.status_code == 404 and "replaced" in replaced.text
    assert (await follow_link(client, newest)).status_code == 303


async def test_an_address_without_a_portal_gets_the_same_answer_and_no_link(client, world, mail_dir):
    open_ = an_address("open")
    withdrawn = an_address("withdrawn")
    never = an_address("never")
    stranger = an_address("stranger", "nowhere.example")
    buyer = await make_buyer(world.a)
    owner = owner_of(world.a)
    await invited_contact(world.a, buyer, open_)
    withdrawn_contact = await invited_contact(world.a, buyer, withdrawn)
    async with uow(world.a) as session:
        await access.revoke_contact(session, owner, buyer, withdrawn_contact)
        await buyers.add_contact(session, owner, buyer, name="Never Invited", email=never)
    await run_jobs()  # the open contact's invitation; the withdrawn one's is not sent any more
    answers = {}
    for address in (open_, withdrawn, never, stranger):
        response = await ask_for_link(client, address)
        assert response.status_code == 200
        answers[address] = re.sub(r'name="_csrf_token" value="[^"]+"', "", response.text.replace(address, "ADDRESS"))
    assert len(set(answers.values())) == 1
    await run_jobs()
    assert len(mails_to(mail_dir, open_)) == 2
    assert mails_to(mail_dir, withdrawn) == []
    assert mails_to(mail_dir, never) == []


async def test_withdrawing_access_ends_the_contacts_session_and_links_at_once(app, client, world, mail_dir):
    leaving = an_address("leaving")
    buyer = await make_buyer(world.a)
    contact = await invited_contact(world.a, buyer, leaving)
    await sign_in_to_portal(client, mail_dir, leaving)
    async with another_browser(app) as phone:
        await ask_for_link(phone, leaving)
        await run_jobs()
        unused = latest_link(mail_dir, leaving)
        assert await is_signed_in(client)
        async with uow(world.a) as session:
            await access.revoke_contact(session, owner_of(world.a), buyer, contact)
        assert not await is_signed_in(client)
        refused = await follow_link(phone, unused)
        assert refused.status_code == 404 and "not valid" in refused.text
        assert not await is_signed_in(phone)


# --- passwords ------------------------------------------------------------------------------------


async def test_a_contact_signs_in_with_the_password_they_chose(client, world, mail_dir):
    pw = an_address("pw")
    await _contact_with_password(client, world, mail_dir, pw)
    response = await sign_in_with_password(client, f" {pw.upper()} ", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/portal"
    assert await is_signed_in(client)


async def test_wrong_passwords_lock_the_address_out_for_longer_each_time(client, world, mail_dir):
    guessed = an_address("guessed")
    await _contact_with_password(client, world, mail_dir, guessed)
    for _ in range(4):
        wrong = await sign_in_with_password(client, guessed, "not the password at all")
        assert wrong.status_code == 422 and _error_on(wrong) == WRONG_CREDENTIALS
    fifth = await sign_in_with_password(client, guessed, "not the password at all")
    assert fifth.status_code == 429 and fifth.headers["retry-after"] == "30"
    assert "Too many failed attempts" in fifth.text
    # While locked, even the right password is refused.
    locked = await sign_in_with_password(client, guessed, PASSWORD)
    assert locked.status_code == 429 and not await is_signed_in(client)

    await _unlock(guessed)
    sixth = await sign_in_with_password(client, guessed, "still not the password")
    assert sixth.status_code == 429 and sixth.headers["retry-after"] == "60"

    await _unlock(guessed)
    right = await sign_in_with_password(client, guessed, PASSWORD)
    assert right.status_code == 303 and await is_signed_in(client)


async def test_an_unknown_or_withdrawn_address_gets_the_same_answer_as_a_wrong_password(client, world, mail_dir):
    known = an_address("known")
    nobody = an_address("nobody", "nowhere.example")
    buyer, contact = await _contact_with_password(client, world, mail_dir, known)
    wrong = await sign_in_with_password(client, known, "not the password at all")
    unknown = await sign_in_with_password(client, nobody, "not the password at all")
    assert wrong.status_code == unknown.status_code == 422
    assert _error_on(wrong) == _error_on(unknown) == WRONG_CREDENTIALS

    async with uow(world.a) as session:
        await access.revoke_contact(session, owner_of(world.a), buyer, contact)
    withdrawn = await sign_in_with_password(client, known, PASSWORD)
    assert withdrawn.status_code == 422 and _error_on(withdrawn) == WRONG_CREDENTIALS
    assert not await is_signed_in(client)


# --- the session cookie -----------------------------------------------------------------------------


async def test_the_portal_session_cookie_is_host_only_secure_http_only_and_lax(client, world, mail_dir):
    cookie = an_address("cookie")
    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, cookie)
    await run_jobs()
    signed_in = await follow_link(client, latest_link(mail_dir, cookie))
    cookie = next(h for h in signed_in.headers.get_list("set-cookie") if h.startswith(f"{PORTAL_COOKIE}="))
    attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
    assert PORTAL_COOKIE == "__Host-accord_portal"
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(attributes)
    assert not any(a.startswith(("domain=", "max-age=", "expires=")) for a in attributes)


async def test_every_sign_in_and_every_switch_starts_a_new_session_token(client, world, mail_dir):
    both = an_address("both")
    slug_a = await slug_of(world.a)
    await invited_contact(world.a, await make_buyer(world.a), both)
    at_b = await invited_contact(world.b, await make_buyer(world.b), both)
    # A token planted before sign-in (session fixation) is never the one signed in.
    client.cookies.set(PORTAL_COOKIE, "planted-by-someone-else", domain="testserver.local")
    await sign_in_at(client, mail_dir, both, slug_a)
    first = client.cookies.get(PORTAL_COOKIE)
    assert first and first != "planted-by-someone-else"
    await sign_in_at(client, mail_dir, both, slug_a)
    second = client.cookies.get(PORTAL_COOKIE)
    assert second != first

    switched = await post_form(client, "/portal/switch", {"contact_id": str(at_b)})
    assert switched.status_code == 303
    third = client.cookies.get(PORTAL_COOKIE)
    assert third not in (first, second)
    # The session left behind is over.
    client.cookies.set(PORTAL_COOKIE, second, domain="testserver.local")
    assert not await is_signed_in(client)


async def test_a_console_session_does_not_open_the_portal_nor_a_portal_session_the_console(app, client, world, mail_dir):
    two_doors = an_address("two-doors")
    await sign_in(client, world.a.finance)
    assert not await is_signed_in(client)
    console_token = client.cookies.get(CONSOLE_COOKIE)
    async with another_browser(app) as browser:
        # The console's token, presented as the portal's cookie, is no portal session either.
        browser.cookies.set(PORTAL_COOKIE, console_token, domain="testserver.local")
        assert not await is_signed_in(browser)

    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, two_doors)
    async with another_browser(app) as browser:
        await sign_in_to_portal(browser, mail_dir, two_doors)
        portal_token = browser.cookies.get(PORTAL_COOKIE)
        console = await browser.get("/console", follow_redirects=False)
        assert console.status_code in (302, 303) and "/console/sign-in" in console.headers["location"]
        browser.cookies.set(CONSOLE_COOKIE, portal_token, domain="testserver.local")
        console = await browser.get("/console/buyers", follow_redirects=False)
        assert console.status_code in (302, 303) and "/console/sign-in" in console.headers["location"]


# --- the links themselves ------------------------------------------------------------------------------


async def test_pages_reached_by_a_sign_in_link_send_no_referrer(client, world, mail_dir):
    referrer = an_address("referrer")
    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, referrer)
    await run_jobs()
    link = latest_link(mail_dir, referrer)
    page = await client.get(link)
    assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
    signed_in = await follow_link(client, link)
    assert signed_in.status_code == 303 and signed_in.headers["referrer-policy"] == "no-referrer"
    used = await follow_link(client, link)
    assert used.status_code == 404 and used.headers["referrer-policy"] == "no-referrer"


async def test_the_e_mailed_link_is_built_from_the_configured_address_never_the_requests_host(client, world, mail_dir):
    host = an_address("host")
    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, host)
    await run_jobs()
    response = await ask_for_link(client, host, headers={"host": "evil.example"})
    assert response.status_code == 200
    await run_jobs()
    body = mails_to(mail_dir, host)[-1].get_body(preferencelist=("plain",)).get_content()
    assert f"{get_settings().base_url}/portal/link/" in body
    assert "evil.example" not in body
