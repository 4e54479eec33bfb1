"""The CSV format of invoice imports: one row per invoice line; the rows of one invoice number are one invoice.

UTF-8, with or without a byte-order mark, comma-separated, the first row naming the columns (in any
order, case-insensitive; unknown columns are ignored):

| column | required | meaning |
|---|---|---|
| invoice_number | yes | the supplier's invoice number (at most 64 characters); rows of one invoice are consecutive |
| buyer_reference | yes | the buyer's customer number (`reference` of a buyer in Accord) |
| currency | yes | ISO 4217 code, such as CNY, EUR, USD |
| issue_date | yes | yyyy-mm-dd |
| due_date | no | yyyy-mm-dd; empty: the issue date plus the buyer's payment terms |
| delivery_date | no | yyyy-mm-dd |
| po_reference | no | the buyer's purchase-order number; linked to the order when Accord has it |
| sku | no | the product code |
| description | yes | what the line bills |
| quantity | yes | a number above zero ("1,200.5" is read as 1200.5) |
| unit | no | unit of measure (UN/ECE rec. 20 code or free text, default EA) |
| unit_price | yes | price per unit, not negative, in the invoice's currency |
| tax_rate | yes | percent, 0-100 (13 means 13 %) |

Every row repeats its invoice's columns (number, buyer, currency and dates); a row that disagrees
with the first row of its invoice is an error. Row numbers are the file's: the header is row 1, the
first invoice line row 2, as a spreadsheet shows them. Totals are computed from the lines, never
read from the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import TextIO

from backend.errors import ValidationFailed
from backend.i18n import _
from backend.invoices.drafts import MAX_NUMBER, InvoiceDraft, LineDraft
from backend.money import known_currencies

REQUIRED_COLUMNS = (
    "invoice_number",
    "buyer_reference",
    "currency",
    "issue_date",
    "description",
    "quantity",
    "unit_price",
    "tax_rate",
)
OPTIONAL_COLUMNS = ("due_date", "delivery_date", "po_reference", "sku", "unit")
# In the documented order, for previews.
COLUMNS = (
    "invoice_number",
    "buyer_reference",
    "currency",
    "issue_date",
    "due_date",
    "delivery_date",
    "po_reference",
    "sku",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "tax_rate",
)
# Columns every row of one invoice repeats, so they must agree.
INVOICE_COLUMNS = ("buyer_reference", "currency", "issue_date", "due_date", "delivery_date", "po_reference")

FIRST_DATA_ROW = 2


@dataclass(frozen=True)
class RowError:
    """A problem of one row (or, for bulk JSON, one invoice), naming the field; `message` is an English msgid."""

    row: int
    field: str
    message: str
    params: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": self.message, "params": self.params}


@dataclass
class Candidate:
    """One invoice read from a file: its draft (None when a row was bad), the rows it came from, how to find its buyer."""

    number: str
    rows: list[int]
    draft: InvoiceDraft | None
    buyer_keys: tuple[str, ...]
    failed: bool = False


@dataclass
class Chunk:
    """Consecutive rows of a file, cut at an invoice boundary; `rows` data rows, the first at `first_row`."""

    first_row: int
    rows: int
    candidates: list[Candidate]
    errors: list[RowError]


def text_of(binary) -> TextIO:
    import io

    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def read_header(reader) -> dict[str, int]:
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationFailed(_("The file is empty."), field="file") from None
    columns = {name.strip().lower(): index for index, name in enumerate(header)}
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            raise ValidationFailed(_("The file has no %(column)s column."), field=name, params={"column": name})
    return columns


def _decode_errors(stream: TextIO):
    try:
        yield from csv.reader(stream)
    except UnicodeDecodeError:
        raise ValidationFailed(_("The file is not UTF-8 text."), field="file") from None
    except csv.Error as error:
        raise ValidationFailed(_("The file is not valid CSV: %(reason)s"), field="file", params={"reason": str(error)}) from None


def scattered_numbers(stream: TextIO) -> set[str]:
    """Invoice numbers whose rows are not consecutive: such an invoice is refused whole, never imported in part."""
    reader = _decode_errors(stream)
    columns = read_header(reader)
    at = columns["invoice_number"]
    finished: set[str] = set()
    scattered: set[str] = set()
    current = None
    for record in reader:
        if not "".join(record).strip():
            continue
        number = record[at].strip() if at < len(record) else ""
        if number != current:
            if number in finished:
                scattered.add(number)
            if current is not None:
                finished.add(current)
            current = number
    return scattered


def _date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def _decimal(value: str) -> Decimal:
    result = Decimal(value.replace(",", "").replace(" ", ""))
    if not result.is_finite():
        raise InvalidOperation
    return result


# The cells a row is read from, in this order (`_Rows.parse` unpacks them so).
_ROW_CELLS = (
    "invoice_number",
    *INVOICE_COLUMNS,
    "description",
    "quantity",
    "unit_price",
    "tax_rate",
    "sku",
    "unit",
)


class _Rows:
    """Reads data rows into invoices, row by row, checking each field and naming the bad ones."""

    def __init__(self, columns: dict[str, int], scattered: set[str]) -> None:
        # A row is cut or padded to the header's width plus one empty cell, which absent columns point at.
        self.width = max(columns.values()) + 1
        self.cells = itemgetter(*(columns.get(name, self.width) for name in _ROW_CELLS))
        self.scattered = scattered
        self.currencies = known_currencies()

    def parse(self, row: int, record: list[str], errors: list[RowError]) -> tuple[dict, LineDraft | None]:
        width = self.width
        if len(record) != width:
            record = record[:width] + [""] * (width - len(record))
        record.append("")
        number, buyer, currency, issue, due, delivery, po, description, *raw_amounts, sku, unit = [
            cell.strip() for cell in self.cells(record)
        ]
        before = len(errors)
        if not number:
            errors.append(RowError(row, "invoice_number", _("The invoice number is missing.")))
        elif len(number) > MAX_NUMBER:
            errors.append(RowError(row, "invoice_number", _("The invoice number is longer than 64 characters.")))
        elif number in self.scattered:
            errors.append(
                RowError(row, "invoice_number", _("The rows of invoice %(number)s are not consecutive."), {"number": number})
            )
        if not buyer:
            errors.append(RowError(row, "buyer_reference", _("The buyer is missing.")))
        currency = currency.upper()
        if currency not in self.currencies:
            errors.append(RowError(row, "currency", _("Unknown currency code: %(value)s."), {"value": currency}))
        dates = []
        for name, raw in (("issue_date", issue), ("due_date", due), ("delivery_date", delivery)):
            try:
                dates.append(_date(raw))
            except ValueError:
                errors.append(
                    RowError(row, name, _("%(field)s is not a date as yyyy-mm-dd: %(value)s."), {"field": name, "value": raw})
                )
                dates.append(None)
        if not issue:
            errors.append(RowError(row, "issue_date", _("The issue date is missing.")))
        head = {
            "invoice_number": number,
            "buyer_reference": buyer,
            "currency": currency,
            "issue_date": dates[0],
            "due_date": dates[1],
            "delivery_date": dates[2],
            "po_reference": po,
        }
        amounts = []
        for name, raw in zip(("quantity", "unit_price", "tax_rate"), raw_amounts, strict=True):
            try:
                amounts.append(_decimal(raw))
            except (InvalidOperation, ValueError):
                errors.append(RowError(row, name, _("%(field)s is not a number: %(value)s."), {"field": name, "value": raw}))
                amounts.append(None)
        quantity, unit_price, tax_rate = amounts
        if quantity is not None and quantity <= 0:
            errors.append(RowError(row, "quantity", _("The quantity must be above zero.")))
        if unit_price is not None and unit_price < 0:
            errors.append(RowError(row, "unit_price", _("The unit price is negative.")))
        if tax_rate is not None and not (0 <= tax_rate <= 100):
            errors.append(RowError(row, "tax_rate", _("The tax rate must be 0–100 %%.")))
        if not description:
            errors.append(RowError(row, "description", _("The line has no description.")))
        if len(errors) > before:
            return head, None
        line = LineDraft(
            description=description[:500],
            quantity=quantity,
            unit_price=unit_price,
            tax_rate=tax_rate,
            sku=sku[:64] or None,
            unit=unit[:16] or "EA",
        )
        return head, line


def read_chunks(stream: TextIO, *, scattered: set[str], chunk_rows: int = 2000, skip_rows: int = 0) -> Iterator[Chunk]:
    """The file's invoices in chunks of about `chunk_rows` rows, never splitting an invoice.

    `skip_rows` data rows (a finished chunk's worth, from an earlier run of the same import) are read past.
    """
    reader = _decode_errors(stream)
    rows = _Rows(read_header(reader), scattered)
    row = FIRST_DATA_ROW - 1
    for _skipped in range(skip_rows):
        if next(reader, None) is None:
            return
        row += 1

    chunk = Chunk(first_row=row + 1, rows=0, candidates=[], errors=[])
    current: Candidate | None = None
    current_head: dict | None = None
    for record in reader:
        row += 1
        if not "".join(record).strip():
            chunk.rows += 1  # a blank line: counted, so row numbers and progress stay the file's
            continue
        errors_before = len(chunk.errors)
        head, line = rows.parse(row, record, chunk.errors)
        number = head["invoice_number"]
        if current is None or number != current.number:
            if current is not None and chunk.rows >= chunk_rows:
                yield chunk
                chunk = Chunk(first_row=row, rows=0, candidates=[], errors=[])
            current = Candidate(number=number, rows=[], draft=None, buyer_keys=(head["buyer_reference"],))
            current_head = head
            chunk.candidates.append(current)
            if line is not None:
                current.draft = InvoiceDraft(
                    number=number,
                    buyer_reference=head["buyer_reference"],
                    currency=head["currency"],
                    issue_date=head["issue_date"],
                    due_date=head["due_date"],
                    delivery_date=head["delivery_date"],
                    po_reference=head["po_reference"] or None,
                    lines=[],
                )
        elif line is not None:
            for name in INVOICE_COLUMNS:
                if head[name] != current_head[name]:
                    chunk.errors.append(
                        RowError(row, name, _("%(field)s differs from the invoice's first row."), {"field": name})
                    )
                    line = None
                    break
        chunk.rows += 1
        current.rows.append(row)
        if line is None or len(chunk.errors) > errors_before:
            current.failed = True
        elif current.draft is not None:
            current.draft.lines.append(line)
    if chunk.rows:
        yield chunk


def first_rows(stream: TextIO, limit: int = 20) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header's known columns and the first data rows (with their row numbers), for a preview table."""
    reader = _decode_errors(stream)
    columns = read_header(reader)
    shown = [name for name in COLUMNS if name in columns]
    result = []
    for row, record in enumerate(reader, start=FIRST_DATA_ROW):
        if len(result) >= limit:
            break
        result.append((row, [record[columns[name]] if columns[name] < len(record) else "" for name in shown]))
    return shown, result
