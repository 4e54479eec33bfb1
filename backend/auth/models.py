from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Model, TenantOwned, new_id, utcnow


class SignInSession(TenantOwned, Model):
    """A server-side session. The browser holds only a random token; the row holds its SHA-256."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("tenant_id", "token_hash"), Index("ix_sessions_token_hash", "token_hash"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64))
    audience: Mapped[str] = mapped_column(String(16))  # console; later portal, insurer
    principal_kind: Mapped[str] = mapped_column(String(16))  # user; later buyer_contact, insurer_user
    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class ApiKey(TenantOwned, Model):
    """An organisation key (a system's, with a role of its own) or a personal key (one member's:
    it acts as that person, with whatever role their membership has at the time of the call)."""

    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("tenant_id", "secret_hash"),
        Index("ix_api_keys_secret_hash", "secret_hash"),
        # Deleting the person deletes their keys: a personal key must never outlive them as an organisation key.
        ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        Index("ix_api_keys_tenant_id_user_id", "tenant_id", "user_id"),
        # A personal key has no role of its own; an organisation key has nothing else.
        CheckConstraint("(user_id IS NULL) <> (role IS NULL)", name="personal_or_role"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SignInThrottle(Model):
    """Consecutive failed sign-ins per address; kept before any tenant is known, so it belongs to none."""

    __tablename__ = "sign_in_throttles"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]


class PortalAccount(Model):
    """One person of the buyers' side, known by e-mail across suppliers: the password they chose, if any.

    Which portals they may open is not kept here: it is each supplier's invited contacts with this
    address. A supplier never reads this row; it holds nothing of any one tenant.
    """

    __tablename__ = "portal_accounts"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None]


class MagicLink(TenantOwned, Model):
    """A single-use sign-in link for one contact: the e-mail holds the token, this row only its SHA-256."""

    __tablename__ = "portal_magic_links"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token_hash"),
        Index("ix_portal_magic_links_token_hash", "token_hash"),
        ForeignKeyConstraint(["tenant_id", "contact_id"], ["buyer_contacts.tenant_id", "buyer_contacts.id"], ondelete="CASCADE"),
        Index("ix_portal_magic_links_tenant_id_contact_id", "tenant_id", "contact_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # NULL until the job that e-mails it makes the token: the outbox never holds a usable secret.
    token_hash: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(320), index=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_ip: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    next_path: Mapped[str | None] = mapped_column(String(300))
