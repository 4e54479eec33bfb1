"""Console forms that type in what otherwise comes from the API or an import: a draft invoice, a
purchase order, and a delivery with its proof-of-delivery files.

Lines are posted as `lines[N].field`; rows left empty are dropped and the rest renumbered 1, 2, … so
that a service's `lines[2].quantity` names the second row on screen. Totals are never read from the form.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.buyers import service as buyers
from backend.errors import Conflict, DomainError, NotFound, ValidationFailed
from backend.files import storage
from backend.i18n import _, gettext
from backend.invoices import orders
from backend.invoices import service as ledger
from backend.invoices.drafts import InvoiceDraft, LineDraft, validate_draft
from backend.money import as_typed, parse_decimal
from portal import web
from portal.console.invoices import BUYER_CHOICES, MAX_PROOF_FILES, invoice_page, parse_date
from portal.console.sign_in import Form

LINE_FIELDS = ("sku", "description", "quantity", "unit", "unit_price", "tax_rate")
# A row counts as typed in once one of these has something; unit and tax rate alone are defaults.
LINE_CONTENT = ("sku", "description", "quantity", "unit_price")
EMPTY_ROWS = 3
MAX_ROWS = 200
LARGEST = Decimal(10) ** 12
LINE_KEY = re.compile(r"^lines\[(\d{1,4})\]\.(\w+)$")
INVOICE_FIELDS = ("buyer_id", "number", "currency", "issue_date", "due_date", "delivery_date", "po_reference", "notes")
ORDER_FIELDS = ("number", "order_date", "currency", "contract_reference")
DELIVERY_FIELDS = ("number", "delivered_on", "carrier", "tracking_number", "received_by", "notes")
Multipart = Body(media_type=RequestEncodingType.MULTI_PART)


def _message(error: DomainError) -> str:
    return error.translated(gettext)


@dataclass
class Lines:
    """The rows to show again (typed-in rows first, renumbered, then empty ones) and the parsed lines."""

    rows: list[dict[str, str]]
    drafts: list[LineDraft]
    errors: dict[str, str]


def empty_rows(count: int) -> list[dict[str, str]]:
    return [dict.fromkeys(LINE_FIELDS, "") for _n in range(count)]


def read_lines(data: dict[str, str], *, add_row: bool = False) -> Lines:
    posted: dict[int, dict[str, str]] = {}
    for key, value in data.items():
        match = LINE_KEY.match(key)
        if match and match.group(2) in LINE_FIELDS and isinstance(value, str):
            posted.setdefault(int(match.group(1)), dict.fromkeys(LINE_FIELDS, ""))[match.group(2)] = value.strip()
    if add_row:
        # Nothing is checked or dropped yet: the rows come back as they were, with one more.
        rows = [row for _index, row in sorted(posted.items())][: MAX_ROWS - 1]
        return Lines(rows=rows + empty_rows(1), drafts=[], errors={})
    typed = [row for _index, row in sorted(posted.items()) if any(row[name] for name in LINE_CONTENT)][:MAX_ROWS]
    errors: dict[str, str] = {}
    drafts: list[LineDraft] = []
    for number, row in enumerate(typed, start=1):
        amounts = {}
        for name, default in (("quantity", None), ("unit_price", None), ("tax_rate", "0")):
            raw = row[name] or default
            amounts[name] = parse_decimal(raw) if raw else None
            if amounts[name] is None:
                errors[f"lines[{number}].{name}"] = (
                    gettext("Line %(line)s: enter a number, such as 12.5.") % {"line": number}
                    if row[name]
                    else gettext("Line %(line)s: this is missing.") % {"line": number}
                )
            elif abs(amounts[name]) >= LARGEST or amounts[name].as_tuple().exponent < -4:
                # What the ledger's columns hold; past it a number would be rounded or refused by the database.
                errors[f"lines[{number}].{name}"] = gettext(
                    "Line %(line)s: enter at most 12 digits before the decimal point and 4 after it."
                ) % {"line": number}
        for name, limit in (("sku", 64), ("description", 500), ("unit", 16)):
            if len(row[name]) > limit:
                errors[f"lines[{number}].{name}"] = gettext("Line %(line)s: at most %(limit)s characters.") % {
                    "line": number,
                    "limit": limit,
                }
        # A number that could not be read stands in as a harmless one, so that the other checks of
        # the draft still number the lines as the screen does; such a draft is never stored.
        drafts.append(
            LineDraft(
                description=row["description"],
                quantity=amounts["quantity"] if f"lines[{number}].quantity" not in errors else Decimal(1),
                unit_price=amounts["unit_price"] if f"lines[{number}].unit_price" not in errors else Decimal(0),
                tax_rate=amounts["tax_rate"] if f"lines[{number}].tax_rate" not in errors else Decimal(0),
                sku=row["sku"] or None,
                unit=row["unit"] or "EA",
            )
        )
    # Always room to type one more line; at least the three a new form starts with.
    blank = min(max(EMPTY_ROWS - len(typed), 1), MAX_ROWS - len(typed))
    return Lines(rows=typed + empty_rows(blank), drafts=drafts, errors=errors)


def _buyer_id(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID((raw or "").strip())
    except ValueError:
        return None


async def _buyer_or_none(db: AsyncSession, principal: Principal, buyer_id: uuid.UUID | None):
    if buyer_id is None:
        return None
    try:
        return await buyers.get_buyer(db, principal, buyer_id)
    except NotFound:
        return None


class InvoiceFormController(Controller):
    path = "/console"
    include_in_schema = False

    # --- a new draft invoice -------------------------------------------------------------------

    async def _invoice_form(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        *,
        form: dict[str, str],
        rows: list[dict[str, str]],
        errors: dict[str, str] | None = None,
        status_code: int = 200,
        from_order: str | None = None,
    ) -> Response:
        _count, choices = await buyers.list_buyers(db, principal, limit=BUYER_CHOICES)
        chosen = await _buyer_or_none(db, principal, _buyer_id(form.get("buyer_id")))
        if chosen is not None and chosen.id not in {b.id for b in choices}:
            choices = [chosen, *choices]
        order_numbers = []
        if chosen is not None:
            _total, buyer_orders = await orders.list_orders(db, principal, buyer_id=chosen.id, limit=100)
            order_numbers = [o.number for o in buyer_orders]
        return web.render(
            request,
            "console/invoice_new.html",
            status_code=status_code,
            form=form,
            rows=rows,
            errors=errors or {},
            buyer_choices=choices,
            buyer=chosen,
            order_numbers=order_numbers,
            from_order=from_order,
        )

    @get("/invoices/new")
    async def new_invoice(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        buyer: Annotated[uuid.UUID | None, Parameter(query="buyer")] = None,
        po: Annotated[str | None, Parameter(query="po", max_length=64)] = None,
    ) -> Response:
        require(principal, Permission.EDIT_LEDGER)
        form = {"issue_date": date.today().isoformat()}
        if buyer is not None:
            chosen = await buyers.get_buyer(db, principal, buyer)  # another supplier's buyer: 404
            form.update(buyer_id=str(chosen.id), currency=chosen.currency)
        rows, from_order = empty_rows(EMPTY_ROWS), None
        if po:
            form["po_reference"] = po
        if po and buyer is not None:
            # Invoicing an order starts from its lines, so that what the audit compares is what was ordered.
            _total, found = await orders.list_orders(db, principal, buyer_id=buyer, query=po, limit=20)
            order = next((o for o in found if o.number == po), None)
            if order is not None:
                details = await orders.order_details(db, principal, order.id)
                form["currency"], from_order = order.currency, order.number
                rows = [
                    {
                        "sku": line.sku or "",
                        "description": line.description,
                        "quantity": as_typed(line.quantity),
                        "unit": line.unit,
                        "unit_price": as_typed(line.unit_price),
                        "tax_rate": as_typed(line.tax_rate),
                    }
                    for line in details.lines
                ] + empty_rows(1)
        return await self._invoice_form(request, db, principal, form=form, rows=rows, from_order=from_order)

    @get("/invoices/new/line")
    async def line_row(
        self,
        request: Request,
        principal: Principal,
        index: Annotated[int, Parameter(query="next_line", ge=1, le=MAX_ROWS * 10)],
    ) -> Response:
        """One more empty row for htmx, and (out of band) the number of the row after it."""
        require(principal, Permission.EDIT_LEDGER)
        return web.render(request, "console/_line_row.html", index=index, row=dict.fromkeys(LINE_FIELDS, ""), errors={})

    @post("/invoices/new")
    async def create_invoice(
        self, request: Request, db: AsyncSession, principal: Principal, data: Annotated[dict[str, str], Form]
    ) -> Response:
        require(principal, Permission.EDIT_LEDGER)
        form = {name: (data.get(name) or "").strip() for name in INVOICE_FIELDS}
        if data.get("add_line"):
            lines = read_lines(data, add_row=True)
            return await self._invoice_form(request, db, principal, form=form, rows=lines.rows)
        lines = read_lines(data)
        errors = dict(lines.errors)
        dates = {}
        for name in ("issue_date", "due_date", "delivery_date"):
            try:
                dates[name] = parse_date(form[name], name)
            except ValidationFailed as error:
                errors[name] = _message(error)
        if not form["issue_date"] and "issue_date" not in errors:
            errors["issue_date"] = gettext("Enter the issue date.")
        buyer = await _buyer_or_none(db, principal, _buyer_id(form["buyer_id"]))
        if buyer is None:
            errors["buyer_id"] = gettext("Choose one of your buyers.")
        currency = form["currency"].upper() or (buyer.currency if buyer else "")
        if len(form["po_reference"]) > 64:
            errors["po_reference"] = gettext("At most %(limit)s characters.") % {"limit": 64}
        draft = InvoiceDraft(
            number=form["number"],
            buyer_reference="",
            currency=currency,
            issue_date=dates.get("issue_date") or date.today(),
            due_date=dates.get("due_date") if dates.get("issue_date") else None,
            delivery_date=dates.get("delivery_date"),
            po_reference=form["po_reference"] or None,
            notes=form["notes"] or None,
            lines=lines.drafts,
        )
        # Every problem of the draft at once, each beside its field; the service checks them again.
        for problem in validate_draft(draft, buyer_named_apart=True):
            if problem.field == "currency" and not currency:
                continue  # no buyer chosen yet, so no currency to default to: the buyer's error says enough
            failure = ValidationFailed(problem.message, field=problem.field, params=problem.args)
            errors.setdefault(problem.field, _message(failure))
        if not errors:
            try:
                invoice = await ledger.create_invoice(db, principal, draft, buyer_id=buyer.id)
            except (ValidationFailed, Conflict) as error:
                await db.rollback()
                errors[error.field or "form"] = _message(error)
            else:
                return web.redirect(request, f"/console/invoices/{invoice.id}")
        return await self._invoice_form(request, db, principal, form=form, rows=lines.rows, errors=errors, status_code=422)

    # --- a new purchase order ------------------------------------------------------------------

    async def _order_form(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        buyer,
        *,
        form: dict[str, str],
        rows: list[dict[str, str]],
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        return web.render(
            request, "console/order_new.html", status_code=status_code, buyer=buyer, form=form, rows=rows, errors=errors or {}
        )

    @get("/buyers/{buyer_id:uuid}/orders/new")
    async def new_order(self, request: Request, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID) -> Response:
        require(principal, Permission.EDIT_LEDGER)
        buyer = await buyers.get_buyer(db, principal, buyer_id)
        form = {"order_date": date.today().isoformat(), "currency": buyer.currency}
        return await self._order_form(request, db, principal, buyer, form=form, rows=empty_rows(EMPTY_ROWS))

    @post("/buyers/{buyer_id:uuid}/orders/new")
    async def create_order(
        self, request: Request, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        require(principal, Permission.EDIT_LEDGER)
        buyer = await buyers.get_buyer(db, principal, buyer_id)
        form = {name: (data.get(name) or "").strip() for name in ORDER_FIELDS}
        if data.get("add_line"):
            lines = read_lines(data, add_row=True)
            return await self._order_form(request, db, principal, buyer, form=form, rows=lines.rows)
        lines = read_lines(data)
        errors = dict(lines.errors)
        order_date = None
        try:
            order_date = parse_date(form["order_date"], "order_date")
        except ValidationFailed as error:
            errors["order_date"] = _message(error)
        if order_date is None and "order_date" not in errors:
            errors["order_date"] = gettext("Enter the order date.")
        if not errors:
            try:
                await orders.create_order(
                    db,
                    principal,
                    orders.OrderInput(
                        buyer_id=buyer.id,
                        number=form["number"],
                        order_date=order_date,
                        currency=form["currency"] or buyer.currency,
                        contract_reference=form["contract_reference"] or None,
                        lines=[
                            orders.OrderLineInput(
                                description=line.description,
                                quantity=line.quantity,
                                unit_price=line.unit_price,
                                tax_rate=line.tax_rate,
                                sku=line.sku,
                                unit=line.unit,
                            )
                            for line in lines.drafts
                        ],
                    ),
                )
            except (ValidationFailed, Conflict) as error:
                await db.rollback()
                errors[error.field or "form"] = _message(error)
                buyer = await buyers.get_buyer(db, principal, buyer_id)  # the rollback expired it
            else:
                return web.redirect(request, f"/console/buyers/{buyer_id}#orders")
        return await self._order_form(request, db, principal, buyer, form=form, rows=lines.rows, errors=errors, status_code=422)

    # --- a delivery, with its proof files --------------------------------------------------------

    @post(
        "/invoices/{invoice_id:uuid}/deliveries",
        request_max_body_size=MAX_PROOF_FILES * orders.MAX_PROOF_BYTES + 1024 * 1024,
    )
    async def record_delivery(
        self, request: Request, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID, data: Annotated[dict, Multipart]
    ) -> Response:
        require(principal, Permission.EDIT_LEDGER)
        invoice = await ledger.get_invoice(db, principal, invoice_id)  # another supplier's invoice: 404
        delivery = {name: (data.get(name) or "").strip() if isinstance(data.get(name), str) else "" for name in DELIVERY_FIELDS}
        uploads = data.get("files") or []
        uploads = [u for u in (uploads if isinstance(uploads, list) else [uploads]) if isinstance(u, UploadFile) and u.filename]
        kept: list[str] = []
        try:
            if len(uploads) > MAX_PROOF_FILES:
                raise ValidationFailed(
                    _("Attach at most %(count)s files to one delivery."), field="file", params={"count": MAX_PROOF_FILES}
                )
            delivered_on = parse_date(delivery["delivered_on"], "delivered_on")
            if delivered_on is None:
                raise ValidationFailed(_("Enter the delivery date."), field="delivered_on")
            recorded = await orders.create_delivery(
                db,
                principal,
                orders.DeliveryInput(
                    number=delivery["number"],
                    delivered_on=delivered_on,
                    order_id=invoice.order_id,
                    invoice_id=invoice.id,
                    carrier=delivery["carrier"] or None,
                    tracking_number=delivery["tracking_number"] or None,
                    received_by=delivery["received_by"] or None,
                    notes=delivery["notes"] or None,
                ),
            )
            for upload in uploads:
                try:
                    stored = await orders.attach_proof(db, principal, recorded.id, filename=upload.filename, source=upload.file)
                except (ValidationFailed, orders.FileTooLarge) as error:
                    # Name the file that was refused: the message alone does not say which of several.
                    raise type(error)(
                        "%(filename)s: %(reason)s", field="file", params={"filename": upload.filename, "reason": _message(error)}
                    ) from error
                kept.append(stored.storage_key)
        except (ValidationFailed, Conflict, orders.FileTooLarge) as error:
            await db.rollback()
            # The delivery is not recorded, so files already stored for it must not stay behind.
            for key in kept:
                await asyncio.to_thread(storage.get_storage().delete, principal.tenant_id, key)
            return await invoice_page(
                request,
                db,
                principal,
                invoice_id,
                status_code=error.status_code,
                delivery=delivery,
                delivery_errors={error.field or "form": _message(error)},
            )
        return web.redirect(request, f"/console/invoices/{invoice.id}#deliveries")
