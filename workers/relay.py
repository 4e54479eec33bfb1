"""The outbox relay: publishes committed jobs and scheduler ticks to the broker."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

from dramatiq import Message
from dramatiq.errors import ActorNotFound

from backend.db.uow import all_tenants_unit_of_work
from backend.jobs import service as jobs
from backend.jobs.models import OutboxJob, SchedulerTick
from workers.broker import broker
from workers.shell import RUN_ONCE_ACTORS

log = logging.getLogger("accord.jobs")


def _send(actor_name: str, message_id: str, kwargs: dict) -> bool:
    try:
        actor = broker.get_actor(actor_name)
    except ActorNotFound:
        log.error("outbox names an unknown actor %r; retrying later", actor_name)
        return False
    broker.enqueue(
        Message(queue_name=actor.queue_name, actor_name=actor_name, args=(), kwargs=kwargs, options={}, message_id=message_id)
    )
    return True


def publish_job(job: OutboxJob) -> bool:
    return _send(job.actor, str(job.id), {"tenant_id": str(job.tenant_id), "job_id": str(job.id), **job.payload})


def publish_tick(tick: SchedulerTick) -> bool:
    return _send(tick.job_name, f"{tick.job_name}@{tick.slot}", {"slot": tick.slot})


LOST_JOBS_EVERY = 60.0  # seconds between looks for jobs the broker lost (a scan of the published rows)
_last_look = [float("-inf")]


async def relay_once(limit: int = 200, *, now: datetime | None = None) -> int:
    """One round; at most once a minute (or at an injected `now`) it also republishes the jobs the broker lost."""
    look = now is not None or time.monotonic() - _last_look[0] >= LOST_JOBS_EVERY
    if look:
        _last_look[0] = time.monotonic()
    async with all_tenants_unit_of_work("outbox relay") as session:
        return await jobs.publish_pending(
            session, publish_job, publish_tick, limit=limit, now=now, republishable=RUN_ONCE_ACTORS if look else ()
        )


async def relay_forever(stop: asyncio.Event, interval: float = 0.5) -> None:
    while not stop.is_set():
        try:
            if await relay_once() == 0:
                await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
        except Exception:
            log.exception("outbox relay round failed")
            await asyncio.sleep(interval)
