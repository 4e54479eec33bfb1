"""Escalation jobs: the sweep that finds the cases whose timers have come (across tenants, one
statement), and the per-case job that takes their steps (reminders, phases, escalation levels,
breaches, a proposed legal escalation or claim, missed instalments), each once."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import job_principal
from backend.db.base import utcnow
from backend.db.tenancy import current_tenant
from backend.disputes import timers
from workers.shell import periodic_actor, tenant_actor


@periodic_actor(timers.SWEEP_ACTOR, max_retries=3, time_limit_ms=300_000)
async def sweep_timers(session: AsyncSession) -> None:
    await timers.sweep(session, utcnow())


@tenant_actor(timers.RUN_ACTOR, max_retries=5, time_limit_ms=60_000)
async def run_timers(session: AsyncSession, case_id: str) -> None:
    principal = job_principal(current_tenant(session), timers.RUN_ACTOR)
    await timers.run_case(session, principal, uuid.UUID(case_id), utcnow())
