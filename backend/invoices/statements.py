"""Statements of account: a buyer's open items and aging as of a date, DSO and days beyond terms, as CSV and PDF.

Figures as of a past date are rebuilt from the ledger (invoices issued by then, entries dated by then),
so a statement printed today for the end of last month shows what was open at the end of last month.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.buyers.models import Buyer
from backend.buyers.repository import BuyerRepository
from backend.buyers.service import get_buyer
from backend.errors import ValidationFailed
from backend.i18n import _, babel_locale, current_language, gettext
from backend.invoices.models import EntryKind, Invoice, LedgerEntry, StatementConfirmation
from backend.invoices.pdf_pages import FONT, numbered_canvas, register_font
from backend.invoices.portal_repository import BuyerLedgerRepository
from backend.invoices.repository import LedgerRepository, StatementRepository
from backend.money import ZERO
from backend.tenants.service import get_current_tenant

# Days past due → bucket. Due today is current; the upper bound of each bucket is inclusive.
BUCKETS: tuple[tuple[str, str, int | None], ...] = (
    ("current", _("Current"), 0),
    ("1_30", _("1–30 days"), 30),
    ("31_60", _("31–60 days"), 60),
    ("61_90", _("61–90 days"), 90),
    ("90_plus", _("Over 90 days"), None),
)
BUCKET_KEYS = tuple(key for key, _label, _upper in BUCKETS)
BUCKET_LABELS = {key: label for key, label, _upper in BUCKETS}

DSO_WINDOW_DAYS = 90
DAYS_BEYOND_TERMS_WINDOW_DAYS = 365
EARLIEST_AS_OF = date(2000, 1, 1)


def bucket_of(days_past_due: int) -> str:
    for key, _label, upper in BUCKETS:
        if upper is None or days_past_due <= upper:
            return key
    raise AssertionError("the last bucket has no upper bound")


@dataclass(frozen=True)
class OpenItem:
    invoice_id: uuid.UUID
    number: str
    po_reference: str | None
    issue_date: date
    due_date: date
    currency: str
    gross_amount: Decimal
    open_amount: Decimal
    disputed_amount: Decimal
    days_past_due: int
    bucket: str


@dataclass
class CurrencyFigures:
    """One currency of a buyer's statement: the aging, what sits on account, DSO and days beyond terms."""

    currency: str
    buckets: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(BUCKET_KEYS, ZERO))
    disputed: Decimal = ZERO
    on_account: Decimal = ZERO
    credit_sales: Decimal = ZERO  # gross invoiced in the DSO window
    # DSO = open receivables on the as-of date ÷ gross amount invoiced in the 90 days up to it × 90.
    dso_days: Decimal | None = None
    # Average of (payment date − due date, early payments counting as 0) over payment allocations of
    # the last 365 days, weighted by the amount allocated.
    days_beyond_terms: Decimal | None = None

    @property
    def open(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)

    @property
    def overdue(self) -> Decimal:
        return self.open - self.buckets["current"]

    @property
    def net_balance(self) -> Decimal:
        return self.open - self.on_account


@dataclass
class Statement:
    supplier_name: str
    buyer: Buyer
    as_of: date
    items: list[OpenItem]
    currencies: list[CurrencyFigures]

    def figures(self, currency: str) -> CurrencyFigures | None:
        return next((f for f in self.currencies if f.currency == currency), None)


