"""What the ledger API reads and writes. Amounts travel as decimal strings ("1130.00"); input takes
strings or JSON numbers, decoded straight to Decimal (msgspec reads the number's text, never a float).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

import msgspec

from backend.errors import ValidationFailed
from backend.i18n import _
from backend.invoices.drafts import InvoiceDraft, LineDraft
from backend.invoices.models import Delivery, Invoice, InvoiceLine, LedgerEntry, OrderLine, PurchaseOrder, StoredFile
from backend.invoices.orders import (
    DeliveryDetails,
    DeliveryInput,
    InvoiceDetails,
    OrderDetails,
    OrderInput,
    OrderLineInput,
)
from backend.invoices.service import Balance, PaymentAllocation
from backend.money import ZERO, as_typed, minor_unit

# Numeric(19, 4) columns: 15 digits before the point, 4 after.
_LIMIT = Decimal(10) ** 15


def checked_decimal(value: Decimal | None, field: str, *, places: int = 4) -> Decimal | None:
    """A finite number the ledger can hold, or a 422 naming the field."""
    if value is None:
        return None
    if not value.is_finite() or abs(value) >= _LIMIT:
        raise ValidationFailed(_("Enter a number, such as 1250.00."), field=field)
    if value.as_tuple().exponent < -places:
        raise ValidationFailed(
            _("%(field)s has more than %(places)s decimals."), field=field, params={"field": field, "places": places}
        )
    return value


def amount_text(value: Decimal | None, currency: str) -> str | None:
    """An amount as a string with the currency's decimals ("1130.00"), or more when it has them (unit prices)."""
    if value is None:
        return None
    value = Decimal(value)
    unit = minor_unit(currency)
    rounded = value.quantize(unit)
    return format(rounded if rounded == value else value.normalize(), "f")


Text64 = Annotated[str, msgspec.Meta(max_length=64)]
Text100 = Annotated[str, msgspec.Meta(max_length=100)]
Text200 = Annotated[str, msgspec.Meta(max_length=200)]
Text500 = Annotated[str, msgspec.Meta(max_length=500)]
Text4000 = Annotated[str, msgspec.Meta(max_length=4000)]
Currency = Annotated[str, msgspec.Meta(min_length=3, max_length=3, description="ISO 4217 code, such as CNY")]
Number = Annotated[Decimal, msgspec.Meta(description='A decimal as a string ("1130.00") or a JSON number')]


# --- balances ------------------------------------------------------------------------------


@dataclass
class BalanceOut:
    currency: str
    open: str
    overdue: str
    current: str
    disputed: str
    undisputed: str

    @classmethod
    def of(cls, balance: Balance) -> BalanceOut:
        c = balance.currency
        return cls(
            c,
            amount_text(balance.open, c),
            amount_text(balance.overdue, c),
            amount_text(balance.open - balance.overdue, c),
            amount_text(balance.disputed, c),
            amount_text(balance.undisputed, c),
        )


# --- invoices ------------------------------------------------------------------------------


class LineIn(msgspec.Struct, forbid_unknown_fields=True):
    description: Text500
    quantity: Number
    unit_price: Number
    tax_rate: Annotated[Decimal, msgspec.Meta(description="Percent, 0–100: 13 for 13 %")] = ZERO
    sku: Text64 | None = None
    unit: Annotated[str, msgspec.Meta(max_length=16)] = "EA"


class InvoiceIn(msgspec.Struct, forbid_unknown_fields=True):
    buyer_id: uuid.UUID
    number: Text64
    currency: Currency
    issue_date: dt.date
    lines: list[LineIn]
    due_date: dt.date | None = None
    delivery_date: dt.date | None = None
    po_reference: Text64 | None = None
    notes: Text4000 | None = None
    issue: Annotated[bool, msgspec.Meta(description="Run the invoice audit and issue it at once")] = False

    def to_draft(self) -> InvoiceDraft:
        lines = []
        for index, line in enumerate(self.lines, start=1):
            prefix = f"lines[{index}]."
            lines.append(
                LineDraft(
                    description=line.description,
                    quantity=checked_decimal(line.quantity, prefix + "quantity"),
                    unit_price=checked_decimal(line.unit_price, prefix + "unit_price"),
                    tax_rate=checked_decimal(line.tax_rate, prefix + "tax_rate"),
                    sku=line.sku,
                    unit=line.unit,
                )
            )
        return InvoiceDraft(
            number=self.number,
            buyer_reference="",
            currency=self.currency,
            issue_date=self.issue_date,
            due_date=self.due_date,
            delivery_date=self.delivery_date,
            po_reference=self.po_reference,
            notes=self.notes,
            lines=lines,
        )


