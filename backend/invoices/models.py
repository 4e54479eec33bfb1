"""The receivables ledger: invoices and their lines, purchase orders, deliveries, ledger entries, imports.

Balances are never stored by hand: an invoice's `open_amount` is kept by the ledger service from
its gross amount and the allocations of ledger entries against it, in the same transaction.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Model, TenantOwned, new_id, utcnow
from backend.i18n import _

AMOUNT = Numeric(19, 4)
QUANTITY = Numeric(19, 4)
RATE = Numeric(7, 4)  # tax rate in percent: 13.0000


def _enum(kind: type[enum.Enum], length: int = 24) -> Enum:
    return Enum(kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    DISPUTED = "disputed"
    CREDITED = "credited"
    WRITTEN_OFF = "written_off"


class InvoiceSource(enum.StrEnum):
    CONSOLE = "console"
    API = "api"
    CSV = "csv"
    UBL = "ubl"


class EntryKind(enum.StrEnum):
    PAYMENT = "payment"
    CREDIT_NOTE = "credit_note"
    WRITE_OFF = "write_off"
    # Positive adds to what the buyer owes (a late fee, a re-bill), negative takes from it.
    ADJUSTMENT = "adjustment"


# What people read for each status and entry kind (translated where shown).
STATUS_LABELS = {
    InvoiceStatus.DRAFT: _("Draft"),
    InvoiceStatus.ISSUED: _("Issued"),
    InvoiceStatus.PARTIALLY_PAID: _("Partially paid"),
    InvoiceStatus.PAID: _("Paid"),
    InvoiceStatus.DISPUTED: _("Disputed"),
    InvoiceStatus.CREDITED: _("Credited"),
    InvoiceStatus.WRITTEN_OFF: _("Written off"),
}
ENTRY_KINDS = {
    EntryKind.PAYMENT: _("Payment"),
    EntryKind.CREDIT_NOTE: _("Credit note"),
    EntryKind.WRITE_OFF: _("Write-off"),
    EntryKind.ADJUSTMENT: _("Adjustment"),
}


class PurchaseOrder(TenantOwned, Model):
    __tablename__ = "purchase_orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "buyer_id", "number"),
        ForeignKeyConstraint(["tenant_id", "buyer_id"], ["buyers.tenant_id", "buyers.id"], ondelete="RESTRICT"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    buyer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    number: Mapped[str] = mapped_column(String(64))
    order_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    contract_reference: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderLine(TenantOwned, Model):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("tenant_id", "order_id", "line_no"),
        ForeignKeyConstraint(["tenant_id", "order_id"], ["purchase_orders.tenant_id", "purchase_orders.id"], ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    line_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit: Mapped[str] = mapped_column(String(16), default="EA")
    unit_price: Mapped[Decimal] = mapped_column(AMOUNT)
    tax_rate: Mapped[Decimal] = mapped_column(RATE, default=Decimal(0))


class Invoice(TenantOwned, Model):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        ForeignKeyConstraint(["tenant_id", "buyer_id"], ["buyers.tenant_id", "buyers.id"], ondelete="RESTRICT"),
        ForeignKeyConstraint(["tenant_id", "order_id"], ["purchase_orders.tenant_id", "purchase_orders.id"], ondelete="RESTRICT"),
        Index("ix_invoices_tenant_id_buyer_id_due_date", "tenant_id", "buyer_id", "due_date"),
        Index("ix_invoices_tenant_id_status_due_date", "tenant_id", "status", "due_date"),
        Index("ix_invoices_tenant_id_issue_date", "tenant_id", "issue_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    buyer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    number: Mapped[str] = mapped_column(String(64))
    status: Mapped[InvoiceStatus] = mapped_column(_enum(InvoiceStatus), default=InvoiceStatus.DRAFT)
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[date] = mapped_column(Date)
    delivery_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    po_reference: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    net_amount: Mapped[Decimal] = mapped_column(AMOUNT)
    tax_amount: Mapped[Decimal] = mapped_column(AMOUNT)
    gross_amount: Mapped[Decimal] = mapped_column(AMOUNT)
    # Kept by the ledger service from the allocations, never set by a person.
    open_amount: Mapped[Decimal] = mapped_column(AMOUNT)
    # Held out of collection by open dispute cases (kept by the disputes service).
    disputed_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    source: Mapped[InvoiceSource] = mapped_column(_enum(InvoiceSource, 16), default=InvoiceSource.CONSOLE)
    import_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class InvoiceLine(TenantOwned, Model):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        UniqueConstraint("tenant_id", "invoice_id", "line_no"),
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="CASCADE"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    line_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit: Mapped[str] = mapped_column(String(16), default="EA")
    unit_price: Mapped[Decimal] = mapped_column(AMOUNT)
    tax_rate: Mapped[Decimal] = mapped_column(RATE, default=Decimal(0))
    net_amount: Mapped[Decimal] = mapped_column(AMOUNT)
    tax_amount: Mapped[Decimal] = mapped_column(AMOUNT)
    gross_amount: Mapped[Decimal] = mapped_column(AMOUNT)


class Delivery(TenantOwned, Model):
    """A delivery against an order (and the invoice that bills it), with its proof-of-delivery files."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        ForeignKeyConstraint(["tenant_id", "buyer_id"], ["buyers.tenant_id", "buyers.id"], ondelete="RESTRICT"),
        ForeignKeyConstraint(["tenant_id", "order_id"], ["purchase_orders.tenant_id", "purchase_orders.id"], ondelete="RESTRICT"),
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="RESTRICT"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    buyer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    number: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    delivered_on: Mapped[date] = mapped_column(Date)
    carrier: Mapped[str | None] = mapped_column(String(100))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    received_by: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoredFile(TenantOwned, Model):
    """A file kept in storage under a random key; what it belongs to names it (`owner_type`, `owner_id`)."""

    __tablename__ = "stored_files"
    __table_args__ = (Index("ix_stored_files_tenant_id_owner", "tenant_id", "owner_type", "owner_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_type: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    storage_key: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(TenantOwned, Model):
    """A payment, credit note, write-off or adjustment: its own document, allocated to invoices."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "document_number"),
        ForeignKeyConstraint(["tenant_id", "buyer_id"], ["buyers.tenant_id", "buyers.id"], ondelete="RESTRICT"),
        ForeignKeyConstraint(
            ["tenant_id", "dispute_case_id"], ["dispute_cases.tenant_id", "dispute_cases.id"], ondelete="RESTRICT"
        ),
        Index("ix_ledger_entries_tenant_id_buyer_id_entry_date", "tenant_id", "buyer_id", "entry_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    buyer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind, 16))
    document_number: Mapped[str] = mapped_column(String(64))
    entry_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    # What of a payment found no open invoice: kept on account, for the next invoice.
    unallocated_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    reason: Mapped[str | None] = mapped_column(String(500))
    # The dispute case whose resolution wrote this entry (credit note, write-off, price correction).
    dispute_case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Allocation(TenantOwned, Model):
    """How much of a ledger entry applies to one invoice, in the entry's sign (see EntryKind)."""

    __tablename__ = "allocations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "entry_id", "invoice_id"),
        ForeignKeyConstraint(["tenant_id", "entry_id"], ["ledger_entries.tenant_id", "ledger_entries.id"], ondelete="RESTRICT"),
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="RESTRICT"),
        Index("ix_allocations_tenant_id_invoice_id", "tenant_id", "invoice_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entry_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)


class InvoiceCheckSetting(TenantOwned, Model):
    """Which invoice-audit findings stop an invoice from being issued, per tenant and check."""

    __tablename__ = "invoice_check_settings"
    __table_args__ = (UniqueConstraint("tenant_id", "check"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    check: Mapped[str] = mapped_column(String(40))
    blocking: Mapped[bool] = mapped_column(Boolean, default=False)


class ImportStatus(enum.StrEnum):
    PREVIEWED = "previewed"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class InvoiceImport(TenantOwned, Model):
    """One uploaded file of invoices: previewed, then imported by a job that reports its progress here."""

    __tablename__ = "invoice_imports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    format: Mapped[str] = mapped_column(String(8))  # csv | ubl
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[ImportStatus] = mapped_column(_enum(ImportStatus, 16), default=ImportStatus.PREVIEWED)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_invoices: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_invoices: Mapped[int] = mapped_column(Integer, default=0)
    # [{"row": 17, "field": "due_date", "message": "..."}], the first few hundred.
    errors: Mapped[list] = mapped_column(JSON, default=list)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str | None] = mapped_column(Text)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class StatementConfirmation(TenantOwned, Model):
    """A buyer's contact confirmed the balance of their statement of account as of a day."""

    __tablename__ = "statement_confirmations"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "buyer_id"], ["buyers.tenant_id", "buyers.id"], ondelete="CASCADE"),
        Index("ix_statement_confirmations_tenant_id_buyer_id", "tenant_id", "buyer_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    buyer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    confirmed_by: Mapped[str] = mapped_column(String(320))
    as_of: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[Decimal] = mapped_column(AMOUNT)
    note: Mapped[str | None] = mapped_column(Text)
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)
