"""Two real `accord scheduler` processes against one PostgreSQL database at once: each periodic job is
fired once per interval — every interval fired, none twice — whichever process got there first."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import delete, select

from backend.db.base import utcnow
from backend.db.uow import global_unit_of_work
from backend.jobs.models import SchedulerTick
from tests.conftest import VAR_DIR
from workers.scheduler import SCHEDULE

EVERY = 1.0  # seconds per interval, for every job
INTERVALS = 3  # full intervals to watch


async def _ticks(since) -> list[SchedulerTick]:
    async with global_unit_of_work() as session:
        return list((await session.scalars(select(SchedulerTick).where(SchedulerTick.fired_at >= since))).all())


@pytest.mark.postgresql
async def test_two_scheduler_processes_fire_each_periodic_job_once_per_interval():
    started = utcnow()
    logs = [VAR_DIR / f"scheduler-{n}.log" for n in (1, 2)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "scheduler", "--tick", "0.1", "--every", str(EVERY)],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        for log in logs
    ]
    try:
        # Wait (polling) until every job has ticks in INTERVALS + 1 distinct slots after both started.
        for _attempt in range(200):
            slots = Counter(tick.job_name for tick in await _ticks(started))
            if len(slots) == len(SCHEDULE) and min(slots.values()) >= INTERVALS + 1:
                break
            await asyncio.sleep(0.1)
        running_together = [process.poll() is None for process in processes]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
    ticks = await _ticks(started)
    try:
        fired_lines = [line for log in logs for line in log.read_text().splitlines() if " fired " in line]
        # What the two processes say they fired, job by job: exactly the rows there are.
        said = Counter(job for line in fired_lines for job in re.split(r",\s*", line.split(" fired ", 1)[1].strip()))
        for periodic in SCHEDULE:
            mine = sorted(tick.slot for tick in ticks if tick.job_name == periodic.actor)
            assert len(mine) >= INTERVALS + 1, (periodic.actor, mine)
            assert mine == list(range(mine[0], mine[0] + len(mine))), f"an interval was skipped: {mine}"
            assert said[periodic.actor] == len(mine), (periodic.actor, said, mine)
        assert running_together == [True, True], [log.read_text()[-2000:] for log in logs]
    finally:
        # Ticks the relay of a later test must not publish: these jobs' work is not this test's.
        async with global_unit_of_work() as session:
            await session.execute(delete(SchedulerTick).where(SchedulerTick.fired_at >= started))
