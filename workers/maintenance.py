from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import portal
from backend.auth import service as auth
from backend.db.base import utcnow
from backend.jobs import service as jobs
from backend.payments import events as stripe_events
from workers.shell import periodic_actor


@periodic_actor("maintenance.forget_expired")
async def forget_expired(session: AsyncSession) -> None:
    now = utcnow()
    await jobs.forget_old(session, now)
    await auth.end_expired_sessions(session, now)
    await auth.forget_old_throttles(session, now)
    await portal.forget_old_links(session, now)
    await stripe_events.forget_old(session, now)
