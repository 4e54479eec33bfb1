"""The mail job: sends a queued e-mail once however often it is delivered, retries a server that is down
and then marks the mail failed, and a job the broker lost is recorded again from the database."""

from __future__ import annotations

import dataclasses
import smtplib
import socket
import uuid
from datetime import timedelta

import pytest

from backend.config import get_settings
from backend.db.base import utcnow
from backend.db.uow import all_tenants_unit_of_work
from backend.notifications import mailer, sending
from tests.buyer_portal.helpers import mails_to
from tests.disputes.helpers import uow
from tests.notifications.helpers import mails_of, notices_of, send_jobs_of, tell
from tests.test_team import run_jobs
from workers import notifications as notification_jobs
from workers import relay
from workers.actors import broker


async def _deliver(supplier, job, job_id: uuid.UUID | None = None) -> None:
    await notification_jobs.send.run_async(
        tenant_id=str(supplier.tenant_id), job_id=str(job_id or job.id), mail_id=job.payload["mail_id"]
    )


async def test_the_mail_job_delivered_again_sends_nothing_more(world, mail_dir):
    await tell(world.a, user_ids=[world.a.finance.user_id])
    (job,) = await send_jobs_of(world.a)
    for job_id in (job.id, job.id, uuid.uuid4()):
        await _deliver(world.a, job, job_id)
    [message] = mails_to(mail_dir, world.a.finance.email)
    (mail,) = await mails_of(world.a)
    assert (mail.status, mail.attempts) == ("sent", 1)
    assert message["Message-ID"] == sending.message_id(mail.id)


async def test_another_tenants_job_cannot_send_this_tenants_mail(world, mail_dir):
    await tell(world.a, user_ids=[world.a.finance.user_id])
    (job,) = await send_jobs_of(world.a)
    await _deliver(world.b, job)
    assert mails_to(mail_dir, world.a.finance.email) == []
    assert (await mails_of(world.a))[0].status == "queued"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_a_server_that_stays_down_is_tried_with_each_retry_then_the_mail_is_marked_failed(world, mail_dir, monkeypatch):
    down = dataclasses.replace(get_settings(), smtp_url=f"smtp://127.0.0.1:{_closed_port()}")
    monkeypatch.setattr(mailer, "get_settings", lambda: down)
    await tell(world.a, user_ids=[world.a.finance.user_id])
    (job,) = await send_jobs_of(world.a)
    for _try in range(notification_jobs.MAX_RETRIES):
        with pytest.raises(ConnectionRefusedError):
            await _deliver(world.a, job)  # raised, so Dramatiq retries it after its backoff
    await _deliver(world.a, job)  # the last try fails quietly: the mail is marked failed
    (mail,) = await mails_of(world.a)
    assert mail.status == "failed" and mail.attempts == notification_jobs.MAX_RETRIES + 1
    assert "ConnectionRefusedError" in mail.last_error and mail.failed_at is not None
    # The server is back: a stray delivery still sends nothing, the mail failed for good.
    monkeypatch.undo()
    await _deliver(world.a, job)
    assert mails_to(mail_dir, world.a.finance.email) == []


async def test_a_server_down_for_one_try_gets_the_mail_on_the_next(world, mail_dir, monkeypatch):
    down = dataclasses.replace(get_settings(), smtp_url=f"smtp://127.0.0.1:{_closed_port()}")
    monkeypatch.setattr(mailer, "get_settings", lambda: down)
    await tell(world.a, user_ids=[world.a.finance.user_id])
    (job,) = await send_jobs_of(world.a)
    with pytest.raises(ConnectionRefusedError):
        await _deliver(world.a, job)
    monkeypatch.undo()
    await _deliver(world.a, job)
    assert len(mails_to(mail_dir, world.a.finance.email)) == 1
    (mail,) = await mails_of(world.a)
    assert (mail.status, mail.attempts, mail.last_error) == ("sent", 2, None)


async def test_a_job_the_broker_lost_after_it_was_published_is_recorded_again_and_sends_once(world, mail_dir):
    await tell(world.a, user_ids=[world.a.finance.user_id])
    assert await relay.relay_once() >= 1
    broker.flush_all()  # Redis restarted without its data: the published message is gone
    async with all_tenants_unit_of_work("test: the notifications sweep") as session:
        assert await sending.requeue_stalled(session, utcnow()) == 0  # not stalled yet: nothing to do
    async with all_tenants_unit_of_work("test: the notifications sweep, later") as session:
        assert await sending.requeue_stalled(session, utcnow() + sending.STALLED_AFTER + timedelta(minutes=1)) >= 1
    await run_jobs()
    assert len(mails_to(mail_dir, world.a.finance.email)) == 1
    assert (await mails_of(world.a))[0].status == "sent"
    # A later sweep records nothing more for it: the mail is sent.
    jobs_before = len(await send_jobs_of(world.a))
    async with all_tenants_unit_of_work("test: the notifications sweep, later still") as session:
        await sending.requeue_stalled(session, utcnow() + timedelta(hours=2))
    assert len(await send_jobs_of(world.a)) == jobs_before


