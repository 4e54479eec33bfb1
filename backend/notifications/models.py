"""Notices shown in the console and the portal, mail waiting to go out, people's choices, and digests sent."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, Index, Integer, LargeBinary, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Model, TenantOwned, new_id, utcnow


class RecipientKind(enum.StrEnum):
    USER = "user"  # a member of the supplier's team (console)
    CONTACT = "contact"  # one of a buyer's contacts (portal)


class Delivery(enum.StrEnum):
    IMMEDIATE = "immediate"
    DIGEST = "digest"
    OFF = "off"


class MailStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class Notice(TenantOwned, Model):
    """Something a person is told of, shown in their list of notifications until (and after) they read it."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_tenant_id_recipient", "tenant_id", "recipient_kind", "recipient_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    recipient_kind: Mapped[str] = mapped_column(String(8))
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(60))
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Rendered when shown, in the reader's language: dates as ISO strings, amounts as decimal strings.
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class OutgoingMail(TenantOwned, Model):
    """One e-mail to one person, kept until it is sent (or has failed for good), so it is sent once.

    A notice's mail is rendered when sent, in the recipient's language then; a mail composed earlier
    (a dispute's thread message) keeps its composed bytes in `message`.
    """

    __tablename__ = "outgoing_mails"
    __table_args__ = (
        Index("ix_outgoing_mails_tenant_id_status", "tenant_id", "status", "created_at"),
        Index(
            "ix_outgoing_mails_unsent",
            "tenant_id",
            "created_at",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(60))
    recipient_kind: Mapped[str | None] = mapped_column(String(8))
    recipient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    notice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    to_address: Mapped[str | None] = mapped_column(String(320))
    message: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=MailStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]


class NotificationPreference(TenantOwned, Model):
    """How a person wants one group of notices: at once by e-mail, in the daily digest, or not by e-mail."""

    __tablename__ = "notification_preferences"

    recipient_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    group: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DigestRecord(TenantOwned, Model):
    """A person's digest of one day: its key makes a second digest for the same day impossible."""

    __tablename__ = "notification_digests"

    recipient_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    covered_until: Mapped[datetime]
    notice_count: Mapped[int] = mapped_column(Integer, default=0)
    mail_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
