"""The daily digest: one e-mail a day for the groups a person chose it for, listing what came since the last."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from backend.db.base import utcnow
from backend.db.uow import all_tenants_unit_of_work
from backend.notifications import digests
from backend.notifications.models import DigestRecord, Notice, NotificationPreference
from tests.buyer_portal.helpers import mails_to
from tests.disputes.helpers import uow
from tests.notifications.helpers import REMINDER, mails_of, tell
from tests.test_team import run_jobs


async def _choose_digest(supplier, user_id, group: str = "case_reminders") -> None:
    async with uow(supplier) as session:
        session.add(NotificationPreference(recipient_kind="user", recipient_id=user_id, group=group, delivery="digest"))


async def test_a_digest_reader_gets_one_e_mail_a_day_listing_what_came_since_the_last(world, mail_dir):
    await _choose_digest(world.a, world.a.finance.user_id)
    for number in ("D-0101", "D-0102"):
        await tell(world.a, params={**REMINDER, "case_number": number}, user_ids=[world.a.finance.user_id])
    await tell(world.a, "case.escalated", {"case_number": "D-0103", "level": 1}, user_ids=[world.a.finance.user_id])
    assert [m.kind for m in await mails_of(world.a)] == ["case.escalated"]  # escalations still come at once

    today = utcnow() + digests.SETTLE  # the digest covers what had time to commit
    for _run in range(2):  # a repeated job changes nothing: one digest per person and day
        async with uow(world.a) as session:
            await digests.queue_digests(session, today.date().isoformat(), today)
    await run_jobs()
    digest_mails = [m for m in mails_to(mail_dir, world.a.finance.email) if "digest" in m["Subject"]]
    assert len(digest_mails) == 1
    text = digest_mails[0].get_body(preferencelist=("plain",)).get_content()
    assert "D-0101" in text and "D-0102" in text and "D-0103" not in text
    assert "/console/notifications" in text

    await tell(world.a, params={**REMINDER, "case_number": "D-0104"}, user_ids=[world.a.finance.user_id])
    tomorrow = today + timedelta(days=1)
    async with uow(world.a) as session:
        await digests.queue_digests(session, tomorrow.date().isoformat(), tomorrow)
    await run_jobs()
    digest_mails = [m for m in mails_to(mail_dir, world.a.finance.email) if "digest" in m["Subject"]]
    assert len(digest_mails) == 2
    second = digest_mails[1].get_body(preferencelist=("plain",)).get_content()
    assert "D-0104" in second and "D-0101" not in second
    async with uow(world.a) as session:
        records = (await session.scalars(select(DigestRecord).order_by(DigestRecord.day))).all()
    assert [(r.day, r.notice_count) for r in records] == [(today.date(), 2), (tomorrow.date(), 1)]


async def test_nothing_to_tell_sends_no_digest(world, mail_dir):
    await _choose_digest(world.a, world.a.finance.user_id)
    async with uow(world.a) as session:
        assert await digests.queue_digests(session, utcnow().date().isoformat()) == 0
    assert await mails_of(world.a) == []


async def test_the_sweep_plans_the_digest_once_a_day_and_the_whole_chain_delivers_it(world, mail_dir):
    await _choose_digest(world.a, world.a.collaborator.user_id, "instalments")
    await tell(world.a, "plan.broken", {"case_number": "D-0201"}, user_ids=[world.a.collaborator.user_id])
    async with uow(world.a) as session:  # told a while ago: settled, for the digest
        (notice,) = (await session.scalars(select(Notice))).all()
        notice.created_at -= digests.SETTLE + timedelta(minutes=1)
    fired = []
    for _sweep in range(3):
        async with all_tenants_unit_of_work("test: notifications sweep") as session:
            fired.append(await digests.fire_daily_plan(session))
    assert fired.count(True) <= 1  # once a day, however many sweeps (another test may have fired today's)
    if not any(fired):
        # Today's plan ran earlier in this test database: plan this tenant's digest as the plan would.
        async with all_tenants_unit_of_work("test: digest plan") as session:
            assert await digests.plan(session) >= 1
    await run_jobs()
    [digest] = [m for m in mails_to(mail_dir, world.a.collaborator.email) if "digest" in m["Subject"]]
    assert "D-0201" in digest.get_body(preferencelist=("plain",)).get_content()


async def test_a_notice_stamped_before_a_digest_but_committed_after_it_is_in_the_next_digest(world, mail_dir):
    """A job's transaction stamps its notice when it makes it and commits up to its time limit later."""
    await _choose_digest(world.a, world.a.finance.user_id)
    await tell(world.a, params={**REMINDER, "case_number": "D-0301"}, user_ids=[world.a.finance.user_id])
    today = utcnow() + digests.SETTLE + timedelta(minutes=1)
    async with uow(world.a) as session:
        assert await digests.queue_digests(session, today.date().isoformat(), today) == 1
    # Committed only now, by a job that started a minute before the digest.
    await tell(world.a, params={**REMINDER, "case_number": "D-0302"}, user_ids=[world.a.finance.user_id])
    async with uow(world.a) as session:
        late = (await session.scalars(select(Notice).where(Notice.params["case_number"].as_string() == "D-0302"))).one()
        late.created_at = today - timedelta(minutes=1)
    tomorrow = today + timedelta(days=1)
    async with uow(world.a) as session:
        assert await digests.queue_digests(session, tomorrow.date().isoformat(), tomorrow) == 1
    await run_jobs()
    digest_mails = [m for m in mails_to(mail_dir, world.a.finance.email) if "digest" in m["Subject"]]
    texts = sorted(m.get_body(preferencelist=("plain",)).get_content() for m in digest_mails)
    assert len(texts) == 2 and sum("D-0302" in text for text in texts) == 1 and sum("D-0301" in text for text in texts) == 1
