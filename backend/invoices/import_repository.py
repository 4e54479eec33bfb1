"""Queries of invoice imports: the import rows, the look-ups a chunk needs, and the bulk insert of issued invoices.

On PostgreSQL the insert takes the fast path: the chunk is COPYed into TEMP staging tables (RLS
forbids COPY straight into the tenant's tables), then moved with `INSERT … SELECT … ON CONFLICT
(tenant_id, number) DO NOTHING`, which runs under RLS with the tenant of the transaction; only the
lines of the invoices it created are staged and moved after it, so no join (and no ANALYZE of the
staging tables) is needed. The staged amounts are the Decimals' text (asyncpg's binary encoding of a
Decimal costs several times its `str`), cast back to numeric by the move; the lines' ids are made
there too. SQLite inserts the same rows with plain multi-row inserts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.buyers.models import Buyer
from backend.db.base import new_id
from backend.db.tenancy import current_tenant
from backend.invoices.models import Invoice, InvoiceImport, InvoiceLine, InvoiceSource, InvoiceStatus, PurchaseOrder

IN_BATCH = 1000

# The staged rows' columns, in order: what the service builds and the COPY sends.
INVOICE_FIELDS = (
    "id",
    "buyer_id",
    "number",
    "currency",
    "issue_date",
    "delivery_date",
    "due_date",
    "po_reference",
    "order_id",
    "notes",
    "net_amount",
    "tax_amount",
    "gross_amount",
)
LINE_FIELDS = (
    "invoice_id",
    "line_no",
    "sku",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "tax_rate",
    "net_amount",
    "tax_amount",
    "gross_amount",
)

_STAGE_INVOICES = """CREATE TEMP TABLE import_stage_invoices (
    id uuid, buyer_id uuid, number text, currency text, issue_date date, delivery_date date, due_date date,
    po_reference text, order_id uuid, notes text, net_amount text, tax_amount text, gross_amount text
) ON COMMIT DROP"""
_STAGE_LINES = """CREATE TEMP TABLE import_stage_lines (
    invoice_id uuid, line_no integer, sku text, description text, quantity text, unit text,
    unit_price text, tax_rate text, net_amount text, tax_amount text, gross_amount text
) ON COMMIT DROP"""
_MOVE_INVOICES = """WITH created AS (
    INSERT INTO invoices (tenant_id, id, buyer_id, number, status, currency, issue_date, delivery_date, due_date,
        po_reference, order_id, net_amount, tax_amount, gross_amount, open_amount, disputed_amount, source, import_id,
        notes, created_at, issued_at, version)
    SELECT $1, id, buyer_id, number, $2, currency, issue_date, delivery_date, due_date,
        po_reference, order_id, net_amount::numeric, tax_amount::numeric, gross_amount::numeric, gross_amount::numeric, 0,
        $3, $4, notes, $5, $5, 1
    FROM import_stage_invoices
    ON CONFLICT (tenant_id, number) DO NOTHING
    RETURNING id
)
SELECT array_agg(id) FROM created"""
# Only the created invoices' lines are staged, so they are moved whole: no join, no statistics needed.
_MOVE_LINES = """INSERT INTO invoice_lines (tenant_id, id, invoice_id, line_no, sku, description, quantity, unit, unit_price,
    tax_rate, net_amount, tax_amount, gross_amount)
SELECT $1, gen_random_uuid(), invoice_id, line_no, sku, description, quantity::numeric, unit,
    unit_price::numeric, tax_rate::numeric, net_amount::numeric, tax_amount::numeric, gross_amount::numeric
