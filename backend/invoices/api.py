from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Annotated, BinaryIO
from urllib.parse import quote

from litestar import Controller, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.errors import DomainError
from backend.http.pagination import MAX_LIMIT
from backend.invoices import orders, service
from backend.invoices.models import InvoiceSource, InvoiceStatus, StoredFile
from backend.invoices.repository import InvoiceFilter
from backend.invoices.schemas import (
    DeliveryIn,
    DeliveryOut,
    DeliveryPage,
    EntryIn,
    EntryOut,
    EntryPage,
    FileOut,
    InvoiceDetailOut,
    InvoiceIn,
    InvoiceOut,
    InvoicePage,
    OrderDetailOut,
    OrderIn,
    OrderOut,
    OrderPage,
    PaymentIn,
    checked_decimal,
)

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="At most this many items")]
Offset = Annotated[int, Parameter(ge=0, description="Skip this many items")]


@contextmanager
def _fields_as_sent() -> Iterator[None]:
    # The services name the entry date `entry_date`; the API calls it `date`.
    try:
        yield
    except DomainError as error:
        if error.field == "entry_date":
            error.field = "date"
        raise


async def _invoice_detail(db: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> InvoiceDetailOut:
    return InvoiceDetailOut.of_details(await orders.invoice_details(db, principal, invoice_id))


class InvoiceController(Controller):
    path = "/invoices"
    tags = ["invoices"]

    @get("/", summary="List invoices", description="Filters combine; `q` matches the invoice number or PO reference.")
    async def list_invoices(
        self,
        db: AsyncSession,
        principal: Principal,
        limit: Limit = 50,
        offset: Offset = 0,
        status: InvoiceStatus | None = None,
        buyer_id: uuid.UUID | None = None,
        overdue: Annotated[bool, Parameter(description="Only invoices past their due date with something open")] = False,
        currency: Annotated[str | None, Parameter(min_length=3, max_length=3)] = None,
        issued_from: date | None = None,
        issued_to: date | None = None,
        due_from: date | None = None,
        due_to: date | None = None,
        q: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> InvoicePage:
        where = InvoiceFilter(
            buyer_id=buyer_id,
            status=status,
            currency=currency and currency.upper(),
            overdue_on=date.today() if overdue else None,
            issued_from=issued_from,
            issued_to=issued_to,
            due_from=due_from,
            due_to=due_to,
            query=q,
        )
        total, rows = await service.list_invoices(db, principal, where, limit=limit, offset=offset)
        return InvoicePage(items=[InvoiceOut.of(i) for i in rows], total=total, limit=limit, offset=offset)

    @post(
        "/",
        summary="Create an invoice",
        description="Stored as a draft; with `issue: true` it is audited and issued in the same step, or not stored at all.",
    )
    async def create_invoice(self, db: AsyncSession, principal: Principal, data: InvoiceIn) -> InvoiceDetailOut:
        invoice = await service.create_invoice(db, principal, data.to_draft(), buyer_id=data.buyer_id, source=InvoiceSource.API)
        if data.issue:
            invoice = await service.issue_invoice(db, principal, invoice.id)
        return await _invoice_detail(db, principal, invoice.id)

    @get("/{invoice_id:uuid}", summary="Get an invoice with its lines, balance, order and deliveries")
    async def get_invoice(self, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> InvoiceDetailOut:
        return await _invoice_detail(db, principal, invoice_id)

    @post("/{invoice_id:uuid}/issue", summary="Issue a draft invoice", description="Runs the invoice audit first.")
    async def issue_invoice(self, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> InvoiceDetailOut:
        await service.issue_invoice(db, principal, invoice_id)
        return await _invoice_detail(db, principal, invoice_id)

    @get("/{invoice_id:uuid}/entries", summary="List the ledger entries allocated to an invoice")
    async def list_entries(self, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> EntryPage:
        invoice, rows = await orders.invoice_ledger(db, principal, invoice_id)
        items = [EntryOut.of(entry, [(allocation, invoice.number)]) for entry, allocation in rows]
        return EntryPage(items=items, total=len(items), limit=len(items), offset=0)


class LedgerController(Controller):
    path = "/"
    tags = ["ledger"]

    @post(
        "/payments",
        summary="Record a payment from a buyer",
        description="Allocated to the named invoices, else to the oldest open invoices first; the rest stays on account.",
    )
    async def record_payment(self, db: AsyncSession, principal: Principal, data: PaymentIn) -> EntryOut:
        with _fields_as_sent():
            entry = await service.record_payment(
                db,
                principal,
                buyer_id=data.buyer_id,
                amount=checked_decimal(data.amount, "amount"),
                currency=data.currency,
                entry_date=data.entry_date,
                document_number=data.document_number,
                allocations=data.allocation_plan(),
                reason=data.reason,
            )
        return await self._entry_out(db, principal, entry)

    @post("/invoices/{invoice_id:uuid}/credit-notes", summary="Record a credit note against an invoice")
    async def record_credit_note(self, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID, data: EntryIn) -> EntryOut:
        with _fields_as_sent():
            entry = await service.record_credit_note(db, principal, invoice_id, **data.details())
        return await self._entry_out(db, principal, entry)

    @post("/invoices/{invoice_id:uuid}/write-offs", summary="Write off what is open on an invoice, or part of it")
    async def record_write_off(self, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID, data: EntryIn) -> EntryOut:
        with _fields_as_sent():
            entry = await service.record_write_off(db, principal, invoice_id, **data.details())
        return await self._entry_out(db, principal, entry)

    @post(
        "/invoices/{invoice_id:uuid}/adjustments",
        summary="Adjust what is owed on an invoice",
        description="A positive amount adds to what the buyer owes (a late fee), a negative one takes from it.",
    )
    async def record_adjustment(self, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID, data: EntryIn) -> EntryOut:
        with _fields_as_sent():
            entry = await service.record_adjustment(db, principal, invoice_id, **data.details())
        return await self._entry_out(db, principal, entry)

    @get("/buyers/{buyer_id:uuid}/entries", summary="List a buyer's ledger entries, newest first")
    async def buyer_entries(
        self, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, limit: Limit = 50, offset: Offset = 0
    ) -> EntryPage:
        total, rows = await orders.buyer_entries(db, principal, buyer_id, limit=limit, offset=offset)
        return EntryPage(items=[EntryOut.of(e, a) for e, a in rows], total=total, limit=limit, offset=offset)

    @staticmethod
    async def _entry_out(db: AsyncSession, principal: Principal, entry) -> EntryOut:
        return EntryOut.of(entry, await orders.entry_allocations(db, principal, entry.id))


class OrderController(Controller):
    path = "/orders"
    tags = ["orders and deliveries"]

    @post("/", summary="Create a purchase order with its lines")
    async def create_order(self, db: AsyncSession, principal: Principal, data: OrderIn) -> OrderDetailOut:
        order = await orders.create_order(db, principal, data.to_input())
        return OrderDetailOut.of_details(await orders.order_details(db, principal, order.id))

    @get("/", summary="List purchase orders")
    async def list_orders(
        self,
        db: AsyncSession,
        principal: Principal,
        limit: Limit = 50,
        offset: Offset = 0,
        buyer_id: uuid.UUID | None = None,
        q: Annotated[str | None, Parameter(max_length=64, description="Part of the order number or contract")] = None,
    ) -> OrderPage:
        total, rows = await orders.list_orders(db, principal, buyer_id=buyer_id, query=q, limit=limit, offset=offset)
        return OrderPage(items=[OrderOut.of(o) for o in rows], total=total, limit=limit, offset=offset)

    @get("/{order_id:uuid}", summary="Get a purchase order with its lines, deliveries and invoices")
    async def get_order(self, db: AsyncSession, principal: Principal, order_id: uuid.UUID) -> OrderDetailOut:
        return OrderDetailOut.of_details(await orders.order_details(db, principal, order_id))


@dataclass
class ProofUpload:
    file: UploadFile


def _chunks(source: BinaryIO, size: int = 256 * 1024) -> Iterator[bytes]:
    try:
        while block := source.read(size):
            yield block
    finally:
        source.close()


def _disposition(filename: str, content_type: str) -> str:
    kind = "inline" if content_type in orders.PREVIEWABLE else "attachment"
    fallback = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class DeliveryController(Controller):
    path = "/deliveries"
    tags = ["orders and deliveries"]

    @post("/", summary="Record a delivery against an order or an invoice")
    async def create_delivery(self, db: AsyncSession, principal: Principal, data: DeliveryIn) -> DeliveryOut:
        delivery = await orders.create_delivery(db, principal, data.to_input())
        return DeliveryOut.of(delivery)

    @get("/", summary="List deliveries")
    async def list_deliveries(
        self,
        db: AsyncSession,
        principal: Principal,
        limit: Limit = 50,
        offset: Offset = 0,
        buyer_id: uuid.UUID | None = None,
        order_id: uuid.UUID | None = None,
        invoice_id: uuid.UUID | None = None,
    ) -> DeliveryPage:
        total, rows = await orders.list_deliveries(
            db, principal, buyer_id=buyer_id, order_id=order_id, invoice_id=invoice_id, limit=limit, offset=offset
        )
        return DeliveryPage(items=[DeliveryOut.of_details(d) for d in rows], total=total, limit=limit, offset=offset)

    @get("/{delivery_id:uuid}", summary="Get a delivery with its proof-of-delivery files")
    async def get_delivery(self, db: AsyncSession, principal: Principal, delivery_id: uuid.UUID) -> DeliveryOut:
        return DeliveryOut.of_details(await orders.delivery_details(db, principal, delivery_id))

    @post(
        "/{delivery_id:uuid}/files",
        summary="Upload a proof-of-delivery file",
        description="PDF, PNG, JPEG, WebP or TIFF (recognised by content), at most 20 MB; its SHA-256 is recorded.",
        # The form around the file may add a little; the file itself is held to the limit while it is copied.
        request_max_body_size=orders.MAX_PROOF_BYTES + 64 * 1024,
    )
    async def upload_file(
        self,
        db: AsyncSession,
        principal: Principal,
        delivery_id: uuid.UUID,
        data: Annotated[ProofUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> FileOut:
        stored = await orders.attach_proof(db, principal, delivery_id, filename=data.file.filename, source=data.file.file)
        return FileOut.of(stored)

    @get(
        "/{delivery_id:uuid}/files/{file_id:uuid}",
        summary="Download a proof-of-delivery file",
        description="Sent with the type its content was recognised as, `nosniff`, and a Content-Disposition.",
        media_type="application/octet-stream",
        response_description="The file's bytes: a PDF, PNG, JPEG, WebP or TIFF",
    )
    async def download_file(self, db: AsyncSession, principal: Principal, delivery_id: uuid.UUID, file_id: uuid.UUID) -> Stream:
        return proof_file_stream(*await orders.proof_file(db, principal, delivery_id, file_id))


def proof_file_stream(stored: StoredFile, content: BinaryIO) -> Stream:
    """A proof-of-delivery file as sent everywhere it is downloaded (API and console)."""
    return Stream(
        _chunks(content),
        media_type=stored.content_type,
        headers={
            "Content-Type": stored.content_type,
            "Content-Disposition": _disposition(stored.filename, stored.content_type),
            "Content-Length": str(stored.size),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "X-Checksum-SHA256": stored.sha256,
        },
    )
