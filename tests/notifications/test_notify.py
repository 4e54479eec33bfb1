"""`notify`: the call the escalation sweep makes. A notice for each recipient, an e-mail queued with its
job in the same transaction, the recipient's choices respected, and e-mails rendered in their language."""

from __future__ import annotations

import uuid

import pytest

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.notifications import kinds
from backend.notifications.models import NotificationPreference
from backend.notifications.notify import notify
from backend.notifications.sending import compose_for_sending, message_id
from tests.disputes.helpers import uow
from tests.notifications.helpers import REMINDER, buyer_with_contact, mails_of, notices_of, send_jobs_of, tell

EXAMPLES = {
    "case.reminder_owner": {"case_number": "D-0007", "timer": "acknowledge", "due_on": "2026-12-01"},
    "case.reminder_buyer": {"case_number": "D-0007", "supplier": "Alice Supplier", "due_on": "2026-12-01"},
    "case.escalated": {"case_number": "D-0007", "level": 2},
    "case.breached": {"case_number": "D-0007", "timer": "hard_deadline"},
    "case.escalation_proposed": {"case_number": "D-0007", "days": 90, "route": "claim"},
    "case.deadline_near": {"case_number": "D-0007", "deadline": "2026-12-24"},
    "instalment.reminder": {"case_number": "D-0007", "seq": 2, "amount": "1250.50", "currency": "CNY", "due_on": "2026-12-01"},
    "instalment.missed": {"case_number": "D-0007", "seq": 2, "amount": "1250.50", "currency": "EUR", "due_on": "2026-12-01"},
    "plan.broken": {"case_number": "D-0007"},
}


def test_every_kind_has_an_example_here_and_a_group():
    assert set(EXAMPLES) == set(kinds.KINDS)
    assert {kind.group for kind in kinds.KINDS.values()} <= set(kinds.GROUP_KEYS)


async def test_each_recipient_gets_a_notice_and_one_queued_e_mail_with_its_job(world):
    _buyer, contact_id = await buyer_with_contact(world.a)
    case_id = uuid.uuid4()
    await tell(
        world.a,
        "case.reminder_buyer",
        EXAMPLES["case.reminder_buyer"],
        case_id=case_id,
        user_ids=[world.a.finance.user_id, world.a.finance.user_id],
        contact_ids=[contact_id],
    )
    notices = await notices_of(world.a)
    assert sorted((n.recipient_kind, n.recipient_id) for n in notices) == sorted(
        [("user", world.a.finance.user_id), ("contact", contact_id)]
    )
    assert all(n.case_id == case_id and n.read_at is None for n in notices)
    mails = await mails_of(world.a)
    assert len(mails) == 2 and {m.status for m in mails} == {"queued"}
    assert sorted(j.payload["mail_id"] for j in await send_jobs_of(world.a)) == sorted(str(m.id) for m in mails)


async def test_a_rolled_back_change_leaves_no_notice_and_no_mail(world):
    with pytest.raises(RuntimeError):
        async with uow(world.a) as session:
            await notify(session, kind="case.reminder_owner", case_id=None, user_ids=[world.a.finance.user_id], params=REMINDER)
            raise RuntimeError("the change failed")
    assert await notices_of(world.a) == [] and await mails_of(world.a) == [] and await send_jobs_of(world.a) == []


async def test_an_unknown_kind_or_a_missing_parameter_is_a_programming_error(world):
    async with uow(world.a) as session:
        with pytest.raises(kinds.UnknownKind):
            await notify(session, kind="case.reminded", case_id=None, user_ids=[world.a.finance.user_id], params=REMINDER)
        with pytest.raises(ValueError, match="due_on"):
            await notify(
                session, kind="case.reminder_owner", case_id=None, user_ids=[world.a.finance.user_id], params={"case_number": "1"}
            )
        with pytest.raises(ValueError, match="timer"):
            await notify(session, kind="case.breached", case_id=None, params={"case_number": "1", "timer": "lunch"})
    assert await notices_of(world.a) == []


async def test_people_of_another_tenant_and_strangers_are_not_told(world):
    _buyer, charlies_contact = await buyer_with_contact(world.b, "buyer.of.charlie@example.com")
    await tell(world.a, user_ids=[world.b.finance.user_id, uuid.uuid4()], contact_ids=[charlies_contact, uuid.uuid4()])
    assert await notices_of(world.a) == [] and await mails_of(world.a) == []
    assert await notices_of(world.b) == []


async def test_digest_or_off_keeps_the_notice_but_queues_no_e_mail(world):
    async with uow(world.a) as session:
        for person, delivery in ((world.a.finance, "digest"), (world.a.collaborator, "off")):
            session.add(
                NotificationPreference(
                    recipient_kind="user", recipient_id=person.user_id, group="case_reminders", delivery=delivery
                )
            )
    await tell(world.a, user_ids=[world.a.finance.user_id, world.a.collaborator.user_id])
    # Escalations are another group: still immediate for both.
    await tell(
        world.a, "case.escalated", EXAMPLES["case.escalated"], user_ids=[world.a.finance.user_id, world.a.collaborator.user_id]
    )
    assert len(await notices_of(world.a)) == 4
    assert [m.kind for m in await mails_of(world.a)] == ["case.escalated", "case.escalated"]


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_every_kind_renders_in_the_readers_language_with_text_and_html(world, language):
    _buyer, contact_id = await buyer_with_contact(world.a, f"reader.{language}@buyer.example", language=language)
    for kind, params in EXAMPLES.items():
        await tell(world.a, kind, params, case_id=uuid.uuid4(), contact_ids=[contact_id])
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        for mail in await mails_of(world.a):
            message = await compose_for_sending(session, mail, "https://accord.example")
            assert message["To"] == f"reader.{language.lower()}@buyer.example"
            assert message["Message-ID"] == message_id(mail.id)
            assert message["Content-Language"] == language
            text = message.get_body(preferencelist=("plain",)).get_content()
            page = message.get_body(preferencelist=("html",)).get_content()
            assert "D-0007" in message["Subject"] and "D-0007" in text and "D-0007" in page
            assert "https://accord.example/unsubscribe/" in text and 'href="https://accord.example/unsubscribe/' in page
            if "due_on" in mail.params:
                assert ("2026年12月1日" if language == "zh-CN" else "December 1, 2026") in text
            if mail.kind == "instalment.missed":
                assert "€1,250.50" in text
            if mail.kind == "instalment.reminder":
                assert ("¥1,250.50" if language == "zh-CN" else "CN¥1,250.50") in text


async def test_a_team_members_e_mail_links_to_the_case_in_the_console(world):
    case_id = uuid.uuid4()
    await tell(world.a, case_id=case_id, user_ids=[world.a.finance.user_id])
    (mail,) = await mails_of(world.a)
    async with uow(world.a) as session:
        message = await compose_for_sending(session, mail, "https://accord.example")
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert f"https://accord.example/console/disputes/{case_id}" in text
    assert "https://accord.example/console/notifications/preferences" in text
    assert message["To"] == world.a.finance.email


def test_a_missed_hard_deadline_is_named_for_what_it_is_not_the_escalation_day():
    """The hard deadline is Stripe's evidence date or the insurer's, not the day a case escalates to collection."""
    with kinds.in_language("en"):
        title = kinds.title("case.breached", {"case_number": "D-0007", "timer": "hard_deadline"})
    assert "escalation" not in title and "the hard deadline (Stripe evidence or insurer date)" in title
