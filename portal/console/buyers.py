"""Console › Buyers: the list with what each owes, a buyer's page (balances, aging, invoices, contacts, ledger)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import portal as portal_access
from backend.auth.policies import Permission, can
from backend.auth.principal import Principal
from backend.buyers import service as buyers
from backend.buyers.service import CONTACT_LANGUAGES, BuyerInput
from backend.errors import Conflict, ValidationFailed
from backend.http.auth import client_ip
from backend.i18n import gettext
from backend.invoices import orders, statements
from backend.invoices import service as ledger
from backend.invoices.repository import InvoiceFilter
from portal import web
from portal.console.invoices import ENTRY_KINDS, STATUS_LABELS, parse_date
from portal.console.sign_in import Form

FORM_ERRORS = (ValidationFailed, Conflict)
PAGE_SIZE = 25
BUYER_FIELDS = ("reference", "legal_name", "country", "currency", "payment_terms_days", "vat_number", "credit_limit", "tags")
PAYMENT_FIELDS = ("amount", "currency", "entry_date", "document_number", "reason")


def _error(error: ValidationFailed | Conflict) -> dict:
    return {"field": error.field, "message": error.translated(gettext)}


class BuyerController(Controller):
    path = "/console/buyers"
    include_in_schema = False

    async def _list(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        *,
        q: str | None = None,
        country: str | None = None,
        tag: str | None = None,
        page: int = 1,
        status_code: int = 200,
        **extra,
    ) -> Response:
        country = (country or "").strip().upper() or None
        total, rows = await buyers.list_buyers(
            db, principal, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, query=q or None, country=country, tag=tag or None
        )
        owed = await statements.open_and_overdue_of_buyers(db, principal, [b.id for b in rows])
        partial = web.is_htmx(request) and request.headers.get("hx-target") == "buyers"
        extra.setdefault("form", {"payment_terms_days": "30", "currency": "CNY", "country": "CN"})
        extra.setdefault("form_error", None)
        return web.render(
            request,
            "console/_buyers.html" if partial else "console/buyers.html",
            status_code=status_code,
            rows=rows,
            owed=owed,
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            q=q or "",
            country=country or "",
            tag=tag or "",
            can_edit=can(principal, Permission.EDIT_LEDGER),
            can_approve=can(principal, Permission.APPROVE_LEDGER),
            **extra,
        )

    @get("/")
    async def index(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        q: Annotated[str | None, Parameter(max_length=200)] = None,
        country: Annotated[str | None, Parameter(max_length=2)] = None,
        tag: Annotated[str | None, Parameter(max_length=40)] = None,
        page: Annotated[int, Parameter(ge=1)] = 1,
    ) -> Response:
        return await self._list(request, db, principal, q=q, country=country, tag=tag, page=page)

    @post("/")
    async def create(
        self, request: Request, db: AsyncSession, principal: Principal, data: Annotated[dict[str, str], Form]
    ) -> Response:
        form = {name: data.get(name, "") for name in BUYER_FIELDS}
        try:
            buyer = await buyers.create_buyer(
                db,
                principal,
                BuyerInput(
                    reference=form["reference"],
                    legal_name=form["legal_name"],
                    country=form["country"],
                    currency=form["currency"],
                    payment_terms_days=form["payment_terms_days"] or 30,
                    vat_number=form["vat_number"],
                    credit_limit=form["credit_limit"] or None,
                    tags=[t for t in form["tags"].split(",")],
                ),
            )
        except FORM_ERRORS as error:
            await db.rollback()
            return await self._list(request, db, principal, status_code=422, form=form, form_error=_error(error))
        return web.redirect(request, f"/console/buyers/{buyer.id}")

    async def _buyer_page(
        self, request: Request, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, *, status_code: int = 200, **extra
    ) -> Response:
        buyer = await buyers.get_buyer(db, principal, buyer_id)
        parent = await buyers.get_buyer(db, principal, buyer.parent_id) if buyer.parent_id else None
        total_invoices, invoices = await ledger.list_invoices(db, principal, InvoiceFilter(buyer_id=buyer.id), limit=20)
        total_orders, buyer_orders = await orders.list_orders(db, principal, buyer_id=buyer.id, limit=10)
        extra.setdefault("payment", {"currency": buyer.currency, "entry_date": date.today().isoformat()})
        extra.setdefault("payment_error", None)
        extra.setdefault("contact", {"language": "en"})
        extra.setdefault("contact_error", None)
        return web.render(
            request,
            "console/buyer.html",
            status_code=status_code,
            buyer=buyer,
            parent=parent,
            balances=await ledger.buyer_balances(db, principal, buyer.id),
            statement=await statements.statement_of_account(db, principal, buyer.id),
            invoices=invoices,
            total_invoices=total_invoices,
            orders=buyer_orders,
            total_orders=total_orders,
            contacts=await buyers.list_contacts(db, principal, buyer.id),
            entries=await statements.recent_entries(db, principal, buyer.id),
            contact_languages=CONTACT_LANGUAGES,
            status_labels=STATUS_LABELS,
            entry_kinds=ENTRY_KINDS,
            bucket_labels=statements.BUCKETS,
            can_edit=can(principal, Permission.EDIT_LEDGER),
            today=date.today(),
            **extra,
        )

    @get("/{buyer_id:uuid}")
    async def show(self, request: Request, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID) -> Response:
        return await self._buyer_page(request, db, principal, buyer_id)

    async def _contacts(
        self, request: Request, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, *, status_code: int = 200, **extra
    ) -> Response:
        if not web.is_htmx(request):
            if status_code == 200:
                return web.redirect(request, f"/console/buyers/{buyer_id}#contacts")
            return await self._buyer_page(request, db, principal, buyer_id, status_code=status_code, **extra)
        buyer = await buyers.get_buyer(db, principal, buyer_id)
        extra.setdefault("contact", {"language": "en"})
        extra.setdefault("contact_error", None)
        return web.render(
            request,
            "console/_buyer_contacts.html",
            status_code=status_code,
            buyer=buyer,
            contacts=await buyers.list_contacts(db, principal, buyer.id),
            contact_languages=CONTACT_LANGUAGES,
            can_edit=can(principal, Permission.EDIT_LEDGER),
            **extra,
        )

    @post("/{buyer_id:uuid}/contacts")
    async def add_contact(
        self, request: Request, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        contact = {name: data.get(name, "") for name in ("name", "email", "language", "role")}
        try:
            await buyers.add_contact(db, principal, buyer_id, **contact)
        except FORM_ERRORS as error:
            await db.rollback()
            return await self._contacts(
                request, db, principal, buyer_id, status_code=422, contact=contact, contact_error=_error(error)
            )
        return await self._contacts(request, db, principal, buyer_id)

    @post("/{buyer_id:uuid}/contacts/{contact_id:uuid}/remove")
    async def remove_contact(
        self, request: Request, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, contact_id: uuid.UUID
    ) -> Response:
        await buyers.remove_contact(db, principal, buyer_id, contact_id)
        return await self._contacts(request, db, principal, buyer_id)

    @post("/{buyer_id:uuid}/contacts/{contact_id:uuid}/portal-invitation")
    async def invite_to_portal(
        self, request: Request, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, contact_id: uuid.UUID
    ) -> Response:
        contact = await portal_access.invite_contact(db, principal, buyer_id, contact_id, ip=client_ip(request.scope))
        notice = gettext("%(name)s is invited: a sign-in link is on its way to %(email)s.") % {
            "name": contact.name,
            "email": contact.email,
        }
        return await self._contacts(request, db, principal, buyer_id, contacts_notice=notice)

    @post("/{buyer_id:uuid}/contacts/{contact_id:uuid}/portal-withdrawal")
    async def withdraw_from_portal(
        self, request: Request, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, contact_id: uuid.UUID
    ) -> Response:
        contact = await portal_access.revoke_contact(db, principal, buyer_id, contact_id)
        notice = gettext("%(name)s can no longer use the portal; their sessions and links have stopped working.") % {
            "name": contact.name
        }
        return await self._contacts(request, db, principal, buyer_id, contacts_notice=notice)

    @post("/{buyer_id:uuid}/payments")
    async def record_payment(
        self, request: Request, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        payment = {name: data.get(name, "") for name in PAYMENT_FIELDS}
        try:
            await ledger.record_payment(
                db,
                principal,
                buyer_id=buyer_id,
                amount=payment["amount"],
                currency=payment["currency"],
                entry_date=parse_date(payment["entry_date"], "entry_date"),
                document_number=payment["document_number"] or None,
                reason=payment["reason"] or None,
            )
        except FORM_ERRORS as error:
            await db.rollback()
            return await self._buyer_page(
                request, db, principal, buyer_id, status_code=422, payment=payment, payment_error=_error(error)
            )
        return web.redirect(request, f"/console/buyers/{buyer_id}#ledger")
