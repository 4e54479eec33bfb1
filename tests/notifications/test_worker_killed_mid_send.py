"""A real worker process on the real Redis, killed with SIGKILL while it is handing an e-mail to the SMTP
server; another worker takes the job over and the e-mail reaches the server once.

The SMTP server (aiosmtpd, in this process) holds the first conversation at RCPT, before the mail
transaction can complete: the worker is then provably mid-job (the try is counted, the mail row locked
in its open transaction), and the server has accepted nothing yet.

The second test loses the job in Redis as well (FLUSHDB, as a restart without persistence does): the
mail row in the database is what brings it back, through the notifications sweep.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.jobs.models import JobExecution
from backend.notifications.sending import message_id
from tests.conftest import REDIS_URL, VAR_DIR
from tests.disputes.helpers import uow
from tests.notifications.helpers import mails_of, send_jobs_of, tell

pytestmark = pytest.mark.postgresql


class HoldingSMTP:
    """Holds the first RCPT to `hold_for` until released; records every message it accepts.

    Only that address is held: mail of other tests still waiting in the shared test database's outbox
    may reach the server first, and must not stand in for the one this test watches."""

    def __init__(self, hold_for: str) -> None:
        self.hold_for = hold_for
        self.held = threading.Event()
        self.release = threading.Event()
        self.accepted: list[tuple[list[str], bytes]] = []
        self._first = True

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self._first and address == self.hold_for:
            self._first = False
            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.accepted.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_worker(smtp_port: int, name: str) -> tuple[subprocess.Popen, object]:
    env = {**os.environ, "REDIS_URL": REDIS_URL, "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}"}
    log = open(VAR_DIR / f"{name}.log", "w")  # noqa: SIM115 - the worker writes to it until it ends
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "worker", "--threads", "2"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    return process, log


def _requeue_messages_of_dead_workers() -> None:
    """What Dramatiq's Redis broker does by itself once a worker's heartbeat is a minute old: put the
    messages it had fetched back on the queue. Done here at once, with the broker's own maintenance step."""
    from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker

    maintenance = RedisBroker(url=REDIS_URL, heartbeat_timeout=1, maintenance_chance=MAINTENANCE_SCALE)
    try:
        maintenance.do_qsize("default")
    finally:
        maintenance.client.close()


async def _wait_for(condition, what: str, timeout: float = 45.0, logs: tuple[str, ...] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    tails = "\n".join((VAR_DIR / f"{name}.log").read_text()[-3000:] for name in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


async def test_a_worker_killed_mid_send_loses_nothing_and_the_next_sends_the_mail_once(world):
    import redis
    from aiosmtpd.controller import Controller

    redis.Redis.from_url(REDIS_URL).flushdb()
    smtp = HoldingSMTP(hold_for=world.a.finance.email)
    port = _free_port()
    controller = Controller(smtp, hostname="127.0.0.1", port=port)
    controller.start()
    workers: list[tuple[subprocess.Popen, object]] = []
    try:
        await tell(world.a, user_ids=[world.a.finance.user_id])
        (job,) = await send_jobs_of(world.a)
        (mail,) = await mails_of(world.a)

        workers.append(_start_worker(port, "killed-worker"))
        await _wait_for(
            lambda: asyncio.to_thread(smtp.held.is_set), "the first worker to reach the SMTP server", logs=("killed-worker",)
        )
        first, _log = workers[0]
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        smtp.release.set()
        (mail,) = await mails_of(world.a)
        assert (mail.status, mail.attempts, mail.sent_at) == ("queued", 1, None)
        assert [recipients for recipients, _content in smtp.accepted if world.a.finance.email in recipients] == []

        _requeue_messages_of_dead_workers()
        workers.append(_start_worker(port, "second-worker"))

        async def sent() -> bool:
            return (await mails_of(world.a))[0].status == "sent"

        await _wait_for(sent, "the second worker to send the mail", logs=("second-worker",))
        (mail,) = await mails_of(world.a)
        assert mail.attempts == 2 and mail.sent_at is not None
        to_alice = [content for recipients, content in smtp.accepted if world.a.finance.email in recipients]
        assert len(to_alice) == 1
        assert f"Message-ID: {message_id(mail.id)}".encode() in to_alice[0]
        async with uow(world.a) as session:
            executions = (await session.scalars(select(JobExecution).where(JobExecution.job_id == job.id))).all()
        assert len(executions) == 1
    finally:
        for process, log in workers:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
            log.close()
        controller.stop()


async def test_a_mail_whose_job_redis_lost_with_the_worker_is_sent_once_after_the_sweep(world):
    """Redis restarted empty while the worker that held the job died: the job exists only in the database
    now, as a mail row still queued. The quarter-hour sweep records a new job for it; a new worker sends it."""
    import redis
    from aiosmtpd.controller import Controller

    from backend.db.base import utcnow
    from backend.db.uow import all_tenants_unit_of_work
    from backend.notifications import sending

    redis.Redis.from_url(REDIS_URL).flushdb()
    smtp = HoldingSMTP(hold_for=world.a.finance.email)
    port = _free_port()
    controller = Controller(smtp, hostname="127.0.0.1", port=port)
    controller.start()
    workers: list[tuple[subprocess.Popen, object]] = []
    try:
        await tell(world.a, user_ids=[world.a.finance.user_id])
        workers.append(_start_worker(port, "lost-worker"))
        await _wait_for(lambda: asyncio.to_thread(smtp.held.is_set), "the worker to reach the SMTP server", logs=("lost-worker",))
        os.kill(workers[0][0].pid, signal.SIGKILL)
        workers[0][0].wait(timeout=10)
        smtp.release.set()
        redis.Redis.from_url(REDIS_URL).flushdb()  # Redis restarted without its data

        async with all_tenants_unit_of_work("test: the notifications sweep, half an hour on") as session:
            assert await sending.requeue_stalled(session, utcnow() + sending.STALLED_AFTER + timedelta(minutes=1)) >= 1
        workers.append(_start_worker(port, "sweeping-worker"))

        async def sent() -> bool:
            return (await mails_of(world.a))[0].status == "sent"

        await _wait_for(sent, "the new worker to send the mail", logs=("sweeping-worker",))
        assert [recipients for recipients, _content in smtp.accepted if world.a.finance.email in recipients] == [
            [world.a.finance.email]
        ]
    finally:
        for process, log in workers:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
            log.close()
        controller.stop()
