"""Purchase orders and deliveries, with their proof-of-delivery files: what a dispute and a claim file show
beside an invoice. The only code that changes orders and deliveries.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.buyers.repository import BuyerRepository
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.files import uploads
from backend.i18n import _
from backend.invoices.drafts import validate_lines
from backend.invoices.models import Delivery, Invoice, InvoiceLine, OrderLine, PurchaseOrder, StoredFile
from backend.invoices.repository import DeliveryRepository, InvoiceRepository, LedgerRepository, OrderRepository
from backend.invoices.service import Balance, get_invoice, invoice_balance
from backend.money import ZERO, is_currency

DELIVERY_FILE = "delivery"
MAX_PROOF_BYTES = uploads.MAX_UPLOAD_BYTES
FileTooLarge = uploads.FileTooLarge
PREVIEWABLE = uploads.PREVIEWABLE


# --- purchase orders -----------------------------------------------------------------------


@dataclass
class OrderLineInput:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal = ZERO
    sku: str | None = None
    unit: str = "EA"


@dataclass
class OrderInput:
    buyer_id: uuid.UUID
    number: str
    order_date: date
    currency: str
    lines: list[OrderLineInput] = field(default_factory=list)
    contract_reference: str | None = None


def order_view(order: PurchaseOrder, lines: Sequence[OrderLine]) -> dict:
    return {
        "number": order.number,
        "buyer_id": str(order.buyer_id),
        "order_date": order.order_date.isoformat(),
        "currency": order.currency,
        "contract_reference": order.contract_reference,
        "lines": [
            {"sku": x.sku, "description": x.description, "quantity": str(x.quantity), "unit_price": str(x.unit_price)}
            for x in lines
        ],
    }


def _text(value: str | None, limit: int, field_name: str, *, required_message: str | None = None) -> str | None:
    value = (value or "").strip()
    if not value and required_message:
        raise ValidationFailed(required_message, field=field_name)
    if len(value) > limit:
        raise ValidationFailed(
            _("%(field)s is longer than %(limit)s characters."), field=field_name, params={"field": field_name, "limit": limit}
        )
    return value or None


async def create_order(session: AsyncSession, principal: Principal, data: OrderInput) -> PurchaseOrder:
    require(principal, Permission.EDIT_LEDGER)
    buyer = await BuyerRepository(session).get(data.buyer_id)
    if buyer is None:
        raise ValidationFailed(_("The buyer is not one of your buyers."), field="buyer_id")
    number = _text(data.number, 64, "number", required_message=_("Enter the purchase order number."))
    currency = (data.currency or "").strip().upper()
    if not is_currency(currency):
        raise ValidationFailed(_("Unknown currency code: %(value)s."), field="currency", params={"value": data.currency or ""})
    if data.order_date > date.today() + timedelta(days=1):
        raise ValidationFailed(_("The order date is in the future."), field="order_date")
    if not data.lines:
        raise ValidationFailed(_("An order needs at least one line."), field="lines")
    if problems := validate_lines(data.lines):
        raise ValidationFailed(problems[0].message, field=problems[0].field, params=problems[0].args)
    lines = []
    for index, line in enumerate(data.lines, start=1):
        prefix = f"lines[{index}]."
        description = line.description.strip()
        lines.append(
            OrderLine(
                line_no=index,
                sku=_text(line.sku, 64, prefix + "sku"),
                description=description,
                quantity=line.quantity,
                unit=_text(line.unit, 16, prefix + "unit") or "EA",
                unit_price=line.unit_price,
                tax_rate=line.tax_rate,
            )
        )
    if await OrderRepository(session).by_number(buyer.id, number):
        raise Conflict(_("This buyer already has an order with this number."), field="number")
    order = PurchaseOrder(
        buyer_id=buyer.id,
        number=number,
        order_date=data.order_date,
        currency=currency,
        contract_reference=_text(data.contract_reference, 100, "contract_reference"),
    )
    session.add(order)
    await session.flush()
    for line in lines:
        line.order_id = order.id
        session.add(line)
    await session.flush()
    audit.record(session, principal.actor(), "order.created", "order", order.id, after=order_view(order, lines))
    return order


async def get_order(session: AsyncSession, principal: Principal, order_id: uuid.UUID) -> PurchaseOrder:
    require(principal, Permission.READ_LEDGER)
    order = await OrderRepository(session).get(order_id)
    if order is None:
        raise NotFound(_("Not found."))
    return order


@dataclass
class OrderDetails:
    order: PurchaseOrder
    lines: Sequence[OrderLine]
    deliveries: Sequence[Delivery]
    invoices: Sequence[Invoice]


async def order_details(session: AsyncSession, principal: Principal, order_id: uuid.UUID) -> OrderDetails:
    order = await get_order(session, principal, order_id)
    repository = OrderRepository(session)
    return OrderDetails(
        order,
        await repository.lines(order.id),
        await DeliveryRepository(session).of_order(order.id),
        await repository.invoices(order.id),
    )


async def list_orders(
    session: AsyncSession,
    principal: Principal,
    *,
    buyer_id: uuid.UUID | None = None,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, Sequence[PurchaseOrder]]:
    require(principal, Permission.READ_LEDGER)
    return await OrderRepository(session).page(buyer_id=buyer_id, query=query, limit=limit, offset=offset)


# --- deliveries ----------------------------------------------------------------------------


@dataclass
class DeliveryInput:
    number: str
    delivered_on: date
    order_id: uuid.UUID | None = None
    invoice_id: uuid.UUID | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    received_by: str | None = None
    notes: str | None = None


def delivery_view(delivery: Delivery) -> dict:
    return {
        "number": delivery.number,
        "buyer_id": str(delivery.buyer_id),
        "order_id": delivery.order_id and str(delivery.order_id),
        "invoice_id": delivery.invoice_id and str(delivery.invoice_id),
        "delivered_on": delivery.delivered_on.isoformat(),
        "carrier": delivery.carrier,
        "tracking_number": delivery.tracking_number,
        "received_by": delivery.received_by,
    }


async def create_delivery(session: AsyncSession, principal: Principal, data: DeliveryInput) -> Delivery:
    """A delivery against an order, an invoice or both; the buyer is theirs (and must be the same)."""
    require(principal, Permission.EDIT_LEDGER)
    number = _text(data.number, 64, "number", required_message=_("Enter the delivery note number."))
    if data.order_id is None and data.invoice_id is None:
        raise ValidationFailed(_("Name the order or the invoice this delivery fulfils."), field="order_id")
    buyer_id = None
    if data.order_id is not None:
        order = await OrderRepository(session).get(data.order_id)
        if order is None:
            raise ValidationFailed(_("The order is not one of your orders."), field="order_id")
        buyer_id = order.buyer_id
    if data.invoice_id is not None:
        invoice = await InvoiceRepository(session).get(data.invoice_id)
        if invoice is None:
            raise ValidationFailed(_("The invoice is not one of your invoices."), field="invoice_id")
        if buyer_id is not None and invoice.buyer_id != buyer_id:
            raise ValidationFailed(_("The invoice and the order belong to different buyers."), field="invoice_id")
        buyer_id = invoice.buyer_id
    if data.delivered_on > date.today() + timedelta(days=1):
        raise ValidationFailed(_("The delivery date is in the future."), field="delivered_on")
    if await DeliveryRepository(session).by_number(number):
        raise Conflict(_("A delivery with this number already exists."), field="number")
    delivery = Delivery(
        buyer_id=buyer_id,
        number=number,
        order_id=data.order_id,
        invoice_id=data.invoice_id,
        delivered_on=data.delivered_on,
        carrier=_text(data.carrier, 100, "carrier"),
        tracking_number=_text(data.tracking_number, 100, "tracking_number"),
        received_by=_text(data.received_by, 200, "received_by"),
        notes=_text(data.notes, 4000, "notes"),
    )
    session.add(delivery)
    await session.flush()
    audit.record(session, principal.actor(), "delivery.created", "delivery", delivery.id, after=delivery_view(delivery))
    return delivery


async def get_delivery(session: AsyncSession, principal: Principal, delivery_id: uuid.UUID) -> Delivery:
    require(principal, Permission.READ_LEDGER)
    delivery = await DeliveryRepository(session).get(delivery_id)
    if delivery is None:
        raise NotFound(_("Not found."))
    return delivery


@dataclass
class DeliveryDetails:
    delivery: Delivery
    files: Sequence[StoredFile]


async def delivery_details(session: AsyncSession, principal: Principal, delivery_id: uuid.UUID) -> DeliveryDetails:
    delivery = await get_delivery(session, principal, delivery_id)
    return DeliveryDetails(delivery, await DeliveryRepository(session).files(DELIVERY_FILE, [delivery.id]))


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    *,
    buyer_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None,
    invoice_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[DeliveryDetails]]:
    require(principal, Permission.READ_LEDGER)
    repository = DeliveryRepository(session)
    total, rows = await repository.page(buyer_id=buyer_id, order_id=order_id, invoice_id=invoice_id, limit=limit, offset=offset)
    return total, await _with_files(repository, rows)


async def _with_files(repository: DeliveryRepository, deliveries: Sequence[Delivery]) -> list[DeliveryDetails]:
    files: dict[uuid.UUID, list[StoredFile]] = {}
    for stored in await repository.files(DELIVERY_FILE, [d.id for d in deliveries]):
        files.setdefault(stored.owner_id, []).append(stored)
    return [DeliveryDetails(d, files.get(d.id, [])) for d in deliveries]


# --- proof-of-delivery files ---------------------------------------------------------------


async def attach_proof(
    session: AsyncSession,
    principal: Principal,
    delivery_id: uuid.UUID,
    *,
    filename: str | None,
    source: BinaryIO,
    max_bytes: int = MAX_PROOF_BYTES,
) -> StoredFile:
    """Store a proof-of-delivery file: type checked by content, size capped while copying, SHA-256 recorded."""
    require(principal, Permission.EDIT_LEDGER)
    delivery = await get_delivery(session, principal, delivery_id)
    stored = await uploads.store_upload(
        session,
        owner_type=DELIVERY_FILE,
        owner_id=delivery.id,
        filename=filename,
        source=source,
        refused_type_message=_("Proof of delivery must be a PDF, PNG, JPEG, WebP or TIFF file."),
        fallback_name="proof-of-delivery",
        max_bytes=max_bytes,
    )
    audit.record(
        session,
        principal.actor(),
        "delivery.proof_attached",
        "delivery",
        delivery.id,
        after={"file_id": str(stored.id), "filename": stored.filename, "size": stored.size, "sha256": stored.sha256},
    )
    return stored


async def proof_file(
    session: AsyncSession, principal: Principal, delivery_id: uuid.UUID, file_id: uuid.UUID
) -> tuple[StoredFile, BinaryIO]:
    """The file's record and its content, opened for reading (the caller closes it)."""
    delivery = await get_delivery(session, principal, delivery_id)
    stored = await DeliveryRepository(session).file(file_id)
    if stored is None or stored.owner_type != DELIVERY_FILE or stored.owner_id != delivery.id:
        raise NotFound(_("Not found."))
    return stored, await uploads.open_stored(session, stored)


