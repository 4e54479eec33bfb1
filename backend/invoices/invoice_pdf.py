"""An invoice as a printable PDF, in the reader's language: the supplier, the buyer, the lines, the totals
and what is still open. Drawn with reportlab in its built-in CJK font, like the statement of account.
The invoice's free-text notes stay out: the team may have written them for itself."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from backend.buyers.models import Buyer
from backend.i18n import babel_locale, current_language, gettext
from backend.invoices.models import STATUS_LABELS, Invoice, InvoiceLine, InvoiceStatus
from backend.invoices.pdf_pages import FONT, numbered_canvas, register_font


@dataclass(frozen=True)
class InvoiceDocument:
    supplier_name: str
    buyer: Buyer
    invoice: Invoice
    lines: Sequence[InvoiceLine]
    open_amount: Decimal
    disputed_amount: Decimal


def filename_of(invoice: Invoice) -> str:
    # ASCII only, so every browser keeps the name: the number is the supplier's, and may hold anything.
    safe = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_." else "-" for ch in invoice.number).strip(".-")
    return f"invoice-{safe or invoice.id}.pdf"


def invoice_pdf(document: InvoiceDocument) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    register_font()
    locale = babel_locale(current_language.get())
    invoice, buyer = document.invoice, document.buyer
    currency = invoice.currency
    page_label = gettext("Page %(page)s of %(pages)s")
    footer = f"{document.supplier_name} — {gettext('Invoice')} {invoice.number}"

    def money(amount: Decimal) -> str:
        return format_currency(amount, currency, locale=locale)

    def day(value) -> str:
        return format_date(value, format="long", locale=locale)

    NumberedCanvas = numbered_canvas(page_label, footer)

    title = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=20, spaceAfter=4)
    heading = ParagraphStyle("heading", fontName=FONT, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12)
    cell = ParagraphStyle("cell", fontName=FONT, fontSize=8.5, leading=11)

    def text(value, style=body) -> Paragraph:
        return Paragraph(escape(str(value)), style)

    facts = [
        (gettext("Supplier"), document.supplier_name),
        (gettext("Buyer"), f"{buyer.legal_name} ({buyer.reference})"),
        (gettext("Issued"), day(invoice.issue_date)),
        (gettext("Due"), day(invoice.due_date)),
    ]
    if invoice.delivery_date:
        facts.append((gettext("Delivered"), day(invoice.delivery_date)))
    if invoice.po_reference:
        facts.append((gettext("Purchase order"), invoice.po_reference))
    facts.append((gettext("Status"), gettext(STATUS_LABELS[invoice.status])))
    header = Table([[text(label), text(value)] for label, value in facts], colWidths=[36 * mm, 138 * mm], hAlign="LEFT")
    header.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("TEXTCOLOR", (0, 0), (0, -1), colors.grey)]))

    rows = [
        [
            gettext("#"),
            gettext("Description"),
            gettext("Quantity"),
            gettext("Unit price"),
            gettext("Tax rate"),
            gettext("Net amount"),
        ]
    ]
    for line in document.lines:
        description = line.description + (f" ({line.sku})" if line.sku else "")
        rows.append(
            [
                str(line.line_no),
                text(description, cell),
                f"{format_decimal(line.quantity.normalize(), locale=locale)} {line.unit}",
                money(line.unit_price),
                format_decimal(line.tax_rate.normalize(), locale=locale) + "%",
                money(line.net_amount),
            ]
        )
    summary = [
        (gettext("Net amount"), invoice.net_amount),
        (gettext("Tax"), invoice.tax_amount),
        (gettext("Total"), invoice.gross_amount),
    ]
    for label, amount in summary:
        rows.append(["", label, "", "", "", money(amount)])
    lines_table = Table(rows, repeatRows=1, hAlign="LEFT", colWidths=[8 * mm, 66 * mm, 24 * mm, 28 * mm, 16 * mm, 32 * mm])
    lines_table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 8.5),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                ("LINEBELOW", (0, 1), (-1, -len(summary) - 1), 0.25, colors.lightgrey),
                ("LINEABOVE", (0, -len(summary)), (-1, -len(summary)), 0.6, colors.black),
                ("FONT", (0, -1), (-1, -1), FONT, 10),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
            ]
        )
    )

    story = [
        Paragraph(escape(gettext("Invoice %(number)s") % {"number": invoice.number}), title),
        header,
        Spacer(1, 4 * mm),
        Paragraph(escape(gettext("Lines")), heading),
        lines_table,
        Spacer(1, 4 * mm),
    ]
    if invoice.status in (InvoiceStatus.PAID, InvoiceStatus.CREDITED, InvoiceStatus.WRITTEN_OFF):
        story.append(text(gettext("Nothing is open on this invoice.")))
    else:
        story.append(text(gettext("Open") + ": " + money(document.open_amount)))
        if document.disputed_amount > 0:
            story.append(text(gettext("Held by disputes") + ": " + money(document.disputed_amount)))

    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=gettext("Invoice %(number)s") % {"number": invoice.number},
        author=document.supplier_name,
    ).build(story, canvasmaker=NumberedCanvas)
    return buffer.getvalue()
