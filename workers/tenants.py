from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import get_settings
from backend.notifications import mailer
from backend.notifications.service import invitation_message
from backend.tenants import service
from workers.shell import tenant_actor


@tenant_actor("tenants.send_invitation", max_retries=8)
async def send_invitation(session: AsyncSession, membership_id: str) -> None:
    mail = await service.issue_invitation(session, uuid.UUID(membership_id), get_settings().base_url)
    if mail is None:
        return  # accepted or withdrawn meanwhile
    # Sent before the commit: if the commit then fails, the retry sends a fresh link and only it works.
    mailer.send(invitation_message(mail))