# --- an invoice with everything around it --------------------------------------------------


@dataclass
class InvoiceDetails:
    invoice: Invoice
    lines: Sequence[InvoiceLine]
    balance: Balance
    order: PurchaseOrder | None
    order_lines: Sequence[OrderLine]
    deliveries: list[DeliveryDetails]


async def invoice_details(
    session: AsyncSession, principal: Principal, invoice_id: uuid.UUID, *, today: date | None = None
) -> InvoiceDetails:
    invoice = await get_invoice(session, principal, invoice_id)
    orders = OrderRepository(session)
    order = await orders.get(invoice.order_id) if invoice.order_id else None
    deliveries = DeliveryRepository(session)
    return InvoiceDetails(
        invoice,
        await InvoiceRepository(session).lines(invoice.id),
        invoice_balance(invoice, today or date.today()),
        order,
        await orders.lines(order.id) if order else [],
        await _with_files(deliveries, await deliveries.for_invoice(invoice)),
    )


async def buyer_entries(session: AsyncSession, principal: Principal, buyer_id: uuid.UUID, *, limit: int = 50, offset: int = 0):
    """A buyer's ledger entries, newest first, each with where it was allocated."""
    require(principal, Permission.READ_LEDGER)
    if await BuyerRepository(session).get(buyer_id) is None:
        raise NotFound(_("Not found."))
    ledger = LedgerRepository(session)
    total, entries = await ledger.page_of_buyer(buyer_id, limit=limit, offset=offset)
    allocations = await ledger.allocations_of_entries([e.id for e in entries])
    return total, [(entry, allocations.get(entry.id, [])) for entry in entries]


async def entry_allocations(session: AsyncSession, principal: Principal, entry_id: uuid.UUID) -> list[tuple]:
    require(principal, Permission.READ_LEDGER)
    return list(await LedgerRepository(session).allocations_of_entry(entry_id))


async def invoice_ledger(session: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> tuple[Invoice, list[tuple]]:
    """The invoice and the entries allocated to it, each with its allocation."""
    invoice = await get_invoice(session, principal, invoice_id)
    return invoice, list(await LedgerRepository(session).entries_of_invoice(invoice.id))
