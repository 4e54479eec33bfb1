"""Telling people: the one call the rest of Accord makes to notify team members and buyers' contacts.

`notify` works in the caller's transaction: each recipient gets a notice in the console or the
portal, and, unless their choice for the notice's group is the daily digest or no e-mail, an
e-mail queued as a row plus an outbox job, so the e-mail exists exactly when the change does.
The e-mail is rendered when it is sent, in the recipient's language then.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from backend.db.base import new_id, utcnow
from backend.jobs import service as jobs
from backend.notifications import kinds
from backend.notifications.models import Delivery, MailStatus, Notice, OutgoingMail, RecipientKind
from backend.notifications.repository import NotificationRepository

SEND_ACTOR = "notifications.send"


async def notify(
    session: AsyncSession,
    *,
    kind: str,
    case_id: uuid.UUID | None,
    user_ids: Iterable[uuid.UUID] = (),
    contact_ids: Iterable[uuid.UUID] = (),
    params: Mapping[str, object],
) -> None:
    """Notify team members (`user_ids`, active members only) and buyers' contacts (`contact_ids`) of `kind`.

    An unknown kind or a missing parameter raises: that is a programming error, not bad input.
    """
    checked = kinds.check(kind, params)
    group = kinds.kind_of(kind).group
    repository = NotificationRepository(session)
    members = sorted({member[0] for member in await repository.members(user_ids)})
    contacts = sorted({contact.id for contact in await repository.contacts(contact_ids)})
    now = utcnow()
    for recipient_kind, recipient_ids in ((RecipientKind.USER, members), (RecipientKind.CONTACT, contacts)):
        chosen = await repository.deliveries(recipient_kind.value, recipient_ids, group)
        for recipient_id in recipient_ids:
            notice = Notice(
                id=new_id(),
                recipient_kind=recipient_kind.value,
                recipient_id=recipient_id,
                kind=kind,
                case_id=case_id,
                params=checked,
                created_at=now,
            )
            session.add(notice)
            if chosen.get(recipient_id, Delivery.IMMEDIATE.value) == Delivery.IMMEDIATE.value:
                queue_mail(
                    session,
                    OutgoingMail(
                        id=new_id(),
                        kind=kind,
                        recipient_kind=recipient_kind.value,
                        recipient_id=recipient_id,
                        notice_id=notice.id,
                        case_id=case_id,
                        params=checked,
                        created_at=now,
                    ),
                )


def queue_mail(session: AsyncSession, mail: OutgoingMail) -> OutgoingMail:
    """Keep the mail and record its sending job, both in this transaction."""
    mail.status = MailStatus.QUEUED.value
    mail.attempts = 0
    session.add(mail)
    jobs.enqueue(session, SEND_ACTOR, {"mail_id": str(mail.id)})
    return mail