@dataclass
class InvoiceOut:
    id: uuid.UUID
    number: str
    buyer_id: uuid.UUID
    status: str
    currency: str
    issue_date: dt.date
    delivery_date: dt.date | None
    due_date: dt.date
    po_reference: str | None
    order_id: uuid.UUID | None
    net_amount: str
    tax_amount: str
    gross_amount: str
    open_amount: str
    disputed_amount: str
    source: str
    notes: str | None
    created_at: dt.datetime
    issued_at: dt.datetime | None

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceOut:
        c = invoice.currency
        return cls(
            invoice.id,
            invoice.number,
            invoice.buyer_id,
            invoice.status.value,
            c,
            invoice.issue_date,
            invoice.delivery_date,
            invoice.due_date,
            invoice.po_reference,
            invoice.order_id,
            amount_text(invoice.net_amount, c),
            amount_text(invoice.tax_amount, c),
            amount_text(invoice.gross_amount, c),
            amount_text(invoice.open_amount, c),
            amount_text(invoice.disputed_amount, c),
            invoice.source.value,
            invoice.notes,
            invoice.created_at,
            invoice.issued_at,
        )


@dataclass
class InvoiceLineOut:
    line_no: int
    sku: str | None
    description: str
    quantity: str
    unit: str
    unit_price: str
    tax_rate: str
    net_amount: str
    tax_amount: str
    gross_amount: str

    @classmethod
    def of(cls, line: InvoiceLine, currency: str) -> InvoiceLineOut:
        return cls(
            line.line_no,
            line.sku,
            line.description,
            as_typed(line.quantity),
            line.unit,
            amount_text(line.unit_price, currency),
            as_typed(line.tax_rate),
            amount_text(line.net_amount, currency),
            amount_text(line.tax_amount, currency),
            amount_text(line.gross_amount, currency),
        )


@dataclass
class InvoicePage:
    items: list[InvoiceOut]
    total: int
    limit: int
    offset: int


# --- orders and deliveries -----------------------------------------------------------------


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    description: Text500
    quantity: Number
    unit_price: Number
    tax_rate: Decimal = ZERO
    sku: Text64 | None = None
    unit: Annotated[str, msgspec.Meta(max_length=16)] = "EA"


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    buyer_id: uuid.UUID
    number: Text64
    order_date: dt.date
    currency: Currency
    lines: list[OrderLineIn]
    contract_reference: Text100 | None = None

    def to_input(self) -> OrderInput:
        lines = []
        for index, line in enumerate(self.lines, start=1):
            prefix = f"lines[{index}]."
            lines.append(
                OrderLineInput(
                    description=line.description,
                    quantity=checked_decimal(line.quantity, prefix + "quantity"),
                    unit_price=checked_decimal(line.unit_price, prefix + "unit_price"),
                    tax_rate=checked_decimal(line.tax_rate, prefix + "tax_rate"),
                    sku=line.sku,
                    unit=line.unit,
                )
            )
        return OrderInput(
            buyer_id=self.buyer_id,
            number=self.number,
            order_date=self.order_date,
            currency=self.currency,
            lines=lines,
            contract_reference=self.contract_reference,
        )


@dataclass
class OrderLineOut:
    line_no: int
    sku: str | None
    description: str
    quantity: str
    unit: str
    unit_price: str
    tax_rate: str

    @classmethod
    def of(cls, line: OrderLine, currency: str) -> OrderLineOut:
        return cls(
            line.line_no,
            line.sku,
            line.description,
            as_typed(line.quantity),
            line.unit,
            amount_text(line.unit_price, currency),
            as_typed(line.tax_rate),
        )


@dataclass
class OrderOut:
    id: uuid.UUID
    buyer_id: uuid.UUID
    number: str
    order_date: dt.date
    currency: str
    contract_reference: str | None
    created_at: dt.datetime

    @classmethod
    def of(cls, order: PurchaseOrder) -> OrderOut:
        return cls(
            order.id, order.buyer_id, order.number, order.order_date, order.currency, order.contract_reference, order.created_at
        )


@dataclass
class FileOut:
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: dt.datetime
    download_url: str

    @classmethod
    def of(cls, stored: StoredFile, download_url: str | None = None) -> FileOut:
        """A stored file as the API shows it; by default a delivery's proof (a case names its own address)."""
        return cls(
            stored.id,
            stored.filename,
            stored.content_type,
            stored.size,
            stored.sha256,
            stored.created_at,
            download_url or f"/api/v1/deliveries/{stored.owner_id}/files/{stored.id}",
        )


class DeliveryIn(msgspec.Struct, forbid_unknown_fields=True):
    number: Text64
    delivered_on: dt.date
    order_id: uuid.UUID | None = None
    invoice_id: uuid.UUID | None = None
    carrier: Text100 | None = None
    tracking_number: Text100 | None = None
    received_by: Text200 | None = None
    notes: Text4000 | None = None

    def to_input(self) -> DeliveryInput:
        return DeliveryInput(**msgspec.structs.asdict(self))


