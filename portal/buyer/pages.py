"""The buyer's own pages: home, invoices, an invoice (with its PDF), the statement, instalments.

Each handler reads through `backend.invoices.portal`, which scopes everything to the signed-in
contact's buyer: an id of another buyer or supplier answers 404, the same as a missing one.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.disputes.models import STATE_LABELS as DISPUTE_STATES
from backend.errors import Conflict, ValidationFailed
from backend.i18n import gettext
from backend.invoices import portal as ledger
from backend.invoices.models import ENTRY_KINDS, STATUS_LABELS
from backend.invoices.portal import InvoiceSort, InvoiceView
from backend.invoices.statements import BUCKETS
from backend.payments import portal as payments
from backend.payments.models import PURPOSE_LABELS
from backend.tenants.service import Branding
from portal import web
from portal.buyer.common import render
from portal.buyer.payments import with_pay_buttons

Form = Body(media_type=RequestEncodingType.URL_ENCODED)
BALANCE_FIELD = "balance_"  # balance_CNY: the balance the page showed, per currency


def _attachment(content: bytes, filename: str) -> Response:
    return Response(content, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def _statement_page(
    request: Request, portal_db: AsyncSession, contact: Principal, brand: Branding, *, status_code: int = 200, **extra
) -> Response:
    extra.setdefault("error", None)
    extra.setdefault("note", "")
    return render(
        request,
        "buyer/statement.html",
        brand=brand,
        status_code=status_code,
        view=await ledger.statement(portal_db, contact),
        bucket_labels=BUCKETS,
        balance_field=BALANCE_FIELD,
        max_note=ledger.MAX_NOTE,
        **extra,
    )


class PortalPagesController(Controller):
    path = "/portal"
    include_in_schema = False

    @get("/")
    async def home(self, request: Request, contact: Principal, portal_db: AsyncSession, brand: Branding) -> Response:
        return render(
            request,
            "buyer/home.html",
            brand=brand,
            home=await ledger.home(portal_db, contact),
            dispute_states=DISPUTE_STATES,
        )

    @get("/invoices")
    async def invoices(
        self,
        request: Request,
        contact: Principal,
        portal_db: AsyncSession,
        brand: Branding,
        status: Annotated[str | None, Parameter(max_length=16)] = None,
        q: Annotated[str | None, Parameter(max_length=100)] = None,
        sort: Annotated[str | None, Parameter(max_length=16)] = None,
        page: Annotated[int, Parameter(ge=1, le=100_000)] = 1,
    ) -> Response:
        # A view or order that cannot be read falls back to the default rather than failing the page.
        view = InvoiceView(status) if status in InvoiceView._value2member_map_ else InvoiceView.OPEN
        order = InvoiceSort(sort) if sort in InvoiceSort._value2member_map_ else None
        listed = await ledger.invoice_list(portal_db, contact, view=view, query=q, sort=order, page=page)
        chosen = {"status": view.value, "sort": listed.sort.value} | ({"q": listed.query} if listed.query else {})
        partial = web.is_htmx(request) and request.headers.get("hx-target") == "invoice-list"
        response = render(
            request,
            "buyer/_invoice_rows.html" if partial else "buyer/invoices.html",
            brand=brand,
            listed=listed,
            kept=urlencode(chosen),
            views=ledger.VIEW_LABELS,
            sorts=ledger.SORT_LABELS,
            status_labels=STATUS_LABELS,
            today=date.today(),
            payments=await payments.list_availability(portal_db),
        )
        return with_pay_buttons(response)

    @get("/invoices/{invoice_id:uuid}")
    async def invoice(
        self, request: Request, contact: Principal, portal_db: AsyncSession, brand: Branding, invoice_id: uuid.UUID
    ) -> Response:
        view = await ledger.invoice_page(portal_db, contact, invoice_id)
        response = render(
            request,
            "buyer/invoice.html",
            brand=brand,
            view=view,
            status_labels=STATUS_LABELS,
            entry_kinds=ENTRY_KINDS,
            dispute_states=DISPUTE_STATES,
            today=date.today(),
            pay=await payments.invoice_offer(portal_db, contact, invoice_id),
            purposes=PURPOSE_LABELS,
        )
        return with_pay_buttons(response)

    @get("/invoices/{invoice_id:uuid}/pdf")
    async def invoice_pdf(self, contact: Principal, portal_db: AsyncSession, invoice_id: uuid.UUID) -> Response:
        return _attachment(*await ledger.invoice_pdf(portal_db, contact, invoice_id))

    @get("/statement")
    async def statement(
        self,
        request: Request,
        contact: Principal,
        portal_db: AsyncSession,
        brand: Branding,
        confirmed: Annotated[str | None, Parameter(max_length=1)] = None,
    ) -> Response:
        return await _statement_page(request, portal_db, contact, brand, confirmed=bool(confirmed))

    @get("/statement.pdf")
    async def statement_pdf(self, contact: Principal, portal_db: AsyncSession) -> Response:
        return _attachment(*await ledger.statement_pdf(portal_db, contact))

    @post("/statement/confirm")
    async def confirm_statement(
        self,
        request: Request,
        contact: Principal,
        portal_db: AsyncSession,
        brand: Branding,
        data: Annotated[dict[str, str], Form],
    ) -> Response:
        seen = {name.removeprefix(BALANCE_FIELD): value for name, value in data.items() if name.startswith(BALANCE_FIELD)}
        note = data.get("note", "")
        try:
            await ledger.confirm_balance(portal_db, contact, seen=seen, note=note)
        except (ValidationFailed, Conflict) as error:
            status = 409 if isinstance(error, Conflict) else 422
            # The page is drawn again with today's figures, and the reason next to the form.
            problem = {"field": error.field, "message": error.translated(gettext)}
            return await _statement_page(request, portal_db, contact, brand, status_code=status, error=problem, note=note)
        return web.redirect(request, "/portal/statement?confirmed=1")

    @get("/instalments")
    async def instalments(self, request: Request, contact: Principal, portal_db: AsyncSession, brand: Branding) -> Response:
        plans = await ledger.instalment_plans(portal_db, contact)
        response = render(
            request,
            "buyer/instalments.html",
            brand=brand,
            plans=plans,
            dispute_states=DISPUTE_STATES,
            today=date.today(),
            offers=await payments.instalment_offers(portal_db, contact, [plan.case.id for plan in plans]),
        )
        return with_pay_buttons(response)
