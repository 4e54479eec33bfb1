"""Notices, outgoing mail, preferences and digests of the session's tenant (and the few cross-tenant sweeps)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.buyers.models import BuyerContact
from backend.notifications.models import DigestRecord, MailStatus, Notice, NotificationPreference, OutgoingMail
from backend.tenants.models import Membership, MembershipStatus, User


def _insert(session: AsyncSession):
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- people ----------------------------------------------------------------------------

    async def members(self, user_ids: Iterable[uuid.UUID]) -> list[tuple[uuid.UUID, str, str, str | None]]:
        """(id, e-mail, display name, language) of the tenant's active members among `user_ids`."""
        ids = list({i for i in user_ids if i})
        if not ids:
            return []
        statement = (
            select(User.id, User.email, User.display_name, User.language)
            .join(Membership, Membership.user_id == User.id)
            .where(User.id.in_(ids), Membership.status == MembershipStatus.ACTIVE)
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]

    async def contacts(self, contact_ids: Iterable[uuid.UUID]) -> Sequence[BuyerContact]:
        ids = list({i for i in contact_ids if i})
        if not ids:
            return []
        return (await self.session.scalars(select(BuyerContact).where(BuyerContact.id.in_(ids)))).all()

    # --- preferences -----------------------------------------------------------------------

    async def deliveries(self, recipient_kind: str, recipient_ids: Iterable[uuid.UUID], group: str) -> dict[uuid.UUID, str]:
        ids = list(recipient_ids)
        if not ids:
            return {}
        statement = select(NotificationPreference.recipient_id, NotificationPreference.delivery).where(
            NotificationPreference.recipient_kind == recipient_kind,
            NotificationPreference.recipient_id.in_(ids),
            NotificationPreference.group == group,
        )
        return dict((await self.session.execute(statement)).all())

    async def preferences_of(self, recipient_kind: str, recipient_id: uuid.UUID) -> dict[str, str]:
        statement = select(NotificationPreference.group, NotificationPreference.delivery).where(
            NotificationPreference.recipient_kind == recipient_kind, NotificationPreference.recipient_id == recipient_id
        )
        return dict((await self.session.execute(statement)).all())

    async def preference(self, recipient_kind: str, recipient_id: uuid.UUID, group: str) -> NotificationPreference | None:
        statement = select(NotificationPreference).where(
            NotificationPreference.recipient_kind == recipient_kind,
            NotificationPreference.recipient_id == recipient_id,
            NotificationPreference.group == group,
        )
        return (await self.session.scalars(statement)).first()

    async def digest_readers(self) -> list[tuple[str, uuid.UUID, list[str]]]:
        """(recipient kind, id, groups) of everyone who chose the daily digest for some group."""
        statement = (
            select(NotificationPreference.recipient_kind, NotificationPreference.recipient_id, NotificationPreference.group)
            .where(NotificationPreference.delivery == "digest")
            .order_by(NotificationPreference.recipient_kind, NotificationPreference.recipient_id)
        )
        readers: dict[tuple[str, uuid.UUID], list[str]] = {}
        for kind, recipient_id, group in (await self.session.execute(statement)).all():
            readers.setdefault((kind, recipient_id), []).append(group)
        return [(kind, recipient_id, groups) for (kind, recipient_id), groups in readers.items()]

    # --- notices ---------------------------------------------------------------------------

    async def notices_page(
        self, recipient_kind: str, recipient_id: uuid.UUID, *, limit: int, offset: int, unread_only: bool = False
    ) -> tuple[int, Sequence[Notice]]:
        mine = (Notice.recipient_kind == recipient_kind, Notice.recipient_id == recipient_id)
        if unread_only:
            mine = (*mine, Notice.read_at.is_(None))
        total = (await self.session.execute(select(func.count()).select_from(Notice).where(*mine))).scalar_one()
        statement = select(Notice).where(*mine).order_by(Notice.created_at.desc(), Notice.id.desc()).limit(limit).offset(offset)
        return total, (await self.session.scalars(statement)).all()

    async def unread_count(self, recipient_kind: str, recipient_id: uuid.UUID) -> int:
        statement = (
            select(func.count())
            .select_from(Notice)
            .where(Notice.recipient_kind == recipient_kind, Notice.recipient_id == recipient_id, Notice.read_at.is_(None))
        )
        return (await self.session.execute(statement)).scalar_one()

    async def notice_of(self, recipient_kind: str, recipient_id: uuid.UUID, notice_id: uuid.UUID) -> Notice | None:
        statement = select(Notice).where(
            Notice.id == notice_id, Notice.recipient_kind == recipient_kind, Notice.recipient_id == recipient_id
        )
        return (await self.session.scalars(statement)).first()

    async def mark_all_read(self, recipient_kind: str, recipient_id: uuid.UUID, now: datetime) -> int:
        result = await self.session.execute(
            update(Notice)
            .where(Notice.recipient_kind == recipient_kind, Notice.recipient_id == recipient_id, Notice.read_at.is_(None))
            .values(read_at=now)
        )
        return result.rowcount or 0

    async def notices_since(
        self, recipient_kind: str, recipient_id: uuid.UUID, kinds: Iterable[str], after: datetime, until: datetime
    ) -> Sequence[Notice]:
        statement = (
            select(Notice)
            .where(
                Notice.recipient_kind == recipient_kind,
                Notice.recipient_id == recipient_id,
                Notice.kind.in_(list(kinds)),
                Notice.created_at > after,
                Notice.created_at <= until,
            )
            .order_by(Notice.created_at)
        )
        return (await self.session.scalars(statement)).all()

    async def notices(self, notice_ids: Iterable[uuid.UUID]) -> Sequence[Notice]:
        ids = list(notice_ids)
        if not ids:
            return []
        return (await self.session.scalars(select(Notice).where(Notice.id.in_(ids)).order_by(Notice.created_at))).all()

    # --- outgoing mail ---------------------------------------------------------------------

    async def mail(self, mail_id: uuid.UUID) -> OutgoingMail | None:
        return (await self.session.scalars(select(OutgoingMail).where(OutgoingMail.id == mail_id))).first()

    async def lock_mail(self, mail_id: uuid.UUID) -> OutgoingMail | None:
        """The mail, locked for this transaction; None while another transaction holds it."""
        statement = select(OutgoingMail).where(OutgoingMail.id == mail_id).with_for_update(skip_locked=True)
        return (await self.session.scalars(statement)).first()

    async def count_attempt(self, mail_id: uuid.UUID, now: datetime) -> int | None:
        """Count one more try of a mail still queued; the new count, or None when it is sent or has failed."""
        result = await self.session.execute(
            update(OutgoingMail)
            .where(OutgoingMail.id == mail_id, OutgoingMail.status == MailStatus.QUEUED.value)
            .values(attempts=OutgoingMail.attempts + 1, last_attempt_at=now)
            .returning(OutgoingMail.attempts)
        )
        return result.scalar_one_or_none()

    async def failed_mails(self, limit: int) -> Sequence[OutgoingMail]:
        statement = (
            select(OutgoingMail)
            .where(OutgoingMail.status == MailStatus.FAILED.value)
            .order_by(OutgoingMail.failed_at.desc())
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()

    # --- digests ---------------------------------------------------------------------------

    async def last_digest(self, recipient_kind: str, recipient_id: uuid.UUID) -> DigestRecord | None:
        statement = (
            select(DigestRecord)
            .where(DigestRecord.recipient_kind == recipient_kind, DigestRecord.recipient_id == recipient_id)
            .order_by(DigestRecord.day.desc())
            .limit(1)
        )
        return (await self.session.scalars(statement)).first()

    async def claim_digest_day(
        self,
        tenant_id: uuid.UUID,
        recipient_kind: str,
        recipient_id: uuid.UUID,
        day: date,
        covered_until: datetime,
        now: datetime,
    ) -> bool:
        """Insert the person's digest of `day` unless it exists; True when this call made it."""
        statement = (
            _insert(self.session)(DigestRecord)
            .values(
                tenant_id=tenant_id,
                recipient_kind=recipient_kind,
                recipient_id=recipient_id,
                day=day,
                covered_until=covered_until,
                notice_count=0,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "recipient_kind", "recipient_id", "day"])
        )
        result = await self.session.execute(statement)
        return result.rowcount == 1

    async def digest(self, recipient_kind: str, recipient_id: uuid.UUID, day: date) -> DigestRecord | None:
        statement = select(DigestRecord).where(
            DigestRecord.recipient_kind == recipient_kind, DigestRecord.recipient_id == recipient_id, DigestRecord.day == day
        )
        return (await self.session.scalars(statement)).first()


class AllTenantsNotificationRepository:
    """Cross-tenant reads for the scheduler's sweeps; each use is deliberate and named."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def tenants_with_digest_readers(self) -> list[uuid.UUID]:
        statement = select(NotificationPreference.tenant_id).where(NotificationPreference.delivery == "digest").distinct()
        return list((await self.session.scalars(statement)).all())

    async def stalled_mails(self, queued_before: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(tenant, mail) of mails still queued whose last try (or creation) is older than `queued_before`."""
        statement = (
            select(OutgoingMail.tenant_id, OutgoingMail.id)
            .where(
                OutgoingMail.status == MailStatus.QUEUED.value,
                OutgoingMail.created_at < queued_before,
                func.coalesce(OutgoingMail.last_attempt_at, OutgoingMail.created_at) < queued_before,
            )
            .order_by(OutgoingMail.created_at)
            .limit(limit)
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]

    async def forget_sent_before(self, moment: datetime) -> int:
        result = await self.session.execute(
            delete(OutgoingMail).where(OutgoingMail.status == MailStatus.SENT.value, OutgoingMail.sent_at < moment)
        )
        return result.rowcount or 0