@dataclass
class DeliveryOut:
    id: uuid.UUID
    buyer_id: uuid.UUID
    number: str
    order_id: uuid.UUID | None
    invoice_id: uuid.UUID | None
    delivered_on: dt.date
    carrier: str | None
    tracking_number: str | None
    received_by: str | None
    notes: str | None
    created_at: dt.datetime
    files: list[FileOut]

    @classmethod
    def of(cls, delivery: Delivery, files: list[StoredFile] | tuple = ()) -> DeliveryOut:
        return cls(
            delivery.id,
            delivery.buyer_id,
            delivery.number,
            delivery.order_id,
            delivery.invoice_id,
            delivery.delivered_on,
            delivery.carrier,
            delivery.tracking_number,
            delivery.received_by,
            delivery.notes,
            delivery.created_at,
            [FileOut.of(f) for f in files],
        )

    @classmethod
    def of_details(cls, details: DeliveryDetails) -> DeliveryOut:
        return cls.of(details.delivery, list(details.files))


@dataclass
class DeliveryPage:
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int


@dataclass
class OrderWithLinesOut(OrderOut):
    lines: list[OrderLineOut]

    @classmethod
    def of_lines(cls, order: PurchaseOrder, lines) -> OrderWithLinesOut:
        return cls(**vars(OrderOut.of(order)), lines=[OrderLineOut.of(line, order.currency) for line in lines])


@dataclass
class OrderDetailOut(OrderWithLinesOut):
    deliveries: list[DeliveryOut]
    invoice_ids: list[uuid.UUID]

    @classmethod
    def of_details(cls, details: OrderDetails) -> OrderDetailOut:
        return cls(
            **vars(OrderWithLinesOut.of_lines(details.order, details.lines)),
            deliveries=[DeliveryOut.of(d) for d in details.deliveries],
            invoice_ids=[i.id for i in details.invoices],
        )


@dataclass
class OrderPage:
    items: list[OrderOut]
    total: int
    limit: int
    offset: int


@dataclass
class InvoiceDetailOut(InvoiceOut):
    lines: list[InvoiceLineOut]
    balance: BalanceOut
    order: OrderWithLinesOut | None
    deliveries: list[DeliveryOut]

    @classmethod
    def of_details(cls, details: InvoiceDetails) -> InvoiceDetailOut:
        invoice = details.invoice
        return cls(
            **vars(InvoiceOut.of(invoice)),
            lines=[InvoiceLineOut.of(line, invoice.currency) for line in details.lines],
            balance=BalanceOut.of(details.balance),
            order=OrderWithLinesOut.of_lines(details.order, details.order_lines) if details.order else None,
            deliveries=[DeliveryOut.of_details(d) for d in details.deliveries],
        )


# --- ledger entries ------------------------------------------------------------------------


class AllocationIn(msgspec.Struct, forbid_unknown_fields=True):
    invoice_id: uuid.UUID
    amount: Number


class PaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    buyer_id: uuid.UUID
    amount: Number
    currency: Currency
    entry_date: dt.date | None = msgspec.field(default=None, name="date")
    document_number: Text64 | None = None
    allocations: list[AllocationIn] | None = None
    reason: Text500 | None = None

    def allocation_plan(self) -> list[PaymentAllocation] | None:
        if self.allocations is None:
            return None
        return [
            PaymentAllocation(a.invoice_id, checked_decimal(a.amount, f"allocations[{i}].amount"))
            for i, a in enumerate(self.allocations, start=1)
        ]


class EntryIn(msgspec.Struct, forbid_unknown_fields=True):
    """A credit note, write-off or adjustment against one invoice."""

    amount: Number
    entry_date: dt.date | None = msgspec.field(default=None, name="date")
    document_number: Text64 | None = None
    reason: Text500 | None = None

    def details(self) -> dict:
        return {
            "amount": checked_decimal(self.amount, "amount"),
            "entry_date": self.entry_date,
            "document_number": self.document_number,
            "reason": self.reason,
        }


@dataclass
class AllocationOut:
    invoice_id: uuid.UUID
    invoice_number: str
    amount: str


@dataclass
class EntryOut:
    id: uuid.UUID
    buyer_id: uuid.UUID
    kind: str
    document_number: str
    date: dt.date
    currency: str
    amount: str
    unallocated_amount: str
    reason: str | None
    created_by: str | None
    created_at: dt.datetime
    allocations: list[AllocationOut]

    @classmethod
    def of(cls, entry: LedgerEntry, allocations: list[tuple]) -> EntryOut:
        c = entry.currency
        return cls(
            entry.id,
            entry.buyer_id,
            entry.kind.value,
            entry.document_number,
            entry.entry_date,
            c,
            amount_text(entry.amount, c),
            amount_text(entry.unallocated_amount, c),
            entry.reason,
            entry.created_by,
            entry.created_at,
            [AllocationOut(a.invoice_id, number, amount_text(a.amount, c)) for a, number in allocations],
        )


@dataclass
class EntryPage:
    items: list[EntryOut]
    total: int
    limit: int
    offset: int
