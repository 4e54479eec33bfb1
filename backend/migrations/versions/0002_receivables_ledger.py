"""Receivables ledger: buyers and contacts, orders, invoices, deliveries, files, ledger entries, imports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:09:37.425348
"""

import sqlalchemy as sa
from alembic import op

from backend.db.rls import tenant_policy_statements


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TENANT_OWNED_TABLES = (
    "buyers",
    "buyer_contacts",
    "purchase_orders",
    "order_lines",
    "invoices",
    "invoice_lines",
    "deliveries",
    "stored_files",
    "ledger_entries",
    "allocations",
    "invoice_check_settings",
    "invoice_imports",
)


def upgrade() -> None:
    op.create_table(
        "buyers",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("legal_name", sa.String(length=300), nullable=False),
        sa.Column("vat_number", sa.String(length=64), nullable=True),
        sa.Column("registration_number", sa.String(length=64), nullable=True),
        sa.Column("external_ids", sa.JSON(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("credit_limit", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "parent_id"],
            ["buyers.tenant_id", "buyers.id"],
            name=op.f("fk_buyers_tenant_id_parent_id_buyers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_buyers_tenant_id_tenants"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_buyers")),
        sa.UniqueConstraint("tenant_id", "reference", name=op.f("uq_buyers_tenant_id_reference")),
    )
    op.create_index("ix_buyers_tenant_id_legal_name", "buyers", ["tenant_id", "legal_name"], unique=False)
    op.create_index("ix_buyers_tenant_id_vat_number", "buyers", ["tenant_id", "vat_number"], unique=False)
    op.create_table(
        "invoice_check_settings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("check", sa.String(length=40), nullable=False),
        sa.Column("blocking", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invoice_check_settings_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invoice_check_settings")),
        sa.UniqueConstraint("tenant_id", "check", name=op.f("uq_invoice_check_settings_tenant_id_check")),
    )
    op.create_table(
        "invoice_imports",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum("previewed", "queued", "running", "done", "failed", name="importstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("created_invoices", sa.Integer(), nullable=False),
        sa.Column("unchanged_invoices", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invoice_imports_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invoice_imports")),
    )
    op.create_table(
        "stored_files",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_type", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_stored_files_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_stored_files")),
    )
    op.create_index("ix_stored_files_tenant_id_owner", "stored_files", ["tenant_id", "owner_type", "owner_id"], unique=False)
    op.create_table(
        "buyer_contacts",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("buyer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "buyer_id"],
            ["buyers.tenant_id", "buyers.id"],
            name=op.f("fk_buyer_contacts_tenant_id_buyer_id_buyers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_buyer_contacts_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_buyer_contacts")),
        sa.UniqueConstraint("tenant_id", "buyer_id", "email", name=op.f("uq_buyer_contacts_tenant_id_buyer_id_email")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("buyer_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("payment", "credit_note", "write_off", "adjustment", name="entrykind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("document_number", sa.String(length=64), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("unallocated_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "buyer_id"],
            ["buyers.tenant_id", "buyers.id"],
            name=op.f("fk_ledger_entries_tenant_id_buyer_id_buyers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_entries_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint(
            "tenant_id", "kind", "document_number", name=op.f("uq_ledger_entries_tenant_id_kind_document_number")
        ),
    )
    op.create_index(
        "ix_ledger_entries_tenant_id_buyer_id_entry_date", "ledger_entries", ["tenant_id", "buyer_id", "entry_date"], unique=False
    )
    op.create_table(
        "purchase_orders",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("buyer_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("contract_reference", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "buyer_id"],
            ["buyers.tenant_id", "buyers.id"],
            name=op.f("fk_purchase_orders_tenant_id_buyer_id_buyers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_purchase_orders_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_purchase_orders")),
        sa.UniqueConstraint("tenant_id", "buyer_id", "number", name=op.f("uq_purchase_orders_tenant_id_buyer_id_number")),
    )
    op.create_table(
        "invoices",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("buyer_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "issued",
                "partially_paid",
                "paid",
                "disputed",
                "credited",
                "written_off",
                name="invoicestatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("delivery_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("po_reference", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("net_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("tax_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("gross_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("open_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("disputed_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column(
            "source", sa.Enum("console", "api", "csv", "ubl", name="invoicesource", native_enum=False, length=16), nullable=False
        ),
        sa.Column("import_id", sa.Uuid(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "buyer_id"],
            ["buyers.tenant_id", "buyers.id"],
            name=op.f("fk_invoices_tenant_id_buyer_id_buyers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "order_id"],
            ["purchase_orders.tenant_id", "purchase_orders.id"],
            name=op.f("fk_invoices_tenant_id_order_id_purchase_orders"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_invoices_tenant_id_tenants"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_invoices_tenant_id_number")),
    )
    op.create_index("ix_invoices_tenant_id_buyer_id_due_date", "invoices", ["tenant_id", "buyer_id", "due_date"], unique=False)
    op.create_index("ix_invoices_tenant_id_issue_date", "invoices", ["tenant_id", "issue_date"], unique=False)
    op.create_index("ix_invoices_tenant_id_status_due_date", "invoices", ["tenant_id", "status", "due_date"], unique=False)
    op.create_table(
        "order_lines",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "order_id"],
            ["purchase_orders.tenant_id", "purchase_orders.id"],
            name=op.f("fk_order_lines_tenant_id_order_id_purchase_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_order_lines_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_order_lines")),
        sa.UniqueConstraint("tenant_id", "order_id", "line_no", name=op.f("uq_order_lines_tenant_id_order_id_line_no")),
    )
    op.create_table(
        "allocations",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "entry_id"],
            ["ledger_entries.tenant_id", "ledger_entries.id"],
            name=op.f("fk_allocations_tenant_id_entry_id_ledger_entries"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name=op.f("fk_allocations_tenant_id_invoice_id_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_allocations_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_allocations")),
        sa.UniqueConstraint("tenant_id", "entry_id", "invoice_id", name=op.f("uq_allocations_tenant_id_entry_id_invoice_id")),
    )
    op.create_index("ix_allocations_tenant_id_invoice_id", "allocations", ["tenant_id", "invoice_id"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("buyer_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("delivered_on", sa.Date(), nullable=False),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("tracking_number", sa.String(length=100), nullable=True),
        sa.Column("received_by", sa.String(length=200), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "buyer_id"],
            ["buyers.tenant_id", "buyers.id"],
            name=op.f("fk_deliveries_tenant_id_buyer_id_buyers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name=op.f("fk_deliveries_tenant_id_invoice_id_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "order_id"],
            ["purchase_orders.tenant_id", "purchase_orders.id"],
            name=op.f("fk_deliveries_tenant_id_order_id_purchase_orders"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_deliveries_tenant_id_tenants"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_deliveries_tenant_id_number")),
    )
    op.create_table(
        "invoice_lines",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("net_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("tax_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("gross_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name=op.f("fk_invoice_lines_tenant_id_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invoice_lines_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint("tenant_id", "invoice_id", "line_no", name=op.f("uq_invoice_lines_tenant_id_invoice_id_line_no")),
    )

    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_OWNED_TABLES:
            for statement in tenant_policy_statements(table):
                op.execute(statement)


def downgrade() -> None:
    # Dropping the tables drops their policies and indexes with them.
    op.drop_table("invoice_lines")
    op.drop_table("deliveries")
    op.drop_index("ix_allocations_tenant_id_invoice_id", table_name="allocations")
    op.drop_table("allocations")
    op.drop_table("order_lines")
    op.drop_index("ix_invoices_tenant_id_status_due_date", table_name="invoices")
    op.drop_index("ix_invoices_tenant_id_issue_date", table_name="invoices")
    op.drop_index("ix_invoices_tenant_id_buyer_id_due_date", table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("purchase_orders")
    op.drop_index("ix_ledger_entries_tenant_id_buyer_id_entry_date", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("buyer_contacts")
    op.drop_index("ix_stored_files_tenant_id_owner", table_name="stored_files")
    op.drop_table("stored_files")
    op.drop_table("invoice_imports")
    op.drop_table("invoice_check_settings")
    op.drop_index("ix_buyers_tenant_id_vat_number", table_name="buyers")
    op.drop_index("ix_buyers_tenant_id_legal_name", table_name="buyers")
    op.drop_table("buyers")
