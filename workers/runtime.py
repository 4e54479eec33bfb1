"""Running jobs: a Dramatiq worker on threads plus the relay (and, embedded, the scheduler) on an event loop.

`accord worker` runs it against Redis; the embedded default runs it inside the web process against
the stub broker, so the actors are the same code in both modes.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from dramatiq import Worker

from backend.db.engine import get_database
from workers import actors, relay, scheduler

log = logging.getLogger("accord.jobs")


class JobRuntime:
    def __init__(self, *, threads: int = 2, with_scheduler: bool = False, relay_interval: float = 0.5) -> None:
        self.threads = threads
        self.with_scheduler = with_scheduler
        self.relay_interval = relay_interval
        self.worker: Worker | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self.worker = Worker(actors.broker, worker_threads=self.threads)
        self.worker.start()
        self._thread = threading.Thread(target=self._run_loop, name="accord-relay", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=5)

    def _run_loop(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        self._ready.set()
        tasks = [relay.relay_forever(self._stop, self.relay_interval)]
        if self.with_scheduler:
            tasks.append(scheduler.run_forever(self._stop))
        try:
            self._loop.run_until_complete(asyncio.gather(*tasks))
            self._loop.run_until_complete(get_database().dispose_current())
        finally:
            self._loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(timeout=timeout)
        if self.worker:
            self.worker.stop(timeout=int(timeout * 1000))
