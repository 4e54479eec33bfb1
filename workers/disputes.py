"""Dispute jobs: close a case the ledger has settled, tell participants of new messages, proposals and tasks,
and the team of what the buyer did in the portal.

Each re-checks that its work still applies (a case already closed, a task answered meanwhile), so a
message delivered again does nothing new; `tenant_actor` runs each job at most once besides.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal, job_principal
from backend.config import get_settings
from backend.db.tenancy import current_tenant
from backend.disputes import notices, service
from backend.notifications.sending import queue_composed, unsubscribe_link
from backend.notifications.service import (
    dispute_event_to_team,
    dispute_message_to_buyer,
    dispute_message_to_team,
    dispute_proposal_to_buyer,
    dispute_task_message,
)
from workers.shell import tenant_actor

MESSAGE_MAIL = "disputes.message"


def _job(session: AsyncSession, name: str) -> Principal:
    return job_principal(current_tenant(session), name)


def _unsubscribe(session: AsyncSession, contact_id: uuid.UUID | None, kind: str) -> str | None:
    return unsubscribe_link(get_settings().base_url, current_tenant(session), contact_id, kind) if contact_id else None


@tenant_actor("disputes.check_settled", max_retries=5, time_limit_ms=60_000)
async def check_settled(session: AsyncSession, case_id: str) -> None:
    await service.check_settled(session, _job(session, "disputes.check_settled"), uuid.UUID(case_id))


@tenant_actor("disputes.notify_message", max_retries=8, time_limit_ms=60_000)
async def notify_message(session: AsyncSession, message_id: str) -> None:
    team, buyer_side = await notices.message_notices(session, uuid.UUID(message_id), get_settings().base_url)
    # Queued with this job's claim, and each sent once by its own mail job.
    for notice in team:
        queue_composed(session, dispute_message_to_team(notice), kind=MESSAGE_MAIL)
    for notice in buyer_side:
        stop = _unsubscribe(session, notice.contact_id, "messages")
        queue_composed(session, dispute_message_to_buyer(notice, stop), kind=MESSAGE_MAIL)


@tenant_actor("disputes.notify_proposal", max_retries=8, time_limit_ms=60_000)
async def notify_proposal(session: AsyncSession, proposal_id: str) -> None:
    # A proposal withdrawn or answered before the job ran is told to no one.
    for notice in await notices.proposal_notices(session, uuid.UUID(proposal_id), get_settings().base_url):
        stop = _unsubscribe(session, notice.contact_id, "proposals")
        queue_composed(session, dispute_proposal_to_buyer(notice, stop), kind="disputes.proposal")


@tenant_actor("disputes.notify_task", max_retries=8, time_limit_ms=60_000)
async def notify_task(session: AsyncSession, task_id: str) -> None:
    notice = await notices.task_notice(session, uuid.UUID(task_id), get_settings().base_url)
    if notice is not None:
        queue_composed(session, dispute_task_message(notice), kind="disputes.task")


@tenant_actor("disputes.notify_team", max_retries=8, time_limit_ms=60_000)
async def notify_team(
    session: AsyncSession, case_id: str, event: str, contact: str, proposal_id: str | None = None, files: list[str] | None = None
) -> None:
    for notice in await notices.team_event_notices(
        session,
        uuid.UUID(case_id),
        event,
        get_settings().base_url,
        contact=contact,
        proposal_id=uuid.UUID(proposal_id) if proposal_id else None,
        files=tuple(files or ()),
    ):
        queue_composed(session, dispute_event_to_team(notice), kind=f"disputes.{event}")
