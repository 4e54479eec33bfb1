"""The daily digest: one e-mail a day listing the notices of the groups a person chose to get that way.

Planned once per UTC day, at the first notifications sweep after midnight UTC (08:00 in China, the
default tenant's zone): the sweep fires a once-per-day tick through the scheduler's own table, the
tick's job fans out one job per tenant with digest readers, and each tenant's job writes one
digest record per person and day (its key forbids a second) with the mail that carries it.
A digest lists the notices since the previous digest's end (at most the last 7 days).
A digest covers the notices up to SETTLE before it is made: a notice is stamped when its transaction
makes it and is seen when it commits, at most the longest job's time limit later; covering up to the
moment itself would leave a notice stamped before it and committed after it out of every digest.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from backend.db.base import new_id, utcnow
from backend.db.tenancy import current_tenant
from backend.jobs import service as jobs
from backend.jobs.models import OutboxJob
from backend.notifications import kinds
from backend.notifications.models import OutgoingMail
from backend.notifications.notify import queue_mail
from backend.notifications.repository import AllTenantsNotificationRepository, NotificationRepository
from backend.notifications.sending import DIGEST

PLAN_ACTOR = "notifications.plan_digests"
TENANT_ACTOR = "notifications.send_digests"
LOOK_BACK = timedelta(days=7)
SETTLE = timedelta(minutes=65)  # the longest job's time limit (an invoice import: 60 minutes), and a margin


def day_slot(now: datetime) -> int:
    return now.date().toordinal()


async def fire_daily_plan(session: AsyncSession, now: datetime | None = None) -> bool:
    """Fire today's digest plan unless some sweep did already; True when this call fired it."""
    now = now or utcnow()
    return await jobs.fire_tick(session, PLAN_ACTOR, day_slot(now), now)


async def plan(session: AsyncSession, now: datetime | None = None) -> int:
    """Across tenants: one digest job for each tenant where someone chose the digest."""
    now = now or utcnow()
    tenants = await AllTenantsNotificationRepository(session).tenants_with_digest_readers()
    for tenant_id in tenants:
        session.add(OutboxJob(tenant_id=tenant_id, actor=TENANT_ACTOR, payload={"day": now.date().isoformat()}))
    return len(tenants)


async def queue_digests(session: AsyncSession, day: str, now: datetime | None = None) -> int:
    """This tenant's digests of `day`: one mail per person with something to read; the number queued."""
    now = now or utcnow()
    the_day = date.fromisoformat(day)
    repository = NotificationRepository(session)
    queued = 0
    for recipient_kind, recipient_id, groups in await repository.digest_readers():
        digest_kinds = [name for name, kind in kinds.KINDS.items() if kind.group in groups]
        last = await repository.last_digest(recipient_kind, recipient_id)
        if last is not None and last.day >= the_day:
            continue
        covered_until = now - SETTLE
        after = max(last.covered_until, now - LOOK_BACK) if last else now - LOOK_BACK
        notices = await repository.notices_since(recipient_kind, recipient_id, digest_kinds, after, covered_until)
        if not notices:
            continue
        claimed = await repository.claim_digest_day(
            current_tenant(session), recipient_kind, recipient_id, the_day, covered_until, now
        )
        if not claimed:
            continue
        record = await repository.digest(recipient_kind, recipient_id, the_day)
        mail = queue_mail(
            session,
            OutgoingMail(
                id=new_id(),
                kind=DIGEST,
                recipient_kind=recipient_kind,
                recipient_id=recipient_id,
                params={"day": day, "notice_ids": [str(n.id) for n in notices]},
                created_at=now,
            ),
        )
        record.notice_count, record.mail_id = len(notices), mail.id
        queued += 1
    return queued
