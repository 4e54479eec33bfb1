"""The Dramatiq broker: Redis when REDIS_URL is set, otherwise an in-process stub broker.

Imported before any actor is declared, because Dramatiq binds actors to the broker set at that moment.
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware

from backend.config import get_settings

log = logging.getLogger("accord.jobs")


class DeadLetterAlert(Middleware):
    """A message that used up its retries lands in the dead-letter queue; say so loudly."""

    def after_nack(self, broker, message) -> None:
        log.error("job %s (%s) failed for good and went to the dead-letter queue", message.message_id, message.actor_name)


def _make_broker() -> dramatiq.Broker:
    settings = get_settings()
    broker: dramatiq.Broker = RedisBroker(url=settings.redis_url) if settings.redis_url else StubBroker()
    broker.add_middleware(AsyncIO())
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
