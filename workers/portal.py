"""Buyer portal jobs: e-mail a sign-in link (an invitation, or one asked for on the sign-in page)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import portal
from backend.config import get_settings
from backend.notifications import mailer
from backend.notifications.service import portal_link_message
from workers.shell import tenant_actor


@tenant_actor("portal.send_link", max_retries=8, time_limit_ms=60_000)
async def send_link(session: AsyncSession, link_id: str, invitation: bool = False) -> None:
    mail = await portal.issue_link(session, uuid.UUID(link_id), get_settings().base_url, invitation=invitation)
    if mail is None:
        return  # used, revoked or already sent meanwhile
    # Sent before the commit: if the commit then fails, the retry finds the link unsent and sends a fresh one.
    mailer.send(portal_link_message(mail))
