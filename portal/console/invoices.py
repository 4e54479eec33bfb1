"""Console › Invoices: the filtered list, and an invoice's page with its lines, ledger, order, deliveries and audit."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Response, Stream
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, can
from backend.auth.principal import Principal
from backend.buyers import service as buyers
from backend.disputes import service as disputes
from backend.disputes.models import STATE_LABELS as DISPUTE_STATES
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.i18n import _, gettext
from backend.invoices import checks, orders, statements
from backend.invoices import service as ledger
from backend.invoices.api import proof_file_stream
from backend.invoices.models import ENTRY_KINDS, STATUS_LABELS, InvoiceStatus
from backend.invoices.repository import OPEN_STATUSES, InvoiceFilter
from backend.money import is_currency
from backend.payments import service as payments
from backend.payments.models import PURPOSE_LABELS
from portal import web
from portal.console.sign_in import Form

FORM_ERRORS = (ValidationFailed, Conflict)
PAGE_SIZE = 25
BUYER_CHOICES = 300  # the buyer filter's list; a longer list is searched from the buyers page
FILTERS = ("q", "status", "buyer", "currency", "overdue", "issued_from", "issued_to", "due_from", "due_to")
ENTRY_FIELDS = ("amount", "entry_date", "document_number", "reason")
MAX_PROOF_FILES = 5  # per delivery recorded from the invoice page

# The three forms of the invoice page: what each records and who may use it.
ENTRY_FORMS = {
    "credit-notes": (ledger.record_credit_note, Permission.APPROVE_LEDGER),
    "write-offs": (ledger.record_write_off, Permission.APPROVE_LEDGER),
    "adjustments": (ledger.record_adjustment, Permission.EDIT_LEDGER),
}


def parse_date(raw: str | None, field_name: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(_("Enter the date as YYYY-MM-DD."), field=field_name) from None


def _error(error: ValidationFailed | Conflict) -> dict:
    return {"field": error.field, "message": error.translated(gettext)}


async def invoice_page(
    request: Request, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID, *, status_code: int = 200, **extra
) -> Response:
    """The invoice page; the forms on it re-render it with what was typed and the error beside its field."""
    details = await orders.invoice_details(db, principal, invoice_id)
    invoice = details.invoice
    findings = await checks.findings_for(db, principal, invoice.id) if invoice.status is InvoiceStatus.DRAFT else []
    extra.setdefault("entry_form", None)
    extra.setdefault("entry_error", None)
    extra.setdefault("entry", {"entry_date": date.today().isoformat()})
    extra.setdefault("issue_error", None)
    extra.setdefault("delivery", {"delivered_on": date.today().isoformat()})
    extra.setdefault("delivery_errors", {})
    return web.render(
        request,
        "console/invoice.html",
        status_code=status_code,
        details=details,
        invoice=invoice,
        buyer=await buyers.get_buyer(db, principal, invoice.buyer_id),
        entries=await ledger.invoice_entries(db, principal, invoice.id),
        card_payments=await payments.card_payments_of_invoice(db, principal, invoice.id),
        purposes=PURPOSE_LABELS,
        findings=findings,
        status_labels=STATUS_LABELS,
        entry_kinds=ENTRY_KINDS,
        is_open=invoice.status in OPEN_STATUSES,
        can_edit=can(principal, Permission.EDIT_LEDGER),
        can_approve=can(principal, Permission.APPROVE_LEDGER),
        can_dispute=can(principal, Permission.WORK_DISPUTES),
        dispute_cases=await disputes.cases_of_invoice(db, principal, invoice.id),
        dispute_states=DISPUTE_STATES,
        proof_limit_mb=orders.MAX_PROOF_BYTES // (1024 * 1024),
        max_proof_files=MAX_PROOF_FILES,
        today=date.today(),
        **extra,
    )


class InvoiceController(Controller):
    path = "/console/invoices"
    include_in_schema = False

    @get("/")
    async def index(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        q: Annotated[str | None, Parameter(max_length=100)] = None,
        status: Annotated[str | None, Parameter(max_length=24)] = None,
        buyer: Annotated[str | None, Parameter(max_length=40)] = None,
        currency: Annotated[str | None, Parameter(max_length=3)] = None,
        overdue: Annotated[str | None, Parameter(max_length=5)] = None,
        issued_from: Annotated[str | None, Parameter(max_length=10)] = None,
        issued_to: Annotated[str | None, Parameter(max_length=10)] = None,
        due_from: Annotated[str | None, Parameter(max_length=10)] = None,
        due_to: Annotated[str | None, Parameter(max_length=10)] = None,
        page: Annotated[int, Parameter(ge=1)] = 1,
    ) -> Response:
        chosen = {
            "q": q,
            "status": status,
            "buyer": buyer,
            "currency": currency,
            "overdue": overdue,
            "issued_from": issued_from,
            "issued_to": issued_to,
            "due_from": due_from,
            "due_to": due_to,
        }
        chosen = {name: (value or "").strip() for name, value in chosen.items()}
        # A filter that cannot be read is named next to its field and left out, never guessed.
        filter_errors: dict[str, str] = {}
        dates: dict[str, date | None] = {}
        for name in ("issued_from", "issued_to", "due_from", "due_to"):
            try:
                dates[name] = parse_date(chosen[name], name)
            except ValidationFailed as error:
                filter_errors[name] = error.translated(gettext)
                dates[name] = None
        buyer_id = None
        if chosen["buyer"]:
            try:
                buyer_id = uuid.UUID(chosen["buyer"])
            except ValueError:
                filter_errors["buyer"] = gettext("Not found.")
        status_filter = InvoiceStatus(chosen["status"]) if chosen["status"] in InvoiceStatus._value2member_map_ else None
        currency_code = chosen["currency"].upper()
        if currency_code and not is_currency(currency_code):
            filter_errors["currency"] = gettext("Unknown currency code: %(value)s.") % {"value": chosen["currency"]}
            currency_code = ""
        where = InvoiceFilter(
            buyer_id=buyer_id,
            status=status_filter,
            currency=currency_code or None,
            overdue_on=date.today() if chosen["overdue"] else None,
            issued_from=dates["issued_from"],
            issued_to=dates["issued_to"],
            due_from=dates["due_from"],
            due_to=dates["due_to"],
            query=chosen["q"] or None,
        )
        total, rows = await ledger.list_invoices(db, principal, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        names = await statements.buyer_names(db, principal, {row.buyer_id for row in rows} | ({buyer_id} if buyer_id else set()))
        if buyer_id and buyer_id not in names:
            filter_errors["buyer"] = gettext("Not found.")
        _count, choices = await buyers.list_buyers(db, principal, limit=BUYER_CHOICES)
        kept = urlencode({name: value for name, value in chosen.items() if value})
        partial = web.is_htmx(request) and request.headers.get("hx-target") == "invoices"
        return web.render(
            request,
            "console/_invoices.html" if partial else "console/invoices.html",
            rows=rows,
            invoices=rows,
            names=names,
            buyer_choices=choices,
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            chosen=chosen,
            kept=kept,
            filter_errors=filter_errors,
            statuses=STATUS_LABELS,
            status_labels=STATUS_LABELS,
            can_edit=can(principal, Permission.EDIT_LEDGER),
            today=date.today(),
        )

    async def _invoice_page(
        self, request: Request, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID, *, status_code: int = 200, **extra
    ) -> Response:
        return await invoice_page(request, db, principal, invoice_id, status_code=status_code, **extra)

    @get("/{invoice_id:uuid}")
    async def show(self, request: Request, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> Response:
        return await self._invoice_page(request, db, principal, invoice_id)

    @post("/{invoice_id:uuid}/issue")
    async def issue(self, request: Request, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> Response:
        try:
            await ledger.issue_invoice(db, principal, invoice_id)
        except Conflict as error:
            await db.rollback()
            # Shown in place: the findings stay on screen with the reason the invoice did not go out.
            return await self._invoice_page(
                request, db, principal, invoice_id, status_code=409, issue_error=error.translated(gettext)
            )
        return web.redirect(request, f"/console/invoices/{invoice_id}")

    @post("/{invoice_id:uuid}/entries/{kind:str}")
    async def record_entry(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        invoice_id: uuid.UUID,
        kind: str,
        data: Annotated[dict[str, str], Form],
    ) -> Response:
        if kind not in ENTRY_FORMS:
            raise NotFound(_("Not found."))
        record, _permission = ENTRY_FORMS[kind]
        entry = {name: data.get(name, "") for name in ENTRY_FIELDS}
        try:
            await record(
                db,
                principal,
                invoice_id,
                amount=entry["amount"],
                entry_date=parse_date(entry["entry_date"], "entry_date"),
                document_number=entry["document_number"] or None,
                reason=entry["reason"] or None,
            )
        except FORM_ERRORS as error:
            await db.rollback()
            return await self._invoice_page(
                request, db, principal, invoice_id, status_code=422, entry_form=kind, entry=entry, entry_error=_error(error)
            )
        return web.redirect(request, f"/console/invoices/{invoice_id}#ledger")

    @get("/{invoice_id:uuid}/deliveries/{delivery_id:uuid}/files/{file_id:uuid}")
    async def proof_file(
        self, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID, delivery_id: uuid.UUID, file_id: uuid.UUID
    ) -> Stream:
        invoice = await ledger.get_invoice(db, principal, invoice_id)
        delivery = await orders.get_delivery(db, principal, delivery_id)
        # Only through a delivery this invoice shows: its own, or one against its order.
        if delivery.invoice_id != invoice.id and (invoice.order_id is None or delivery.order_id != invoice.order_id):
            raise NotFound(_("Not found."))
        return proof_file_stream(*await orders.proof_file(db, principal, delivery_id, file_id))
