"""Notifications on the pages: the bell and the list in the console and the portal, marking read,
e-mail preferences, and the unsubscribe link of a buyer's e-mail. Everyone sees only their own."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from backend.buyers.models import BuyerContact
from backend.notifications.models import NotificationPreference
from tests.buyer_portal.helpers import invited_contact, mails_to, sign_in_to_portal
from tests.conftest import csrf_token, sign_in
from tests.disputes.helpers import uow
from tests.factories import make_buyer
from tests.notifications.helpers import REMINDER, notices_of, tell
from tests.test_team import run_jobs

HTMX = {"HX-Request": "true"}


async def test_the_console_lists_a_members_notices_newest_first_with_the_unread_count(client, world):
    for number in ("D-0001", "D-0002"):
        await tell(world.a, params={**REMINDER, "case_number": number}, case_id=uuid.uuid4(), user_ids=[world.a.finance.user_id])
    await tell(world.a, params={**REMINDER, "case_number": "D-BOB"}, user_ids=[world.a.collaborator.user_id])
    await sign_in(client, world.a.finance)
    page = await client.get("/console/notifications")
    assert page.status_code == 200
    assert page.text.index("D-0002") < page.text.index("D-0001") and "D-BOB" not in page.text
    assert "December 1, 2026" in page.text and "answer the buyer" in page.text
    bell = await client.get("/console/notifications/bell", headers=HTMX)
    assert 'class="count">2<' in bell.text
    home = await client.get("/console")
    assert 'href="/console/notifications"' in home.text  # the bell, a link that works without JavaScript


async def test_a_member_marks_one_notice_read_then_all(client, world):
    for number in ("D-0001", "D-0002", "D-0003"):
        await tell(world.a, params={**REMINDER, "case_number": number}, user_ids=[world.a.finance.user_id])
    first = (await notices_of(world.a))[0]
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/notifications")
    row = await client.post(f"/console/notifications/{first.id}/read", data={"_csrf_token": token}, headers=HTMX)
    assert row.status_code == 200 and f'id="notice-{first.id}"' in row.text and "Mark read" not in row.text
    assert 'hx-swap-oob="true"' in row.text and 'class="count">2<' in row.text  # the bell follows
    everything = await client.post("/console/notifications/read-all", data={"_csrf_token": token}, follow_redirects=False)
    assert everything.status_code == 303
    assert all(n.read_at is not None for n in await notices_of(world.a))
    bell = await client.get("/console/notifications/bell", headers=HTMX)
    assert "count" not in bell.text


async def test_another_persons_or_another_tenants_notice_answers_404_and_stays_unread(client, world):
    await tell(world.a, user_ids=[world.a.collaborator.user_id])
    await tell(world.b, user_ids=[world.b.finance.user_id])
    bobs = (await notices_of(world.a))[0]
    charlies = (await notices_of(world.b))[0]
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/notifications")
    for notice_id in (bobs.id, charlies.id, uuid.uuid4()):
        response = await client.post(f"/console/notifications/{notice_id}/read", data={"_csrf_token": token})
        assert response.status_code == 404
    await client.post("/console/notifications/read-all", data={"_csrf_token": token})
    assert (await notices_of(world.a))[0].read_at is None and (await notices_of(world.b))[0].read_at is None
    page = await client.get("/console/notifications")
    assert str(bobs.id) not in page.text and str(charlies.id) not in page.text


async def test_the_list_is_paginated(client, world):
    async with uow(world.a) as session:
        from backend.notifications.notify import notify

        for n in range(23):
            await notify(
                session,
                kind="plan.broken",
                case_id=None,
                user_ids=[world.a.finance.user_id],
                params={"case_number": f"P-{n:03d}"},
            )
    await sign_in(client, world.a.finance)
    second = await client.get("/console/notifications?page=2", headers=HTMX)
    assert second.status_code == 200 and "Page 2 of 2" in second.text
    assert len(re.findall(r'<tr id="notice-', second.text)) == 3


async def test_a_member_chooses_the_digest_for_escalations_and_a_wrong_choice_changes_nothing(client, world):
    await sign_in(client, world.a.finance)
    page = await client.get("/console/notifications/preferences")
    assert page.status_code == 200 and "Escalations" in page.text and "In a daily digest" in page.text
    token = await csrf_token(client, "/console/notifications/preferences")
    saved = await client.post(
        "/console/notifications/preferences",
        data={"case_reminders": "immediate", "escalations": "digest", "instalments": "off", "_csrf_token": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    wrong = await client.post(
        "/console/notifications/preferences",
        data={"case_reminders": "hourly", "escalations": "immediate", "instalments": "immediate", "_csrf_token": token},
    )
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text
    async with uow(world.a) as session:
        chosen = dict(
            (p.group, p.delivery)
            for p in (await session.scalars(select(NotificationPreference))).all()
            if p.recipient_id == world.a.finance.user_id
        )
    assert chosen == {"case_reminders": "immediate", "escalations": "digest", "instalments": "off"}
    # Alice's choice is hers: Bob still gets escalations at once.
    await tell(
        world.a,
        "case.escalated",
        {"case_number": "D-0009", "level": 1},
        user_ids=[world.a.finance.user_id, world.a.collaborator.user_id],
    )
    async with uow(world.a) as session:
        from backend.notifications.models import OutgoingMail

        mails = (await session.scalars(select(OutgoingMail))).all()
    assert [m.recipient_id for m in mails] == [world.a.collaborator.user_id]


async def test_a_contact_sees_its_own_notices_in_the_portal_and_nobody_elses(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    li_na = await invited_contact(world.a, buyer_id, "li.na.notices@buyer.example")
    tom = await invited_contact(world.a, buyer_id, "tom.notices@buyer.example", name="Tom")
    case_id = uuid.uuid4()
    await tell(
        world.a,
        "case.reminder_buyer",
        {"case_number": "D-0042", "supplier": world.a.name, "due_on": "2026-12-03"},
        case_id=case_id,
        contact_ids=[li_na],
    )
    await tell(world.a, "plan.broken", {"case_number": "D-TOM"}, contact_ids=[tom])
    await sign_in_to_portal(client, mail_dir, "li.na.notices@buyer.example")
    page = await client.get("/portal/notifications")
    assert page.status_code == 200 and "D-0042" in page.text and "D-TOM" not in page.text
    assert f'href="/portal/disputes/{case_id}"' in page.text
    bell = await client.get("/portal/notifications/bell", headers=HTMX)
    assert 'class="count">1<' in bell.text
    toms = next(n for n in await notices_of(world.a) if n.recipient_id == tom)
    token = await csrf_token(client, "/portal/notifications")
    refused = await client.post(f"/portal/notifications/{toms.id}/read", data={"_csrf_token": token})
    assert refused.status_code == 404
    assert next(n for n in await notices_of(world.a) if n.recipient_id == tom).read_at is None
    # A team member's notice is not a contact's either, and the console's pages are not the portal's.
    assert (await client.get("/console/notifications", follow_redirects=False)).status_code in (302, 303, 401)


async def _unsubscribe_link(mail_dir, address: str) -> str:
    [message] = [m for m in mails_to(mail_dir, address) if "D-0077" in m["Subject"]]
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"https?://[^/\s]+(/unsubscribe/\S+)", text).group(1)


async def test_the_unsubscribe_link_asks_first_then_stops_that_group_without_signing_in(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    contact = await invited_contact(world.a, buyer_id, "unsub@buyer.example")
    await tell(
        world.a,
        "instalment.missed",
        {"case_number": "D-0077", "seq": 1, "amount": "10", "currency": "CNY", "due_on": "2026-12-01"},
        contact_ids=[contact],
    )
    await run_jobs()
    path = await _unsubscribe_link(mail_dir, "unsub@buyer.example")
    page = await client.get(path)
    assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
    assert "Instalments" in page.text and "unsub@buyer.example" in page.text
    async with uow(world.a) as session:
        assert (await session.scalars(select(NotificationPreference))).all() == []  # the GET changed nothing
    token = re.search(r'name="_csrf_token" value="([^"]*)"', page.text).group(1)  # none needed: the link is the credential
    done = await client.post(path, data={"_csrf_token": token, "scope": "this"})
    assert done.status_code == 201 or done.status_code == 200
    assert done.headers["referrer-policy"] == "no-referrer" and "no longer receive" in done.text
    async with uow(world.a) as session:
        prefs = (await session.scalars(select(NotificationPreference))).all()
    assert [(p.recipient_id, p.group, p.delivery) for p in prefs] == [(contact, "instalments", "off")]
    await tell(
        world.a,
        "instalment.missed",
        {"case_number": "D-0078", "seq": 2, "amount": "10", "currency": "CNY", "due_on": "2026-12-01"},
        contact_ids=[contact],
    )
    await run_jobs()
    assert not any("D-0078" in m["Subject"] for m in mails_to(mail_dir, "unsub@buyer.example"))


async def test_stop_all_also_turns_off_the_portals_own_e_mails(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    contact = await invited_contact(world.a, buyer_id, "unsub.all@buyer.example")
    await tell(world.a, "plan.broken", {"case_number": "D-0077"}, contact_ids=[contact])
    await run_jobs()
    path = await _unsubscribe_link(mail_dir, "unsub.all@buyer.example")
    page = await client.get(path)
    token = re.search(r'name="_csrf_token" value="([^"]*)"', page.text).group(1)  # none needed: the link is the credential
    await client.post(path, data={"_csrf_token": token, "scope": "all"})
    async with uow(world.a) as session:
        stored = (await session.scalars(select(BuyerContact).where(BuyerContact.id == contact))).one()
        prefs = {p.group: p.delivery for p in (await session.scalars(select(NotificationPreference))).all()}
    assert stored.notification_prefs == {"messages": False, "proposals": False, "statements": False}
    assert prefs == {"case_reminders": "off", "escalations": "off", "instalments": "off"}


async def test_a_forged_or_altered_unsubscribe_link_is_refused_and_changes_nothing(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    contact = await invited_contact(world.a, buyer_id, "forged@buyer.example")
    await tell(world.a, "plan.broken", {"case_number": "D-0077"}, contact_ids=[contact])
    await run_jobs()
    path = await _unsubscribe_link(mail_dir, "forged@buyer.example")
    token = await csrf_token(client, "/portal/sign-in")
    altered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    for bad in (altered, "/unsubscribe/not-a-token", "/unsubscribe/" + path.rsplit("/", 1)[1].split(".")[0] + ".x"):
        assert (await client.get(bad)).status_code == 404
        assert (await client.post(bad, data={"_csrf_token": token, "scope": "all"})).status_code == 404
    async with uow(world.a) as session:
        assert (await session.scalars(select(NotificationPreference))).all() == []


async def test_a_thread_message_to_the_buyer_carries_an_unsubscribe_link_that_stops_messages(client, world, mail_dir):
    from tests.disputes.test_workers import _case_with_people, _post

    scene = await _case_with_people(world)
    await _post(world.a, scene.wang.principal, scene.case.id, "Could you send photos of the damage?", internal=False)
    await run_jobs()
    [message] = [m for m in mails_to(mail_dir, scene.tom.email) if "photos of the damage" in m.get_body(("plain",)).get_content()]
    text = message.get_body(preferencelist=("plain",)).get_content()
    path = re.search(r"https?://[^/\s]+(/unsubscribe/\S+)", text).group(1)
    assert message["List-Unsubscribe"].endswith(f"{path}>")
    page_part = message.get_body(preferencelist=("html",)).get_content()
    assert "photos of the damage" in page_part and f'{path}">' in page_part  # an HTML part too, its links live
    page = await client.get(path)
    assert page.status_code == 200 and "Messages about your disputes" in page.text
    token = re.search(r'name="_csrf_token" value="([^"]*)"', page.text).group(1)  # none needed: the link is the credential
    await client.post(path, data={"_csrf_token": token, "scope": "this"})
    async with uow(world.a) as session:
        tom = (await session.scalars(select(BuyerContact).where(BuyerContact.email == scene.tom.email))).one()
    assert tom.notification_prefs == {"messages": False, "proposals": True, "statements": True}


async def test_mail_that_failed_for_good_is_shown_to_those_who_run_the_team(client, world):
    from backend.notifications.sending import mark_undeliverable
    from tests.notifications.helpers import mails_of

    await tell(world.a, user_ids=[world.a.collaborator.user_id])
    (mail,) = await mails_of(world.a)
    async with uow(world.a) as session:
        from backend.notifications.models import OutgoingMail

        stored = (await session.scalars(select(OutgoingMail).where(OutgoingMail.id == mail.id))).one()
        stored.attempts = 9
        mark_undeliverable(stored, "ConnectionRefusedError: [Errno 111] Connection refused")
    await sign_in(client, world.a.finance)
    page = await client.get("/console/notifications")
    assert "E-mails that could not be sent" in page.text and "Connection refused" in page.text
    await client.post("/console/sign-out", data={"_csrf_token": await csrf_token(client, "/console/notifications")})
    await sign_in(client, world.a.collaborator)
    assert "Connection refused" not in (await client.get("/console/notifications")).text


async def test_an_expired_unsubscribe_link_is_refused(client, world):
    from datetime import timedelta

    from backend.config import get_settings
    from backend.db.base import utcnow
    from backend.notifications import unsubscribe

    buyer_id = await make_buyer(world.a)
    contact = await invited_contact(world.a, buyer_id, "expired@buyer.example")
    issued = utcnow() - unsubscribe.VALID_FOR - timedelta(days=1)
    token = unsubscribe.token_for(get_settings().secret_key, world.a.tenant_id, contact, "instalments", issued)
    fresh = unsubscribe.token_for(get_settings().secret_key, world.a.tenant_id, contact, "instalments")
    assert (await client.get(f"/unsubscribe/{token}")).status_code == 404
    assert (await client.get(f"/unsubscribe/{fresh}")).status_code == 200
    # Signed for another tenant's contact id: the contact is not there, so nothing is found.
    foreign = unsubscribe.token_for(get_settings().secret_key, world.b.tenant_id, contact, "instalments")
    assert (await client.get(f"/unsubscribe/{foreign}")).status_code == 404


async def test_a_contact_chooses_the_digest_for_instalments_on_the_account_page(client, world, mail_dir):
    buyer_id = await make_buyer(world.a)
    contact = await invited_contact(world.a, buyer_id, "account.prefs@buyer.example")
    await sign_in_to_portal(client, mail_dir, "account.prefs@buyer.example")
    page = await client.get("/portal/account")
    assert 'name="instalments" value="digest"' in page.text
    token = await csrf_token(client, "/portal/account")
    base = {"language": "en", "notifications": ["messages", "proposals"], "_csrf_token": token}
    wrong = await client.post("/portal/account/preferences", data={**base, "instalments": "hourly"})
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text
    async with uow(world.a) as session:
        assert (await session.scalars(select(NotificationPreference))).all() == []
        assert (await session.scalars(select(BuyerContact).where(BuyerContact.id == contact))).one().wants("statements")
    saved = await client.post(
        "/portal/account/preferences", data={**base, "instalments": "digest", "case_reminders": "off"}, follow_redirects=False
    )
    assert saved.status_code == 303
    async with uow(world.a) as session:
        prefs = {p.group: p.delivery for p in (await session.scalars(select(NotificationPreference))).all()}
    assert prefs == {"instalments": "digest", "case_reminders": "off"}


async def test_a_mail_client_unsubscribes_with_one_click_without_the_page(client, world, mail_dir):
    """RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click` to the link, with no cookie and no form token."""
    from tests.notifications.helpers import buyer_with_contact

    _buyer_id, contact_id = await buyer_with_contact(world.a, "one.click@buyer.example")
    params = {"case_number": "D-0042", "supplier": world.a.name, "due_on": "2026-12-03"}
    await tell(world.a, "case.reminder_buyer", params, contact_ids=[contact_id])
    await run_jobs()
    [message] = mails_to(mail_dir, "one.click@buyer.example")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = re.search(r"<https?://[^/]+(/unsubscribe/[^>]+)>", message["List-Unsubscribe"]).group(1)
    client.cookies.clear()
    response = await client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code in (200, 201)
    async with uow(world.a) as session:
        prefs = (await session.scalars(select(NotificationPreference))).all()
    assert [(p.recipient_id, p.group, p.delivery) for p in prefs] == [(contact_id, "case_reminders", "off")]
