"""Signing in to the buyer portal by an e-mailed link: single use, 15 minutes, bound to one contact."""

from __future__ import annotations

from datetime import timedelta

from backend.db.base import utcnow
from tests.buyer_portal.helpers import follow_link, invited_contact, latest_link, sign_in_to_portal
from tests.factories import make_buyer
from tests.test_team import run_jobs


async def test_an_invited_contact_signs_in_by_the_e_mailed_link(client, world, mail_dir):
    buyer = await make_buyer(world.a, "Acme Trading Ltd")
    await invited_contact(world.a, buyer, "li.na@acme.example")
    await sign_in_to_portal(client, mail_dir, "li.na@acme.example")
    home = await client.get("/portal")
    assert home.status_code == 200
    assert "Li Na" in home.text
    # The console does not know this session.
    console = await client.get("/console", follow_redirects=False)
    assert console.status_code in (302, 303) and "/console/sign-in" in console.headers["location"]


async def test_a_link_works_once(client, world, mail_dir):
    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, "once@acme.example")
    await run_jobs()
    link = latest_link(mail_dir, "once@acme.example")
    assert (await follow_link(client, link)).status_code == 303
    await client.post("/portal/sign-out", data={"_csrf_token": "x"})
    client.cookies.clear()
    again = await follow_link(client, link)
    assert again.status_code == 404 and "not valid" in again.text


async def test_an_altered_link_is_refused(client, world, mail_dir):
    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, "altered@acme.example")
    await run_jobs()
    link = latest_link(mail_dir, "altered@acme.example")
    last = link[-1]
    altered = link[:-1] + ("A" if last != "A" else "B")
    response = await follow_link(client, altered)
    assert response.status_code == 404 and "not valid" in response.text
    assert (await client.get("/portal", follow_redirects=False)).status_code in (302, 303)


async def test_an_expired_link_is_refused(client, world, mail_dir):
    from sqlalchemy import update

    from backend.auth.models import MagicLink
    from tests.disputes.helpers import uow

    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, "late@acme.example")
    await run_jobs()
    link = latest_link(mail_dir, "late@acme.example")
    async with uow(world.a) as session:
        await session.execute(update(MagicLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await follow_link(client, link)
    assert response.status_code == 404 and "expired" in response.text


async def test_a_very_long_return_address_sends_the_link_home_instead(client, world, mail_dir):
    from tests.conftest import CSRF_INPUT

    buyer = await make_buyer(world.a)
    await invited_contact(world.a, buyer, "long.next@acme.example")
    page = await client.get("/portal/sign-in")
    target = "/portal/disputes/new?" + "&".join(f"invoice={index:036d}" for index in range(20))
    response = await client.post(
        "/portal/sign-in",
        data={"email": "long.next@acme.example", "next": target, "_csrf_token": CSRF_INPUT.search(page.text).group(1)},
    )
    assert response.status_code == 200
    await run_jobs()
    signed_in = await follow_link(client, latest_link(mail_dir, "long.next@acme.example"))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/portal"


async def test_housekeeping_forgets_links_a_day_old_and_keeps_fresh_ones(world, mail_dir):
    from sqlalchemy import func, select, update

    from backend.auth import portal
    from backend.auth.models import MagicLink
    from backend.db.uow import all_tenants_unit_of_work
    from tests.disputes.helpers import uow

    buyer = await make_buyer(world.a)
    old = await invited_contact(world.a, buyer, "old.link@acme.example")
    await invited_contact(world.a, buyer, "fresh.link@acme.example")
    async with uow(world.a) as session:
        await session.execute(
            update(MagicLink).where(MagicLink.contact_id == old).values(requested_at=utcnow() - timedelta(days=2))
        )
    async with all_tenants_unit_of_work("test: housekeeping") as session:
        assert await portal.forget_old_links(session, utcnow()) >= 1
    async with uow(world.a) as session:
        left = dict((await session.execute(select(MagicLink.email, func.count()).group_by(MagicLink.email))).all())
    assert "old.link@acme.example" not in left and left["fresh.link@acme.example"] == 1
