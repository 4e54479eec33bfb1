"""Payment jobs: apply a verified Stripe webhook event, once; record the job again for one left unhandled."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.db.base import utcnow
from backend.payments import events
from workers.shell import periodic_actor, tenant_actor


@tenant_actor("payments.handle_event", max_retries=8, time_limit_ms=60_000)
async def handle_event(session: AsyncSession, event_id: str) -> None:
    await events.handle(session, event_id)


@periodic_actor("payments.redrive_events")
async def redrive_events(session: AsyncSession) -> None:
    await events.redrive_unhandled(session, utcnow())
