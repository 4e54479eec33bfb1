"""The scheduler: fires each periodic job once per interval, however many schedulers run.

Each interval is a slot number; the scheduler that inserts the (job, slot) row fires it, and the
others find the row there. The relay then publishes the tick like any outbox job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.db.base import utcnow
from backend.db.uow import global_unit_of_work
from backend.jobs import service as jobs

log = logging.getLogger("accord.scheduler")


@dataclass(frozen=True)
class Periodic:
    actor: str
    every: timedelta

    def slot(self, now: datetime) -> int:
        return int(now.timestamp() // self.every.total_seconds())


SCHEDULE = (
    Periodic("maintenance.forget_expired", timedelta(minutes=15)),
    # Service-level timers fall due at the end of a local business day, or a reminder's hour: five minutes late at most.
    Periodic("disputes.sweep_timers", timedelta(minutes=5)),
    Periodic("notifications.sweep", timedelta(minutes=15)),  # mail a broker lost; the daily digest
    Periodic("payments.redrive_events", timedelta(minutes=15)),  # Stripe events whose job failed for good
)


async def tick(now: datetime | None = None, schedule: tuple[Periodic, ...] = SCHEDULE) -> list[str]:
    now = now or utcnow()
    fired = []
    for periodic in schedule:
        async with global_unit_of_work() as session:
            if await jobs.fire_tick(session, periodic.actor, periodic.slot(now), now):
                fired.append(periodic.actor)
    if fired:
        log.info("fired %s", ", ".join(fired))
    return fired


def every(seconds: float, schedule: tuple[Periodic, ...] = SCHEDULE) -> tuple[Periodic, ...]:
    """The schedule with every job fired each `seconds` (a test, or a demo that wants to see it move)."""
    return tuple(Periodic(periodic.actor, timedelta(seconds=seconds)) for periodic in schedule)


async def run_forever(stop: asyncio.Event, interval: float = 5.0, schedule: tuple[Periodic, ...] = SCHEDULE) -> None:
    while not stop.is_set():
        try:
            await tick(schedule=schedule)
        except Exception:
            log.exception("scheduler round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
