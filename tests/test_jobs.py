"""Jobs: recorded with the change through the outbox, published after commit, run once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from dramatiq import Message, Worker
from sqlalchemy import func, select

from backend.audit.models import AuditEvent
from backend.db.tenancy import TenantId
from backend.db.uow import global_unit_of_work, tenant_unit_of_work
from backend.jobs import service as jobs
from backend.jobs.models import OutboxJob, SchedulerTick
from backend.jobs.repository import JobExecutionRepository
from tests.conftest import REDIS_URL, VAR_DIR, bearer
from tests.test_team import run_jobs
from workers import relay, scheduler
from workers.actors import broker
from workers.shell import periodic_actor


async def _invitations_sent(tenant_id) -> int:
    async with tenant_unit_of_work(TenantId(tenant_id)) as session:
        statement = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "member.invitation_sent")
        return (await session.execute(statement)).scalar_one()


def _mails_to(mail_dir, address: str) -> int:
    return sum(1 for path in mail_dir.glob("*.eml") if f"To: {address}" in path.read_text(errors="replace"))


async def test_a_job_recorded_in_a_rolled_back_transaction_never_runs(world, mail_dir):
    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
            jobs.enqueue(session, "tenants.send_invitation", {"membership_id": str(world.a.collaborator.membership_id)})
            raise Abandoned
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        assert (await session.execute(select(func.count()).select_from(OutboxJob))).scalar_one() == 0
    await run_jobs()
    assert await _invitations_sent(world.a.tenant_id) == 0


async def test_a_job_delivered_twice_acts_once(client, world, mail_dir):
    await client.post("/api/v1/members", json={"email": "twice@example.com", "role": "viewer"}, headers=bearer(world.a.api_key))
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        job = (await session.scalars(select(OutboxJob))).one()
    await run_jobs()
    # The broker hands over the same message again, as Redis does after a worker dies before acking.
    broker.enqueue(
        Message(
            queue_name="default",
            actor_name=job.actor,
            args=(),
            kwargs={"tenant_id": str(job.tenant_id), "job_id": str(job.id), **job.payload},
            options={},
            message_id=str(job.id),
        )
    )
    worker = Worker(broker, worker_threads=1)
    worker.start()
    broker.join("default", timeout=10_000)
    worker.stop()
    assert await _invitations_sent(world.a.tenant_id) == 1
    assert _mails_to(mail_dir, "twice@example.com") == 1


async def test_an_actor_refuses_an_object_of_another_tenant(world, mail_dir):
    # A message naming tenant A but B's membership finds nothing: the query is scoped to A.
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        jobs.enqueue(session, "tenants.send_invitation", {"membership_id": str(world.b.collaborator.membership_id)})
    await run_jobs()
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        job = (await session.scalars(select(OutboxJob))).one()
        assert await JobExecutionRepository(session).get(job.id) is not None  # it ran, and found nothing
    assert await _invitations_sent(world.a.tenant_id) == 0 and await _invitations_sent(world.b.tenant_id) == 0
    assert _mails_to(mail_dir, world.b.collaborator.email) == 0


async def test_the_relay_publishes_each_job_once(world):
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        jobs.enqueue(session, "tenants.send_invitation", {"membership_id": str(uuid.uuid4())})
    assert await relay.relay_once() >= 1
    assert await relay.relay_once() == 0
    broker.flush_all()


async def test_two_schedulers_fire_a_periodic_job_once_per_interval():
    import asyncio

    from backend.db.base import utcnow

    now = utcnow()
    periodic = scheduler.Periodic(f"maintenance.test_{uuid.uuid4().hex[:8]}", scheduler.SCHEDULE[0].every)
    fired = await asyncio.gather(*(scheduler.tick(now, (periodic,)) for _ in range(4)))
    assert sum(len(f) for f in fired) == 1
    async with global_unit_of_work() as session:
        ticks = (await session.scalars(select(SchedulerTick).where(SchedulerTick.job_name == periodic.actor))).all()
    assert len(ticks) == 1
    async with global_unit_of_work() as session:
        await session.delete(ticks[0])


runs_of_counting_job: list[int] = []


@periodic_actor("tests.count_runs")
async def count_runs(session) -> None:
    runs_of_counting_job.append(1)


async def test_a_periodic_job_runs_once_per_tick_however_often_it_is_delivered():
    from backend.db.base import utcnow

    periodic = scheduler.Periodic("tests.count_runs", scheduler.SCHEDULE[0].every)
    assert await scheduler.tick(utcnow(), (periodic,)) == ["tests.count_runs"]
    async with global_unit_of_work() as session:
        tick = (await session.scalars(select(SchedulerTick).where(SchedulerTick.job_name == "tests.count_runs"))).one()
    for _delivery in range(3):
        await count_runs.run_async(slot=tick.slot)
    assert runs_of_counting_job == [1]


@pytest.mark.postgresql
async def test_a_worker_process_on_redis_runs_the_job_recorded_by_a_request(client, world, mail_dir):
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {**os.environ, "REDIS_URL": REDIS_URL}
    log = open(VAR_DIR / "worker.log", "w")  # noqa: SIM115 - the worker process writes to it until the end
    worker = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "worker", "--threads", "2"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        response = await client.post(
            "/api/v1/members", json={"email": "via.redis@example.com", "role": "viewer"}, headers=bearer(world.a.api_key)
        )
        assert response.status_code == 201
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _mails_to(mail_dir, "via.redis@example.com") == 0:
            time.sleep(0.2)
        assert _mails_to(mail_dir, "via.redis@example.com") == 1, (VAR_DIR / "worker.log").read_text()[-3000:]
        # The mail goes out inside the job's transaction, a moment before it commits its audit entry.
        while time.monotonic() < deadline and await _invitations_sent(world.a.tenant_id) == 0:
            await asyncio.sleep(0.1)
        assert await _invitations_sent(world.a.tenant_id) == 1
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        log.close()


class _ToRedis:
    """The relay's broker for a test whose own broker is the stub: actors from it, messages into Redis."""

    def __init__(self) -> None:
        from dramatiq.brokers.redis import RedisBroker

        self.redis = RedisBroker(url=REDIS_URL)
        self.get_actor = broker.get_actor

    def enqueue(self, message, *, delay=None):
        return self.redis.enqueue(message, delay=delay)