def _one_decimal(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _open_items(invoices: Iterable[Invoice], allocated: dict[uuid.UUID, dict[EntryKind, Decimal]], as_of: date) -> list[OpenItem]:
    items = []
    for invoice in invoices:
        totals = allocated.get(invoice.id, {})
        reductions = sum((amount for kind, amount in totals.items() if kind is not EntryKind.ADJUSTMENT), ZERO)
        open_amount = invoice.gross_amount + totals.get(EntryKind.ADJUSTMENT, ZERO) - reductions
        if open_amount <= 0:
            continue
        days = (as_of - invoice.due_date).days
        items.append(
            OpenItem(
                invoice_id=invoice.id,
                number=invoice.number,
                po_reference=invoice.po_reference,
                issue_date=invoice.issue_date,
                due_date=invoice.due_date,
                currency=invoice.currency,
                gross_amount=invoice.gross_amount,
                open_amount=open_amount,
                disputed_amount=min(invoice.disputed_amount, open_amount),
                days_past_due=max(days, 0),
                bucket=bucket_of(days),
            )
        )
    return items


async def statement_of_account(
    session: AsyncSession, principal: Principal, buyer_id: uuid.UUID, *, as_of: date | None = None
) -> Statement:
    require(principal, Permission.READ_LEDGER)
    as_of = as_of or date.today()
    if not EARLIEST_AS_OF <= as_of <= date.today() + timedelta(days=366):
        raise ValidationFailed(_("Choose an as-of date between 2000 and next year."), field="as_of")
    buyer = await get_buyer(session, principal, buyer_id)
    return await build_statement(session, buyer, as_of)


async def build_statement(session: AsyncSession, buyer: Buyer, as_of: date) -> Statement:
    """The statement of a buyer the caller has already established the reader may see (team or the buyer's own contact)."""
    repository = StatementRepository(session)
    invoices = await repository.billed_until(buyer.id, as_of)
    allocated: dict[uuid.UUID, dict[EntryKind, Decimal]] = defaultdict(dict)
    for invoice_id, kind, amount in await repository.allocated_until(buyer.id, as_of):
        allocated[invoice_id][kind] = amount
    items = _open_items(invoices, allocated, as_of)

    figures: dict[str, CurrencyFigures] = {}

    def of(currency: str) -> CurrencyFigures:
        return figures.setdefault(currency, CurrencyFigures(currency))

    for item in items:
        row = of(item.currency)
        row.buckets[item.bucket] += item.open_amount
        row.disputed += item.disputed_amount
    for currency, amount in await repository.on_account_until(buyer.id, as_of):
        of(currency).on_account = amount
    window_start = as_of - timedelta(days=DSO_WINDOW_DAYS)
    for invoice in invoices:
        if invoice.issue_date > window_start:
            of(invoice.currency).credit_sales += invoice.gross_amount
    for row in figures.values():
        if row.credit_sales > 0:
            row.dso_days = _one_decimal(row.open / row.credit_sales * DSO_WINDOW_DAYS)
    weighted: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    since = as_of - timedelta(days=DAYS_BEYOND_TERMS_WINDOW_DAYS)
    for currency, paid_on, due_on, amount in await repository.payments_against_due_dates(buyer.id, since, as_of):
        late_days = max((paid_on - due_on).days, 0)
        weighted[currency][0] += amount * late_days
        weighted[currency][1] += amount
    for currency, (day_amounts, amounts) in weighted.items():
        if amounts > 0:
            of(currency).days_beyond_terms = _one_decimal(day_amounts / amounts)

    tenant = await get_current_tenant(session)
    return Statement(
        supplier_name=tenant.name,
        buyer=buyer,
        as_of=as_of,
        items=items,
        currencies=[figures[c] for c in sorted(figures)],
    )


async def open_and_overdue_of_buyers(
    session: AsyncSession, principal: Principal, buyer_ids: Iterable[uuid.UUID], *, today: date | None = None
) -> dict[uuid.UUID, list[tuple[str, Decimal, Decimal]]]:
    """For a list page of buyers: per buyer, (currency, open, overdue) for each currency with something open."""
    require(principal, Permission.READ_LEDGER)
    result: dict[uuid.UUID, list[tuple[str, Decimal, Decimal]]] = defaultdict(list)
    for buyer_id, currency, open_, overdue in await StatementRepository(session).open_and_overdue_of_buyers(
        buyer_ids, today or date.today()
    ):
        result[buyer_id].append((currency, open_, overdue))
    return dict(result)


async def buyer_names(session: AsyncSession, principal: Principal, buyer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Legal names for a page of invoices; an id of another tenant simply finds no name."""
    require(principal, Permission.READ_LEDGER)
    return await BuyerRepository(session).names(buyer_ids)


async def confirmations(
    session: AsyncSession, principal: Principal, buyer_id: uuid.UUID, *, limit: int = 5
) -> list[StatementConfirmation]:
    """The balances the buyer's contacts confirmed from the portal, newest first."""
    buyer = await get_buyer(session, principal, buyer_id)
    return list(await BuyerLedgerRepository(session).confirmations(buyer.id, limit=limit))


async def recent_entries(
    session: AsyncSession, principal: Principal, buyer_id: uuid.UUID, *, limit: int = 20
) -> list[LedgerEntry]:
    buyer = await get_buyer(session, principal, buyer_id)
    return list(await LedgerRepository(session).entries_of_buyer(buyer.id, limit=limit))


# --- exports -------------------------------------------------------------------------------

CSV_COLUMNS = (
    "row",
    "buyer_reference",
    "buyer_name",
    "as_of",
    "invoice_number",
    "po_reference",
    "issue_date",
    "due_date",
    "currency",
    "gross_amount",
    "open_amount",
    "disputed_amount",
    "days_past_due",
    "aging_bucket",
)


# Names and numbers come from buyers and ERPs; a spreadsheet would run one starting like a formula.
_TEXT_COLUMNS = frozenset({"buyer_reference", "buyer_name", "invoice_number", "po_reference"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(column: str, value) -> str:
    text = "" if value is None else str(value)
    if column in _TEXT_COLUMNS and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def statement_csv(statement: Statement) -> str:
    """Items, then per currency one row per aging bucket and a total: plain figures, so a spreadsheet can sum them.

    Row kinds (first column): `item`, `bucket`, `on_account`, `total`. Starts with a byte-order mark so
    spreadsheet programs read Chinese names as UTF-8.
    """
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    buyer = statement.buyer
    common = {"buyer_reference": buyer.reference, "buyer_name": buyer.legal_name, "as_of": statement.as_of.isoformat()}

    def row(**values) -> list[str]:
        merged = {**common, **values}
        return [_cell(column, merged.get(column)) for column in CSV_COLUMNS]

    for item in statement.items:
        writer.writerow(
            row(
                row="item",
                invoice_number=item.number,
                po_reference=item.po_reference,
                issue_date=item.issue_date.isoformat(),
                due_date=item.due_date.isoformat(),
                currency=item.currency,
                gross_amount=item.gross_amount,
                open_amount=item.open_amount,
                disputed_amount=item.disputed_amount,
                days_past_due=item.days_past_due,
                aging_bucket=item.bucket,
            )
        )
    for figures in statement.currencies:
        for key in BUCKET_KEYS:
            writer.writerow(row(row="bucket", currency=figures.currency, open_amount=figures.buckets[key], aging_bucket=key))
        writer.writerow(row(row="on_account", currency=figures.currency, open_amount=figures.on_account))
        writer.writerow(row(row="total", currency=figures.currency, open_amount=figures.open, disputed_amount=figures.disputed))
    return buffer.getvalue()


def _money(amount: Decimal, currency: str, locale: str) -> str:
    return format_currency(amount, currency, locale=locale)


def statement_pdf(statement: Statement) -> bytes:
    """A printable statement in the reader's language: header, aging per currency, open items, page numbers."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    register_font()
    font = FONT
    locale = babel_locale(current_language.get())
    page_label = gettext("Page %(page)s of %(pages)s")

    NumberedCanvas = numbered_canvas(page_label, f"{statement.supplier_name} — {statement.buyer.legal_name}")

    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=20, spaceAfter=4)
    heading = ParagraphStyle("heading", fontName=font, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12)

    def text(value) -> Paragraph:
        return Paragraph(escape(str(value)), body)

    grid = TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), font, 8.5),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.lightgrey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    buyer = statement.buyer
    story = [
        Paragraph(escape(gettext("Statement of account")), title),
        text(gettext("Supplier") + f": {statement.supplier_name}"),
        text(gettext("Buyer") + f": {buyer.legal_name} ({buyer.reference})"),
        text(gettext("As of") + ": " + format_date(statement.as_of, format="long", locale=locale)),
        text(gettext("Payment terms") + ": " + gettext("%(days)s days") % {"days": buyer.payment_terms_days}),
        Spacer(1, 4 * mm),
    ]
    if not statement.currencies:
        story.append(text(gettext("Nothing is open on this date.")))
    for figures in statement.currencies:
        currency = figures.currency
        story.append(Paragraph(escape(gettext("Aging in %(currency)s") % {"currency": currency}), heading))
        header = [gettext(BUCKET_LABELS[key]) for key in BUCKET_KEYS] + [gettext("Total open")]
        amounts = [_money(figures.buckets[key], currency, locale) for key in BUCKET_KEYS] + [
            _money(figures.open, currency, locale)
        ]
        table = Table([header, amounts], repeatRows=1, hAlign="LEFT")
        table.setStyle(grid)
        table.setStyle(TableStyle([("ALIGN", (0, 1), (-1, -1), "RIGHT")]))
        story.append(table)
        notes = [gettext("Disputed") + ": " + _money(figures.disputed, currency, locale)]
        if figures.on_account:
            notes.append(gettext("Paid on account, not yet applied") + ": " + _money(figures.on_account, currency, locale))
            notes.append(gettext("Balance after payments on account") + ": " + _money(figures.net_balance, currency, locale))
        story += [Spacer(1, 2 * mm), *(text(note) for note in notes)]

    if statement.items:
        story.append(Paragraph(escape(gettext("Open items")), heading))
        rows = [
            [
                gettext("Invoice"),
                gettext("PO"),
                gettext("Issued"),
                gettext("Due"),
                gettext("Days past due"),
                gettext("Amount"),
                gettext("Open"),
            ]
        ]
        for item in statement.items:
            rows.append(
                [
                    text(item.number),
                    text(item.po_reference or ""),
                    format_date(item.issue_date, format="short", locale=locale),
                    format_date(item.due_date, format="short", locale=locale),
                    format_decimal(item.days_past_due, locale=locale),
                    _money(item.gross_amount, item.currency, locale),
                    _money(item.open_amount, item.currency, locale),
                ]
            )
        for figures in statement.currencies:
            rows.append(
                [
                    gettext("Total %(currency)s") % {"currency": figures.currency},
                    "",
                    "",
                    "",
                    "",
                    "",
                    _money(figures.open, figures.currency, locale),
                ]
            )
        table = Table(
            rows, repeatRows=1, hAlign="LEFT", colWidths=[32 * mm, 26 * mm, 20 * mm, 20 * mm, 18 * mm, 29 * mm, 29 * mm]
        )
        table.setStyle(grid)
        table.setStyle(
            TableStyle(
                [
                    ("ALIGN", (4, 1), (-1, -1), "RIGHT"),
                    ("LINEABOVE", (0, -len(statement.currencies)), (-1, -len(statement.currencies)), 0.6, colors.black),
                ]
            )
        )
        story.append(table)
    story += [
        Spacer(1, 6 * mm),
        text(gettext("Please check these items against your records and tell us of any difference.")),
    ]

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=gettext("Statement of account") + f" {buyer.legal_name} {statement.as_of.isoformat()}",
        author=statement.supplier_name,
    )
    document.build(story, canvasmaker=NumberedCanvas)
    return buffer.getvalue()


def export_filename(statement: Statement, extension: str) -> str:
    # ASCII only: the reference is the supplier's customer number; names may be Chinese.
    safe = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_" else "-" for ch in statement.buyer.reference)
    return f"statement-{safe}-{statement.as_of.isoformat()}.{extension}"
