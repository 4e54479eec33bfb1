from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Model, TenantOwned, new_id, utcnow


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    CREDIT_MANAGER = "credit_manager"
    COLLECTOR = "collector"
    COLLABORATOR = "collaborator"
    VIEWER = "viewer"


class MembershipStatus(enum.StrEnum):
    INVITED = "invited"
    ACTIVE = "active"


class Tenant(Model):
    """A supplier company using Accord. Its id is the tenant key every tenant-owned row carries."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    country: Mapped[str] = mapped_column(String(2), default="CN")
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    default_language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The buyer portal wears the supplier's colours and logo (a stored file of the tenant's own).
    brand_colour: Mapped[str | None] = mapped_column(String(7))
    brand_accent: Mapped[str | None] = mapped_column(String(7))
    logo_file_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class User(Model):
    """A person who signs in to the console. One person may belong to several tenants."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(TenantOwned, Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e]))
    status: Mapped[MembershipStatus] = mapped_column(
        Enum(MembershipStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    invited_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    invitation_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    invitation_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
