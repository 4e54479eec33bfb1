"""The Dramatiq broker: Redis when REDIS_URL is set, otherwise an in-process stub broker.

Imported before any actor is declared, because Dramatiq binds actors to the broker set at that moment.
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware

from backend.config import get_settings
from backend.db.engine import get_database

log = logging.getLogger("accord.jobs")


class DeadLetterAlert(Middleware):
    """A message that used up its retries lands in the dead-letter queue; say so loudly."""

    def after_nack(self, broker, message) -> None:
        log.error("job %s (%s) failed for good and went to the dead-letter queue", message.message_id, message.actor_name)


class AsyncIOWithDatabase(AsyncIO):
    """Dramatiq's event-loop thread for async actors, which closes its database connections on shutdown.

    Engines are per event loop (`backend.db.engine`); a worker's loop that stopped without closing its
    pool would leave its connections open on the server until the process ends.
    """

    def after_worker_shutdown(self, broker, worker):
        thread = get_event_loop_thread()
        if thread is not None:
            try:
                thread.run_coroutine(get_database().dispose_current())
            except Exception:
                log.warning("could not close the job loop's database connections", exc_info=True)
        super().after_worker_shutdown(broker, worker)


def _make_broker() -> dramatiq.Broker:
    settings = get_settings()
    broker: dramatiq.Broker = RedisBroker(url=settings.redis_url) if settings.redis_url else StubBroker()
    broker.add_middleware(AsyncIOWithDatabase())
    broker.add_middleware(DeadLetterAlert())
    return broker


broker = _make_broker()
dramatiq.set_broker(broker)


async def ping() -> bool:
    if isinstance(broker, RedisBroker):
        try:
            return bool(broker.client.ping())
        except Exception:
            return False
    return True
