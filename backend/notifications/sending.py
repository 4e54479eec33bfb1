"""Sending queued mail once: count the try, lock the row, send, mark it sent, all checked against the row.

The `notifications.send` job (workers/notifications.py) runs these steps:

1. `count_attempt`, committed on its own: the try is on record even if the process dies next.
2. In one transaction: lock the mail row (`FOR UPDATE SKIP LOCKED`; a row another sender holds
   answers "busy" and the job is retried), check it is still queued, render it, hand it to the SMTP
   server, then mark it sent and record the job's claim (`jobs.start_once`), and commit.

A worker killed before the SMTP server accepted the message leaves the row queued and unlocked:
PostgreSQL rolls the open transaction back when the connection drops, and the redelivered job
sends it. The window that remains: the server accepted the message (the reply to DATA) and the
process died before its commit. The retry then sends it again; the message keeps the same
Message-ID (made from the row's id), so a receiving system that removes duplicates by it shows one.
No design without a transactional mail server closes that window; this one keeps it to the time
between the server's reply and one commit.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy.ext.asyncio import AsyncSession

from backend.buyers.models import BuyerContact
from backend.config import get_settings
from backend.db.base import new_id, utcnow
from backend.db.tenancy import current_tenant
from backend.i18n import DEFAULT, _, gettext, ngettext, normalise
from backend.jobs.models import OutboxJob
from backend.notifications import kinds, unsubscribe
from backend.notifications.mailer import compose
from backend.notifications.models import MailStatus, OutgoingMail, RecipientKind
from backend.notifications.notify import SEND_ACTOR, queue_mail
from backend.notifications.repository import AllTenantsNotificationRepository, NotificationRepository
from backend.tenants.service import get_current_tenant

DIGEST = "digest"
MAIL_DOMAIN = "accord.local"


class MailBusy(RuntimeError):
    """Another sender holds this mail right now; try again later."""


def message_id(mail_id: uuid.UUID) -> str:
    """The same Message-ID on every try of one mail, so a duplicate is recognisable as one."""
    return f"<{mail_id}@{MAIL_DOMAIN}>"


def queue_composed(session: AsyncSession, message: EmailMessage, *, kind: str, case_id: uuid.UUID | None = None) -> OutgoingMail:
    """Queue an e-mail composed already (a thread message, a proposal), to be sent once by the mail job."""
    if message.get_body(preferencelist=("html",)) is None:
        language = str(message["Content-Language"] or "en")
        message.add_alternative(html_from_text(message.get_content(), language), subtype="html")
        # Becoming multipart moved the Content-* headers into the text part; the language is the message's.
        del message["Content-Language"]
        message["Content-Language"] = language
    return queue_mail(
        session,
        OutgoingMail(id=new_id(), kind=kind, case_id=case_id, params={}, to_address=str(message["To"]), message=bytes(message)),
    )


async def count_attempt(session: AsyncSession, mail_id: uuid.UUID) -> int | None:
    return await NotificationRepository(session).count_attempt(mail_id, utcnow())


async def lock_queued(session: AsyncSession, mail_id: uuid.UUID) -> OutgoingMail | None:
    """The mail, locked for this transaction, if it still waits to be sent; raises MailBusy if another sender holds it."""
    repository = NotificationRepository(session)
    mail = await repository.lock_mail(mail_id)
    if mail is None:
        if await repository.mail(mail_id) is not None:
            raise MailBusy(f"mail {mail_id} is being sent by another worker")
        return None
    return mail if mail.status == MailStatus.QUEUED.value else None


def mark_sent(mail: OutgoingMail) -> None:
    mail.status = MailStatus.SENT.value
    mail.sent_at = utcnow()
    mail.last_error = None


def mark_undeliverable(mail: OutgoingMail, reason: str) -> None:
    mail.status = MailStatus.FAILED.value
    mail.failed_at = utcnow()
    mail.last_error = reason


async def note_failure(
    session: AsyncSession, mail_id: uuid.UUID, error: str, *, attempts_allowed: int, final: bool = False
) -> bool:
    """Record a failed try; True when it was the last one allowed and the mail is now marked failed."""
    mail = await NotificationRepository(session).mail(mail_id)
    if mail is None or mail.status != MailStatus.QUEUED.value:
        return True
    mail.last_error = error[:2000]
    if final or mail.attempts >= attempts_allowed:
        mark_undeliverable(mail, mail.last_error)
        return True
    return False


async def failed_mails(session: AsyncSession, limit: int = 50) -> list[OutgoingMail]:
    return list(await NotificationRepository(session).failed_mails(limit))


STALLED_AFTER = timedelta(minutes=30)


async def requeue_stalled(session: AsyncSession, now: datetime | None = None, limit: int = 1000) -> int:
    """Across tenants: a fresh job for each mail still queued long after its last try.

    The outbox guarantees the first job reaches the broker; this covers a job the broker lost after
    that (a Redis restart without persistence) or one whose retries ran out while the mail stayed
    queued. The mail row decides whether anything is sent, so an extra job costs nothing.
    """
    now = now or utcnow()
    stalled = await AllTenantsNotificationRepository(session).stalled_mails(now - STALLED_AFTER, limit)
    for tenant_id, mail_id in stalled:
        session.add(OutboxJob(tenant_id=tenant_id, actor=SEND_ACTOR, payload={"mail_id": str(mail_id)}))
    return len(stalled)


KEEP_SENT = timedelta(days=30)


async def forget_sent(session: AsyncSession, now: datetime | None = None) -> int:
    """Across tenants: sent mail a month old goes (its notice stays); failed mail stays to be seen."""
    return await AllTenantsNotificationRepository(session).forget_sent_before((now or utcnow()) - KEEP_SENT)


# --- rendering, when the mail is sent ------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    email: str
    name: str
    language: str
    contact: BuyerContact | None = None


async def _reader(session: AsyncSession, mail: OutgoingMail) -> Reader | None:
    repository = NotificationRepository(session)
    if mail.recipient_kind == RecipientKind.USER.value:
        members = await repository.members([mail.recipient_id])
        if not members:
            return None
        _id, address, name, language = members[0]
        tenant_language = normalise((await get_current_tenant(session)).default_language) or DEFAULT
        return Reader(address, name, normalise(language) or tenant_language)
    contacts = await repository.contacts([mail.recipient_id])
    if not contacts:
        return None
    contact = contacts[0]
    return Reader(contact.email, contact.name, normalise(contact.language) or DEFAULT, contact)


def _case_link(base_url: str, mail: OutgoingMail, reader: Reader) -> str | None:
    if mail.case_id is None:
        return None
    if reader.contact is None:
        return f"{base_url}/console/disputes/{mail.case_id}"
    return f"{base_url}/portal/disputes/{mail.case_id}" if reader.contact.portal_open else None


def unsubscribe_link(base_url: str, tenant_id: uuid.UUID, contact_id: uuid.UUID, group: str) -> str:
    return f"{base_url}/unsubscribe/{unsubscribe.token_for(get_settings().secret_key, tenant_id, contact_id, group)}"


def _footer(session: AsyncSession, base_url: str, reader: Reader, group: str) -> tuple[str, str]:
    if reader.contact is None:
        return (
            gettext("Choose which notifications reach you by e-mail, and when: %(link)s"),
            f"{base_url}/console/notifications/preferences",
        )
    return (
        gettext("To stop these e-mails, follow this link: %(link)s"),
        unsubscribe_link(base_url, current_tenant(session), reader.contact.id, group),
    )


LINK = re.compile(r"https?://[^\s<>\"]+")


def html_from_text(text: str, language: str) -> str:
    """The HTML part of a plain-text e-mail: its paragraphs, escaped, with its addresses as links."""

    def paragraph(block: str) -> str:
        escaped = html.escape(block)
        linked = LINK.sub(lambda match: f'<a href="{match.group(0)}">{match.group(0)}</a>', escaped)
        return "<p>" + linked.replace("\n", "<br>") + "</p>"

    body = "".join(paragraph(block) for block in text.strip().split("\n\n"))
    return f'<!doctype html><html lang="{html.escape(language)}"><head><meta charset="utf-8"></head><body>{body}</body></html>'


def _message(reader: Reader, subject: str, paragraphs: list[str], links: list[tuple[str, str]]) -> EmailMessage:
    """Plain text and HTML with the same words; each link is a sentence with %(link)s in it."""
    text = "\n\n".join([*paragraphs, *(sentence % {"link": link} for sentence, link in links)])
    html_parts = [f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs]
    for sentence, link in links:
        anchor = f'<a href="{html.escape(link)}">{html.escape(link)}</a>'
        html_parts.append("<p>" + html.escape(sentence).replace("%(link)s", anchor) + "</p>")
    page = (
        f'<!doctype html><html lang="{html.escape(reader.language)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head><body>{''.join(html_parts)}</body></html>"
    )
    message = compose(reader.email, subject, text, page)
    message["Content-Language"] = reader.language
    return message


async def _render(session: AsyncSession, mail: OutgoingMail, base_url: str) -> EmailMessage | None:
    reader = await _reader(session, mail)
    if reader is None:
        return None
    with kinds.in_language(reader.language):
        hello = gettext("Hello %(name)s,") % {"name": reader.name}
        if mail.kind == DIGEST:
            notices = await NotificationRepository(session).notices([uuid.UUID(i) for i in mail.params.get("notice_ids", [])])
            subject = ngettext(
                "Your Accord digest: %(num)d notification", "Your Accord digest: %(num)d notifications", len(notices)
            ) % {"num": len(notices)}
            lines = [f"- {kinds.title(n.kind, n.params)}" for n in notices]
            paragraphs = [hello, gettext("Here is what happened since your last digest:"), "\n".join(lines)]
            if reader.contact is None:
                links = [(gettext("See them all: %(link)s"), f"{base_url}/console/notifications")]
            else:
                links = (
                    [(gettext("See them all: %(link)s"), f"{base_url}/portal/notifications")]
                    if reader.contact.portal_open
                    else []
                )
            footer = _footer(session, base_url, reader, "all")
        else:
            subject = kinds.title(mail.kind, mail.params)
            paragraphs = [hello, kinds.body(mail.kind, mail.params)]
            case_link = _case_link(base_url, mail, reader)
            links = [(gettext("Open the case: %(link)s"), case_link)] if case_link else []
            footer = _footer(session, base_url, reader, kinds.kind_of(mail.kind).group)
        message = _message(reader, subject, paragraphs, [*links, footer])
        if reader.contact is not None:
            message["List-Unsubscribe"] = f"<{footer[1]}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058: the mail client's button
        return message


async def compose_for_sending(session: AsyncSession, mail: OutgoingMail, base_url: str) -> EmailMessage | None:
    """The message to hand to the SMTP server, or None when there is no one to send it to any more."""
    if mail.message is not None:
        message = email.message_from_bytes(mail.message, policy=email.policy.default)
    else:
        message = await _render(session, mail, base_url)
        if message is None:
            return None
    del message["Message-ID"]
    message["Message-ID"] = message_id(mail.id)
    return message


NO_RECIPIENT = _("The recipient is no longer on the team or among the buyer's contacts.")
