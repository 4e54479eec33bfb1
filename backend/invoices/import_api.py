"""REST: invoice imports (upload a CSV or UBL file, preview, confirm, follow the job) and bulk JSON invoices."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.http.pagination import MAX_LIMIT
from backend.i18n import gettext
from backend.invoices import imports
from backend.invoices.drafts import InvoiceDraft, LineDraft
from backend.invoices.models import InvoiceImport

# The multipart envelope around a file at the upload limit.
MAX_REQUEST_BYTES = imports.MAX_UPLOAD_BYTES + 64 * 1024


def _message(message: str, params: dict) -> str:
    text = gettext(message)
    return text % params if params else text


@dataclass
class RowErrorOut:
    row: int
    field: str
    message: str

    @classmethod
    def of(cls, error: dict) -> RowErrorOut:
        return cls(row=error["row"], field=error["field"], message=_message(error["message"], error.get("params") or {}))


@dataclass
class ImportOut:
    id: uuid.UUID
    format: str
    filename: str
    sha256: str
    status: str
    total_rows: int
    processed_rows: int
    progress_percent: int
    created_invoices: int
    unchanged_invoices: int
    error_count: int
    errors: list[RowErrorOut]
    failure: str | None
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, record: InvoiceImport) -> ImportOut:
        return cls(
            id=record.id,
            format=record.format,
            filename=record.filename,
            sha256=record.sha256,
            status=record.status.value,
            total_rows=record.total_rows,
            processed_rows=record.processed_rows,
            progress_percent=imports.progress_percent(record),
            created_invoices=record.created_invoices,
            unchanged_invoices=record.unchanged_invoices,
            error_count=record.error_count,
            errors=[RowErrorOut.of(error) for error in record.errors],
            failure=record.failure,
            created_by=record.created_by,
            created_at=record.created_at,
            finished_at=record.finished_at,
        )


@dataclass
class ImportPage:
    items: list[ImportOut]
    total: int
    limit: int
    offset: int


@dataclass
class PreviewRowOut:
    row: int
    values: list[str]


@dataclass
class PreviewOut:
    invoice_import: ImportOut
    columns: list[str]
    rows: list[PreviewRowOut]


async def _preview(db: AsyncSession, principal: Principal, import_id: uuid.UUID) -> PreviewOut:
    record = await imports.get_import(db, principal, import_id)
    table = await imports.preview_table(db, principal, import_id)
    return PreviewOut(
        invoice_import=ImportOut.of(record),
        columns=table.columns,
        rows=[PreviewRowOut(row=row, values=values) for row, values in table.rows],
    )


class InvoiceImportController(Controller):
    """Upload → preview (every row-level error) → confirm → a job imports the file; GET follows its progress."""

    path = "/invoice-imports"
    tags = ["invoice imports"]

    @get("/")
    async def list_imports(
        self,
        db: AsyncSession,
        principal: Principal,
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = 20,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> ImportPage:
        total, rows = await imports.list_imports(db, principal, limit=limit, offset=offset)
        return ImportPage(items=[ImportOut.of(r) for r in rows], total=total, limit=limit, offset=offset)

    @post(
        "/",
        request_max_body_size=MAX_REQUEST_BYTES,
        summary="Upload a CSV or UBL 2.1 invoice file for preview",
        description=(
            "Multipart form with the file in `file`. The format is read from the content: UBL 2.1 / Peppol BIS 3 XML "
            "or CSV (columns in the README, 'Importing invoices'). Answers the preview: the first rows and every "
            "row-level error with its row number and field. Nothing is imported until the import is confirmed. "
            "A UBL document with any problem is refused (422, `field` naming the element); past 50 MB, 413."
        ),
    )
    async def upload(
        self,
        db: AsyncSession,
        principal: Principal,
        data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> PreviewOut:
        record = await imports.upload_import(db, principal, filename=data.filename, source=data.file)
        return await _preview(db, principal, record.id)

    @get("/{import_id:uuid}")
    async def get_import(self, db: AsyncSession, principal: Principal, import_id: uuid.UUID) -> ImportOut:
        return ImportOut.of(await imports.get_import(db, principal, import_id))

    @get("/{import_id:uuid}/preview")
    async def preview(self, db: AsyncSession, principal: Principal, import_id: uuid.UUID) -> PreviewOut:
        return await _preview(db, principal, import_id)

    @post("/{import_id:uuid}/confirm", status_code=202, summary="Confirm a previewed import: its job starts")
    async def confirm(self, db: AsyncSession, principal: Principal, import_id: uuid.UUID) -> ImportOut:
        return ImportOut.of(await imports.confirm_import(db, principal, import_id))


@dataclass
class LineIn:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal = Decimal(0)
    sku: str | None = None
    unit: str = "EA"


@dataclass
class InvoiceIn:
    number: str
    buyer_reference: str
    currency: str
    issue_date: date
    lines: list[LineIn]
    due_date: date | None = None
    delivery_date: date | None = None
    po_reference: str | None = None
    notes: str | None = None


@dataclass
class BulkIn:
    invoices: list[InvoiceIn]


@dataclass
class BulkOut:
    created: list[str]
    unchanged: list[str]


@dataclass
class BulkRefusalOut:
    status_code: int
    detail: str
    field: str | None
    errors: list[RowErrorOut] = field(default_factory=list)


class InvoiceBulkController(Controller):
    path = "/invoices/bulk"
    tags = ["invoices"]

    @post(
        "/",
        status_code=200,
        summary="Create many issued invoices at once (all or nothing)",
        description=(
            "Up to 1,000 invoices, each issued as it is (source `api`), totals computed from the lines. "
            "All or nothing: if any invoice has a problem, none is written and the answer is 422 listing every "
            "problem with its field, such as `invoices[3].lines[1].quantity`. An invoice whose number is already "
            "in the ledger is left unchanged and listed under `unchanged`, so a retried request is harmless."
        ),
    )
    async def bulk(self, db: AsyncSession, principal: Principal, data: BulkIn) -> Response[BulkOut | BulkRefusalOut]:
        drafts = [
            InvoiceDraft(
                number=invoice.number,
                buyer_reference=invoice.buyer_reference,
                currency=invoice.currency,
                issue_date=invoice.issue_date,
                due_date=invoice.due_date,
                delivery_date=invoice.delivery_date,
                po_reference=(invoice.po_reference or "").strip()[:64] or None,
                notes=invoice.notes,
                lines=[
                    LineDraft(
                        description=(line.description or "").strip()[:500],
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                        tax_rate=line.tax_rate,
                        sku=(line.sku or "").strip()[:64] or None,
                        unit=(line.unit or "EA").strip()[:16] or "EA",
                    )
                    for line in invoice.lines
                ],
            )
            for invoice in data.invoices
        ]
        try:
            result = await imports.import_invoices(db, principal, drafts)
        except imports.BulkRefused as refusal:
            await db.rollback()
            errors = [RowErrorOut(row=p.row, field=p.field, message=_message(p.message, p.params)) for p in refusal.problems]
            body = BulkRefusalOut(status_code=422, detail=errors[0].message, field=errors[0].field, errors=errors)
            return Response(body, status_code=422)
        return Response(BulkOut(created=result.created, unchanged=result.unchanged), status_code=200)