FROM import_stage_lines"""


@dataclass(frozen=True)
class BuyerMatch:
    id: uuid.UUID
    payment_terms_days: int


class ImportRepository:
    """Imports of the session's tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, import_id: uuid.UUID, *, for_update: bool = False) -> InvoiceImport | None:
        statement = select(InvoiceImport).where(InvoiceImport.id == import_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def recent(self, limit: int = 20, offset: int = 0) -> tuple[int, Sequence[InvoiceImport]]:
        total = (await self.session.execute(select(func.count(InvoiceImport.id)))).scalar_one()
        statement = select(InvoiceImport).order_by(InvoiceImport.created_at.desc()).limit(limit).offset(offset)
        return total, (await self.session.scalars(statement)).all()

    async def buyers_by_keys(self, keys: Iterable[str], *, identifiers: bool) -> dict[str, BuyerMatch]:
        """Buyers by reference, and with `identifiers` also by VAT or registration number (UBL names buyers so)."""
        wanted = sorted(set(keys))
        found: dict[str, BuyerMatch] = {}
        for start in range(0, len(wanted), IN_BATCH):
            batch = wanted[start : start + IN_BATCH]
            condition = Buyer.reference.in_(batch)
            if identifiers:
                condition = or_(condition, Buyer.vat_number.in_(batch), Buyer.registration_number.in_(batch))
            statement = select(
                Buyer.id, Buyer.reference, Buyer.vat_number, Buyer.registration_number, Buyer.payment_terms_days
            ).where(condition)
            for buyer_id, reference, vat_number, registration_number, terms in await self.session.execute(statement):
                match = BuyerMatch(buyer_id, terms)
                found.setdefault(reference, match)
                if identifiers:
                    for key in (vat_number, registration_number):
                        if key:
                            found.setdefault(key, match)
        return found

    @property
    def insert_skips_existing(self) -> bool:
        """True where `insert_issued` itself skips existing numbers cheaply (ON CONFLICT on PostgreSQL)."""
        return self.session.bind.dialect.name == "postgresql"

    async def existing_numbers(self, numbers: Iterable[str]) -> set[str]:
        wanted = sorted(set(numbers))
        found: set[str] = set()
        for start in range(0, len(wanted), IN_BATCH):
            batch = wanted[start : start + IN_BATCH]
            found.update(await self.session.scalars(select(Invoice.number).where(Invoice.number.in_(batch))))
        return found

    async def orders_by_number(self, numbers: Iterable[str]) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
        wanted = sorted(set(numbers))
        found: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
        for start in range(0, len(wanted), IN_BATCH):
            batch = wanted[start : start + IN_BATCH]
            statement = select(PurchaseOrder.id, PurchaseOrder.buyer_id, PurchaseOrder.number).where(
                PurchaseOrder.number.in_(batch)
            )
            for order_id, buyer_id, number in await self.session.execute(statement):
                found[(buyer_id, number)] = order_id
        return found

    async def insert_issued(
        self,
        invoices: list[tuple],
        lines: list[tuple],
        *,
        source: InvoiceSource,
        import_id: uuid.UUID | None,
        now: datetime,
    ) -> set[uuid.UUID]:
        """Insert issued invoices (rows in INVOICE_FIELDS order) with their lines (LINE_FIELDS order, the line's
        own id made here); an existing number is skipped.

        Returns the ids of the invoices created: fewer than given when another import took a number meanwhile.
        """
        if not invoices:
            return set()
        if self.session.bind.dialect.name == "postgresql":
            return await self._insert_by_copy(invoices, lines, source=source, import_id=import_id, now=now)
        return await self._insert_plain(invoices, lines, source=source, import_id=import_id, now=now)

    async def _insert_by_copy(self, invoices, lines, *, source, import_id, now) -> set[uuid.UUID]:
        connection = await self.session.connection()  # begins the transaction, with the tenant set for RLS
        driver = (await connection.get_raw_connection()).driver_connection
        tenant_id = current_tenant(self.session)
        await driver.execute(_STAGE_INVOICES)
        staged_invoices = [(*row[:10], str(row[10]), str(row[11]), str(row[12])) for row in invoices]
        await driver.copy_records_to_table("import_stage_invoices", records=staged_invoices, columns=INVOICE_FIELDS)
        created = set(
            await driver.fetchval(_MOVE_INVOICES, tenant_id, InvoiceStatus.ISSUED.value, source.value, import_id, now) or ()
        )
        staged_lines = [
            (
                row[0],
                row[1],
                row[2],
                row[3],
                str(row[4]),
                row[5],
                str(row[6]),
                str(row[7]),
                str(row[8]),
                str(row[9]),
                str(row[10]),
            )
            for row in lines
            if row[0] in created
        ]
        if staged_lines:
            await driver.execute(_STAGE_LINES)
            await driver.copy_records_to_table("import_stage_lines", records=staged_lines, columns=LINE_FIELDS)
            await driver.execute(_MOVE_LINES, tenant_id)
            await driver.execute("DROP TABLE import_stage_lines")
        await driver.execute("DROP TABLE import_stage_invoices")
        return created

    async def _insert_plain(self, invoices, lines, *, source, import_id, now) -> set[uuid.UUID]:
        tenant_id = current_tenant(self.session)
        extra = {
            "tenant_id": tenant_id,
            "status": InvoiceStatus.ISSUED,
            "source": source,
            "import_id": import_id,
            "disputed_amount": 0,
            "created_at": now,
            "issued_at": now,
            "version": 1,
        }
        rows = [{**dict(zip(INVOICE_FIELDS, row, strict=True)), **extra} for row in invoices]
        for row in rows:
            row["open_amount"] = row["gross_amount"]
        statement = sqlite_insert(Invoice).on_conflict_do_nothing(index_elements=["tenant_id", "number"])
        for start in range(0, len(rows), 500):
            await self.session.execute(statement, rows[start : start + 500])
        ids = [row[0] for row in invoices]
        created: set[uuid.UUID] = set()
        for start in range(0, len(ids), IN_BATCH):
            statement = select(Invoice.id).where(Invoice.id.in_(ids[start : start + IN_BATCH]))
            created.update(await self.session.scalars(statement))
        line_rows = [
            {**dict(zip(LINE_FIELDS, row, strict=True)), "tenant_id": tenant_id, "id": new_id()}
            for row in lines
            if row[0] in created
        ]
        for start in range(0, len(line_rows), 500):
            await self.session.execute(sqlite_insert(InvoiceLine), line_rows[start : start + 500])
        return created
