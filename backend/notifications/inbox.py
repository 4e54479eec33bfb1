"""A person's own notifications and choices: the list in the console or the portal, marking read, how
each group of notices reaches them by e-mail, and a buyer's one-click unsubscribe.

A team member (console) and a buyer's contact (portal) are both recipients; each sees and changes
only their own notices and choices. Another person's notice answers 404, as a missing one does.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth import portal as portal_access
from backend.auth.principal import Principal, PrincipalKind
from backend.db.base import utcnow
from backend.errors import NotFound, ValidationFailed
from backend.i18n import _, gettext
from backend.notifications import kinds
from backend.notifications.models import Delivery, NotificationPreference, RecipientKind
from backend.notifications.repository import NotificationRepository
from backend.tenants.models import Role

PAGE_SIZE = 20
DELIVERY_LABELS = {
    Delivery.IMMEDIATE.value: _("Right away"),
    Delivery.DIGEST.value: _("In a daily digest"),
    Delivery.OFF.value: _("Not by e-mail"),
}


def _recipient(principal: Principal) -> tuple[str, uuid.UUID]:
    if principal.kind is PrincipalKind.USER and principal.api_key_prefix is None:
        return RecipientKind.USER.value, principal.id
    if principal.kind is PrincipalKind.BUYER_CONTACT:
        return RecipientKind.CONTACT.value, principal.id
    raise NotFound(_("Not found."))


@dataclass(frozen=True)
class NoticeLine:
    id: uuid.UUID
    title: str
    created_at: datetime
    read: bool
    case_id: uuid.UUID | None


@dataclass(frozen=True)
class NoticePage:
    lines: list[NoticeLine]
    total: int
    unread: int
    page: int
    pages: int


async def notices(session: AsyncSession, principal: Principal, *, page: int = 1) -> NoticePage:
    """The person's notices, newest first, in the current language."""
    recipient_kind, recipient_id = _recipient(principal)
    repository = NotificationRepository(session)
    page = max(page, 1)
    total, rows = await repository.notices_page(recipient_kind, recipient_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    lines = [NoticeLine(n.id, _title(n.kind, n.params), n.created_at, n.read_at is not None, n.case_id) for n in rows]
    return NoticePage(
        lines, total, await repository.unread_count(recipient_kind, recipient_id), page, max(1, math.ceil(total / PAGE_SIZE))
    )


def _title(kind: str, params: dict) -> str:
    try:
        return kinds.title(kind, params)
    except (LookupError, ValueError, TypeError):
        # A kind retired since the notice was written still shows, if plainly.
        return gettext("A notification about case %(case)s") % {"case": params.get("case_number", "")}


async def unread_count(session: AsyncSession, principal: Principal) -> int:
    return await NotificationRepository(session).unread_count(*_recipient(principal))


async def mark_read(session: AsyncSession, principal: Principal, notice_id: uuid.UUID) -> NoticeLine:
    notice = await NotificationRepository(session).notice_of(*_recipient(principal), notice_id)
    if notice is None:
        raise NotFound(_("Not found."))
    if notice.read_at is None:
        notice.read_at = utcnow()
    return NoticeLine(notice.id, _title(notice.kind, notice.params), notice.created_at, True, notice.case_id)


async def mark_all_read(session: AsyncSession, principal: Principal) -> int:
    return await NotificationRepository(session).mark_all_read(*_recipient(principal), utcnow())


# --- choices ---------------------------------------------------------------------------------


async def deliveries(session: AsyncSession, principal: Principal) -> dict[str, str]:
    """How each group reaches the person: immediate unless they chose otherwise."""
    chosen = await NotificationRepository(session).preferences_of(*_recipient(principal))
    return {group: chosen.get(group, Delivery.IMMEDIATE.value) for group in kinds.GROUP_KEYS}


async def set_deliveries(session: AsyncSession, principal: Principal, choices: dict[str, str]) -> dict[str, str]:
    """Save the person's choice for each group named in `choices`; an unknown group or choice changes nothing."""
    for group, delivery in choices.items():
        if group not in kinds.GROUP_KEYS:
            raise ValidationFailed(_("Unknown kind of notification: %(kind)s.") % {"kind": group}, field=group)
        if delivery not in DELIVERY_LABELS:
            raise ValidationFailed(_("Choose right away, a daily digest or not by e-mail."), field=group)
    before = await deliveries(session, principal)
    await _save(session, *_recipient(principal), choices)
    after = {**before, **choices}
    if after != before:
        audit.record(
            session,
            principal.actor(),
            "notifications.preferences_changed",
            "buyer_contact" if principal.kind is PrincipalKind.BUYER_CONTACT else "user",
            principal.id,
            before=before,
            after=after,
        )
    return after


async def _save(session: AsyncSession, recipient_kind: str, recipient_id: uuid.UUID, choices: dict[str, str]) -> None:
    repository = NotificationRepository(session)
    now = utcnow()
    for group, delivery in choices.items():
        preference = await repository.preference(recipient_kind, recipient_id, group)
        if preference is None:
            session.add(
                NotificationPreference(
                    recipient_kind=recipient_kind, recipient_id=recipient_id, group=group, delivery=delivery, updated_at=now
                )
            )
        elif preference.delivery != delivery:
            preference.delivery, preference.updated_at = delivery, now


# --- unsubscribe (no sign-in: the signed token in the e-mail is the credential) -----------------

# What a buyer's e-mail may be about: our groups, and the portal's own kinds of e-mail.
UNSUBSCRIBE_GROUPS = (*kinds.GROUP_KEYS, *portal_access.NOTIFICATION_KINDS, "all")


@dataclass(frozen=True)
class UnsubscribeTarget:
    contact_name: str
    email: str
    group: str
    label: str


def _contact_principal(contact, tenant_id) -> Principal:
    return Principal(
        kind=PrincipalKind.BUYER_CONTACT,
        id=contact.id,
        tenant_id=tenant_id,
        role=Role.VIEWER,
        label=contact.email,
        display_name=contact.name,
        language=contact.language,
        buyer_id=contact.buyer_id,
    )


def unsubscribe_label(group: str) -> str:
    if group == "all":
        return gettext("All e-mails about your disputes, instalments and statements")
    if group in kinds.GROUP_KEYS:
        return kinds.group_label(group)
    return gettext(
        {
            "messages": _("Messages about your disputes"),
            "proposals": _("Proposals to settle a dispute"),
            "statements": _("Statements of account"),
        }[group]
    )


async def unsubscribe_target(session: AsyncSession, contact_id: uuid.UUID, group: str) -> UnsubscribeTarget:
    """What an unsubscribe link would stop, for its confirmation page; 404 for a contact or group that is not there."""
    if group not in UNSUBSCRIBE_GROUPS:
        raise NotFound(_("Not found."))
    contacts = await NotificationRepository(session).contacts([contact_id])
    if not contacts:
        raise NotFound(_("Not found."))
    return UnsubscribeTarget(contacts[0].name, contacts[0].email, group, unsubscribe_label(group))


async def unsubscribe(session: AsyncSession, contact_id: uuid.UUID, group: str, tenant_id) -> UnsubscribeTarget:
    """Stop the e-mails the link names, for the contact it names, as that contact."""
    target = await unsubscribe_target(session, contact_id, group)
    contact = (await NotificationRepository(session).contacts([contact_id]))[0]
    principal = _contact_principal(contact, tenant_id)
    ours = list(kinds.GROUP_KEYS) if group == "all" else [group] if group in kinds.GROUP_KEYS else []
    if ours:
        await set_deliveries(session, principal, dict.fromkeys(ours, Delivery.OFF.value))
    portal_kinds = (
        list(portal_access.NOTIFICATION_KINDS) if group == "all" else [group] if group in portal_access.NOTIFICATION_KINDS else []
    )
    if portal_kinds:
        wanted = {kind: contact.wants(kind) and kind not in portal_kinds for kind in portal_access.NOTIFICATION_KINDS}
        await portal_access.set_preferences(session, principal, notifications=wanted)
    return target
