"""Notification jobs: send one queued e-mail once, the daily digest, and the sweep for mail a broker lost.

`notifications.send` is declared here rather than through `tenant_actor` because it needs two
transactions: the try is counted and committed first, then the mail row is locked, sent and
marked sent in one transaction with the job's claim (see backend/notifications/sending.py for
what a crash at each point does).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import uuid

import dramatiq
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import get_settings
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.jobs import service as jobs
from backend.notifications import digests, mailer, sending
from backend.notifications.notify import SEND_ACTOR
from workers import broker as _broker  # noqa: F401 - the broker must exist before actors are declared
from workers.shell import periodic_actor, tenant_actor

log = logging.getLogger("accord.jobs")

MAX_RETRIES = 8  # with Dramatiq's exponential backoff from 10 s, about 40 minutes of tries in all


async def send_mail(tenant_id: str, job_id: str, mail_id: str) -> None:
    tenant = TenantId(uuid.UUID(tenant_id))  # from the message; every query below is scoped to it
    mail_key = uuid.UUID(mail_id)
    async with tenant_unit_of_work(tenant) as session:
        if await sending.count_attempt(session, mail_key) is None:
            return  # sent already, failed for good, or not this tenant's
    try:
        async with tenant_unit_of_work(tenant) as session:
            mail = await sending.lock_queued(session, mail_key)
            if mail is None:
                return  # sent by another job meanwhile
            message = await sending.compose_for_sending(session, mail, get_settings().base_url)
            if message is None:
                sending.mark_undeliverable(mail, sending.NO_RECIPIENT)
            else:
                # Handed to the SMTP server while the row is locked; nothing is written before it answers,
                # so SQLite's single writer is not held for the length of an SMTP conversation.
                await asyncio.to_thread(mailer.send, message)
                sending.mark_sent(mail)
            # The job's claim commits with the mark: together, or (a crash) neither.
            await jobs.start_once(session, uuid.UUID(job_id), SEND_ACTOR)
    except sending.MailBusy:
        raise  # another worker is sending it; Dramatiq tries again later, and that try finds it sent
    except Exception as error:
        async with tenant_unit_of_work(tenant) as session:
            gave_up = await sending.note_failure(
                session,
                mail_key,
                f"{type(error).__name__}: {error}",
                attempts_allowed=MAX_RETRIES + 1,
                # The server refused the address, the sender or the message for good (5xx): another try
                # gets the same answer. A 4xx (try later) and a lost connection are tried again.
                final=_refused_for_good(error),
            )
        if gave_up:
            log.error("mail %s failed on its last try and is marked failed: %s", mail_id, error)
            return
        log.warning("mail %s failed (%s); it will be tried again", mail_id, error)
        raise


def _refused_for_good(error: Exception) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return True
    return isinstance(error, smtplib.SMTPResponseException) and 500 <= error.smtp_code < 600


send = dramatiq.actor(
    send_mail,
    actor_name=SEND_ACTOR,
    queue_name="default",
    max_retries=MAX_RETRIES,
    min_backoff=10_000,
    max_backoff=15 * 60_000,
    time_limit=120_000,
)
# Tests await the function itself; Dramatiq's own wrapper needs its worker's event-loop thread.
send.run_async = send_mail


@periodic_actor("notifications.sweep", max_retries=3, time_limit_ms=300_000)
async def sweep(session: AsyncSession) -> None:
    """Every quarter hour: a fresh job for mail a broker lost, sent mail a month old forgotten, and (once a day) the digests' plan."""
    await sending.requeue_stalled(session)
    await sending.forget_sent(session)
    await digests.fire_daily_plan(session)


@periodic_actor(digests.PLAN_ACTOR, max_retries=3, time_limit_ms=300_000)
async def plan_digests(session: AsyncSession) -> None:
    await digests.plan(session)


@tenant_actor(digests.TENANT_ACTOR, max_retries=5, time_limit_ms=300_000)
async def send_digests(session: AsyncSession, day: str) -> None:
    await digests.queue_digests(session, day)