async def test_dispute_mails_go_through_the_queue_and_are_sent_once(world, mail_dir):
    from tests.disputes.test_workers import _case_with_people

    scene = await _case_with_people(world)
    assert len(mails_to(mail_dir, world.a.collaborator.email)) == 1  # the task's question
    queued = [m for m in await mails_of(world.a) if m.kind == "disputes.task"]
    assert len(queued) == 1 and queued[0].status == "sent" and queued[0].to_address == world.a.collaborator.email
    assert scene.case.number in mails_to(mail_dir, world.a.collaborator.email)[0]["Subject"]


async def test_the_sweep_forgets_sent_mail_after_a_month_but_keeps_failed_mail_and_the_notices(world, mail_dir):
    await tell(world.a, user_ids=[world.a.finance.user_id, world.a.collaborator.user_id])
    first, second = await send_jobs_of(world.a)
    await _deliver(world.a, first)
    async with uow(world.a) as session:
        from sqlalchemy import select

        from backend.notifications.models import OutgoingMail

        unsent = (
            await session.scalars(select(OutgoingMail).where(OutgoingMail.id == uuid.UUID(second.payload["mail_id"])))
        ).one()
        sending.mark_undeliverable(unsent, "gave up")
    async with all_tenants_unit_of_work("test: the notifications sweep") as session:
        await sending.forget_sent(session, utcnow() + sending.KEEP_SENT + timedelta(days=1))
    assert [m.status for m in await mails_of(world.a)] == ["failed"]
    assert len(await notices_of(world.a)) == 2


async def test_an_address_the_server_refuses_for_good_is_marked_failed_at_once(world, monkeypatch):
    from aiosmtpd.controller import Controller

    class Refusing:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            return "550 5.1.1 No such mailbox"

    port = _closed_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        refusing = dataclasses.replace(get_settings(), smtp_url=f"smtp://127.0.0.1:{port}")
        monkeypatch.setattr(mailer, "get_settings", lambda: refusing)
        await tell(world.a, user_ids=[world.a.finance.user_id])
        (job,) = await send_jobs_of(world.a)
        await _deliver(world.a, job)  # no exception: no retry would help
    finally:
        controller.stop()
    (mail,) = await mails_of(world.a)
    assert (mail.status, mail.attempts) == ("failed", 1) and "No such mailbox" in mail.last_error


@pytest.mark.parametrize(
    ("hook", "answer"),
    [("handle_DATA", "554 5.7.1 Message rejected as spam"), ("handle_MAIL", "553 5.7.1 Sender address rejected")],
)
async def test_a_message_or_sender_the_server_refuses_for_good_is_failed_at_once(world, mail_dir, monkeypatch, hook, answer):
    from aiosmtpd.controller import Controller

    async def refuse(self, server, session, envelope, *args):
        return answer

    port = _closed_port()
    controller = Controller(type("Refusing", (), {hook: refuse})(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        refusing = dataclasses.replace(get_settings(), smtp_url=f"smtp://127.0.0.1:{port}")
        monkeypatch.setattr(mailer, "get_settings", lambda: refusing)
        await tell(world.a, user_ids=[world.a.finance.user_id])
        (job,) = await send_jobs_of(world.a)
        await _deliver(world.a, job)  # no exception: no retry would help
    finally:
        controller.stop()
    (mail,) = await mails_of(world.a)
    assert (mail.status, mail.attempts) == ("failed", 1) and answer.split(" ", 2)[2] in mail.last_error


async def test_a_temporary_refusal_is_tried_again(world, mail_dir, monkeypatch):
    from aiosmtpd.controller import Controller

    class Busy:
        async def handle_DATA(self, server, session, envelope):
            return "451 4.3.0 Try again later"

    port = _closed_port()
    controller = Controller(Busy(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        busy = dataclasses.replace(get_settings(), smtp_url=f"smtp://127.0.0.1:{port}")
        monkeypatch.setattr(mailer, "get_settings", lambda: busy)
        await tell(world.a, user_ids=[world.a.finance.user_id])
        (job,) = await send_jobs_of(world.a)
        with pytest.raises(smtplib.SMTPDataError):
            await _deliver(world.a, job)  # raised: Dramatiq tries again after its backoff
    finally:
        controller.stop()
    (mail,) = await mails_of(world.a)
    assert (mail.status, mail.attempts) == ("queued", 1)