async def _invite(client, world, address: str) -> OutboxJob:
    response = await client.post("/api/v1/members", json={"email": address, "role": "viewer"}, headers=bearer(world.a.api_key))
    assert response.status_code == 201
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        return (await session.scalars(select(OutboxJob))).one()


async def _outbox_row(world, job_id) -> OutboxJob:
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        return (await session.scalars(select(OutboxJob).where(OutboxJob.id == job_id))).one()


@pytest.mark.postgresql
async def test_a_job_redis_lost_in_a_restart_is_published_again_after_the_lease_and_runs_once(
    client, world, mail_dir, monkeypatch
):
    import redis

    from backend.db.base import utcnow

    store = redis.Redis.from_url(REDIS_URL)
    store.flushdb()
    to_redis = _ToRedis()
    monkeypatch.setattr(relay, "broker", to_redis)
    address = "lost.in.redis@example.com"
    job = await _invite(client, world, address)
    assert await relay.relay_once() >= 1
    assert [m for m in store.hvals("dramatiq:default.msgs") if str(job.id).encode() in m]
    store.flushdb()  # Redis restarted without persistence: the message is gone, the row says published

    await relay.relay_once(now=utcnow() + timedelta(minutes=1))
    assert (await _outbox_row(world, job.id)).publish_attempts == 1  # within the lease: still on its way
    await relay.relay_once(now=utcnow() + jobs.PUBLISH_LEASE + timedelta(minutes=1))
    assert (await _outbox_row(world, job.id)).publish_attempts == 2
    to_redis.redis.client.close()

    env = {**os.environ, "REDIS_URL": REDIS_URL}
    log = open(VAR_DIR / "republish-worker.log", "w")  # noqa: SIM115 - the worker process writes to it until the end
    worker = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "worker", "--threads", "2"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and await _invitations_sent(world.a.tenant_id) == 0:
            await asyncio.sleep(0.1)
        assert await _invitations_sent(world.a.tenant_id) == 1, (VAR_DIR / "republish-worker.log").read_text()[-3000:]
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        log.close()
    assert _mails_to(mail_dir, address) == 1
    # It ran: a later round leaves it alone.
    monkeypatch.setattr(relay, "broker", broker)
    await relay.relay_once(now=utcnow() + 3 * jobs.PUBLISH_LEASE)
    assert (await _outbox_row(world, job.id)).publish_attempts == 2
    broker.flush_all()


async def test_a_job_the_broker_lost_runs_once_from_its_outbox_row_and_is_given_up_after_the_limit(
    client, world, mail_dir, caplog
):
    from backend.db.base import utcnow

    address = "lost.in.stub@example.com"
    job = await _invite(client, world, address)
    assert await relay.relay_once() >= 1
    broker.flush_all()  # the broker lost the message
    later = utcnow() + jobs.PUBLISH_LEASE + timedelta(minutes=1)
    await relay.relay_once(now=later)
    assert (await _outbox_row(world, job.id)).publish_attempts == 2
    worker = Worker(broker, worker_threads=1)
    worker.start()
    try:
        broker.join("default", timeout=10_000)
        worker.join()
    finally:
        worker.stop()
    assert _mails_to(mail_dir, address) == 1 and await _invitations_sent(world.a.tenant_id) == 1
    await relay.relay_once(now=later + 2 * jobs.PUBLISH_LEASE)
    assert (await _outbox_row(world, job.id)).publish_attempts == 2  # it ran: left alone

    # A job that never runs (its message lost every time) is handed over a bounded number of times.
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        never = jobs.enqueue(session, "tenants.send_invitation", {"membership_id": str(uuid.uuid4())})
    assert await relay.relay_once() >= 1
    attempts, moment = [], utcnow()
    for _round in range(jobs.MAX_PUBLISH_ATTEMPTS + 2):
        broker.flush_all()
        moment += jobs.PUBLISH_LEASE + timedelta(minutes=1)
        await relay.relay_once(now=moment)
        attempts.append((await _outbox_row(world, never.id)).publish_attempts)
    broker.flush_all()
    given_up = jobs.MAX_PUBLISH_ATTEMPTS + 1
    assert attempts == [*range(2, given_up), given_up, given_up, given_up]
    assert any("given up" in record.getMessage() and record.levelname == "ERROR" for record in caplog.records)
