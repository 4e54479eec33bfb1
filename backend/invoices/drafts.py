"""An invoice as it arrives (console form, API, CSV row group, UBL document), before it is stored.

Parsers produce drafts; `validate_draft` names every problem by field; the service stores only
drafts that passed. Totals are always computed here from the lines, never taken on trust.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from backend.i18n import _
from backend.money import LARGEST_AMOUNT, ZERO, is_currency, round_money, storable


@dataclass
class LineDraft:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal = ZERO  # percent
    sku: str | None = None
    unit: str = "EA"


@dataclass
class InvoiceDraft:
    number: str
    buyer_reference: str
    currency: str
    issue_date: date
    due_date: date | None
    lines: list[LineDraft]
    delivery_date: date | None = None
    po_reference: str | None = None
    notes: str | None = None
    # Totals the source document states (UBL): checked against the computed ones, never stored as such.
    stated_net: Decimal | None = None
    stated_tax: Decimal | None = None
    stated_gross: Decimal | None = None


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LineTotals:
    net: Decimal
    tax: Decimal
    gross: Decimal


def line_totals(line: LineDraft, currency: str) -> LineTotals:
    net = round_money(line.quantity * line.unit_price, currency)
    tax = round_money(net * line.tax_rate / 100, currency)
    return LineTotals(net, tax, net + tax)


def invoice_totals(draft: InvoiceDraft) -> LineTotals:
    totals = [line_totals(line, draft.currency) for line in draft.lines]
    net = sum((t.net for t in totals), ZERO)
    tax = sum((t.tax for t in totals), ZERO)
    return LineTotals(net, tax, net + tax)


MAX_NUMBER = 64


def validate_lines(lines) -> list[Problem]:
    """The problems of invoice or order lines (anything with description, quantity, unit_price, tax_rate,
    sku and unit), each named `lines[n].field`."""
    problems: list[Problem] = []
    for index, line in enumerate(lines, start=1):
        prefix = f"lines[{index}]."
        if not (line.description or "").strip():
            problems.append(Problem(prefix + "description", _("Line %(line)s has no description."), {"line": index}))
        if line.quantity <= 0:
            problems.append(Problem(prefix + "quantity", _("Line %(line)s: the quantity must be above zero."), {"line": index}))
        if line.unit_price < 0:
            problems.append(Problem(prefix + "unit_price", _("Line %(line)s: the unit price is negative."), {"line": index}))
        if not (ZERO <= line.tax_rate <= 100):
            problems.append(Problem(prefix + "tax_rate", _("Line %(line)s: the tax rate must be 0–100 %%."), {"line": index}))
        for name, value in (("quantity", line.quantity), ("unit_price", line.unit_price), ("tax_rate", line.tax_rate)):
            if not storable(value):
                problems.append(
                    Problem(
                        prefix + name,
                        _("Line %(line)s: %(field)s takes at most 15 digits before the decimal point and 4 after it."),
                        {"line": index, "field": name},
                    )
                )
        for name, value, limit in (("sku", line.sku, 64), ("unit", line.unit, 16), ("description", line.description, 500)):
            if value and len(value) > limit:
                problems.append(
                    Problem(
                        prefix + name,
                        _("Line %(line)s: %(field)s is longer than %(limit)s characters."),
                        {"line": index, "field": name, "limit": limit},
                    )
                )
    return problems


def validate_draft(draft: InvoiceDraft, *, buyer_named_apart: bool = False) -> list[Problem]:
    """Every problem of the draft itself (not of its buyer or number's uniqueness), each naming its field.

    `buyer_named_apart`: the caller names the buyer by id, so the draft needs no buyer reference.
    """
    problems: list[Problem] = []
    if not draft.number or not draft.number.strip():
        problems.append(Problem("number", _("The invoice number is missing.")))
    elif len(draft.number) > MAX_NUMBER:
        problems.append(Problem("number", _("The invoice number is longer than 64 characters.")))
    if not draft.buyer_reference and not buyer_named_apart:
        problems.append(Problem("buyer_reference", _("The buyer is missing.")))
    if not is_currency(draft.currency):
        problems.append(Problem("currency", _("Unknown currency code: %(value)s."), {"value": draft.currency or ""}))
    if draft.due_date is not None and draft.due_date < draft.issue_date:
        problems.append(Problem("due_date", _("The due date is before the issue date.")))
    if not draft.lines:
        problems.append(Problem("lines", _("An invoice needs at least one line.")))
    problems += validate_lines(draft.lines)
    if draft.po_reference and len(draft.po_reference) > MAX_NUMBER:
        problems.append(Problem("po_reference", _("The purchase-order number is longer than 64 characters.")))
    if not problems and _gross_bound(draft) >= LARGEST_AMOUNT:
        problems.append(Problem("lines", _("The invoice's total is larger than Accord can hold (10^15).")))
    if not problems and is_currency(draft.currency):
        problems += _stated_totals_problems(draft)
    return problems


def _gross_bound(draft: InvoiceDraft) -> Decimal:
    """An upper bound of the gross total (each line's net plus its tax), cheap enough for every imported row."""
    return sum((abs(line.quantity * line.unit_price) * (1 + line.tax_rate / 100) for line in draft.lines), ZERO)


def _stated_totals_problems(draft: InvoiceDraft) -> list[Problem]:
    if draft.stated_net is None and draft.stated_tax is None and draft.stated_gross is None:
        return []  # nothing stated to check (a CSV row group, a console form): the totals are not computed twice
    computed = invoice_totals(draft)
    problems = []
    for name, stated, actual in (
        ("net_amount", draft.stated_net, computed.net),
        ("tax_amount", draft.stated_tax, computed.tax),
        ("gross_amount", draft.stated_gross, computed.gross),
    ):
        if stated is not None and round_money(stated, draft.currency) != actual:
            problems.append(
                Problem(
                    name,
                    _("The stated %(name)s %(stated)s differs from the lines' total %(computed)s."),
                    {"name": name, "stated": str(stated), "computed": str(actual)},
                )
            )
    return problems
