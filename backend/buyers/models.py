"""Buyers: a supplier's customers, whose invoices Accord follows, and the people who work there."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKeyConstraint, Index, Integer, Numeric, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Model, TenantOwned, new_id, utcnow

AMOUNT = Numeric(19, 4)


class Buyer(TenantOwned, Model):
    __tablename__ = "buyers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "reference"),
        ForeignKeyConstraint(["tenant_id", "parent_id"], ["buyers.tenant_id", "buyers.id"], ondelete="RESTRICT"),
        Index("ix_buyers_tenant_id_legal_name", "tenant_id", "legal_name"),
        Index("ix_buyers_tenant_id_vat_number", "tenant_id", "vat_number"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # The supplier's own customer number: what ERP exports and CSV imports name the buyer by.
    reference: Mapped[str] = mapped_column(String(64))
    legal_name: Mapped[str] = mapped_column(String(300))
    vat_number: Mapped[str | None] = mapped_column(String(64))
    registration_number: Mapped[str | None] = mapped_column(String(64))
    # Free list of {"scheme": "...", "value": "..."}: an insurer's buyer id, a bureau number, a DUNS.
    external_ids: Mapped[list] = mapped_column(JSON, default=list)
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    credit_limit: Mapped[Decimal | None] = mapped_column(AMOUNT)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class BuyerContact(TenantOwned, Model):
    __tablename__ = "buyer_contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "buyer_id", "email"),
        ForeignKeyConstraint(["tenant_id", "buyer_id"], ["buyers.tenant_id", "buyers.id"], ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    buyer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8), default="en")
    role: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The buyer portal: open to the contact from the invitation until the supplier withdraws it.
    portal_invited_at: Mapped[datetime | None]
    portal_revoked_at: Mapped[datetime | None]
    # What the contact wants e-mailed: {"messages": bool, "proposals": bool, "statements": bool}; absent means yes.
    notification_prefs: Mapped[dict] = mapped_column(JSON, default=dict)

    @property
    def portal_open(self) -> bool:
        return self.portal_invited_at is not None and self.portal_revoked_at is None

    def wants(self, kind: str) -> bool:
        return bool((self.notification_prefs or {}).get(kind, True))
