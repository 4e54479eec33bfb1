"""Ledger test data: a principal for a supplier's people, buyers and issued invoices, made through the services."""

from __future__ import annotations

import secrets
import uuid
from datetime import date, timedelta
from decimal import Decimal

from backend.auth.principal import Principal, PrincipalKind
from backend.buyers import service as buyers
from backend.buyers.service import BuyerInput
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.invoices import service as invoices
from backend.invoices.drafts import InvoiceDraft, LineDraft
from backend.invoices.models import Invoice, InvoiceStatus
from backend.tenants.models import Role
from tests.conftest import Supplier


def owner_of(supplier: Supplier) -> Principal:
    return Principal(
        kind=PrincipalKind.USER,
        id=supplier.finance.user_id,
        tenant_id=TenantId(supplier.tenant_id),
        role=Role.OWNER,
        label=supplier.finance.email,
        display_name="owner",
    )


async def make_buyer(supplier: Supplier, name: str = "Acme Trading Ltd", **overrides) -> uuid.UUID:
    data = BuyerInput(
        reference=overrides.pop("reference", f"C-{secrets.token_hex(3)}"),
        legal_name=name,
        country=overrides.pop("country", "CN"),
        currency=overrides.pop("currency", "CNY"),
        payment_terms_days=overrides.pop("payment_terms_days", 30),
        **overrides,
    )
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        buyer = await buyers.create_buyer(session, owner_of(supplier), data)
    return buyer.id


async def make_invoice(
    supplier: Supplier,
    buyer_id: uuid.UUID,
    *,
    lines: list[tuple[str, str, str, str]] = (("Bearing 6204", "10", "100.00", "13"),),
    issue_date: date | None = None,
    due_date: date | None = None,
    currency: str = "CNY",
    number: str | None = None,
    issue: bool = True,
    po_reference: str | None = None,
) -> Invoice:
    """lines: (description, quantity, unit price, tax rate %). Issued unless issue=False."""
    issue_date = issue_date or date.today() - timedelta(days=10)
    draft = InvoiceDraft(
        number=number or f"INV-{secrets.token_hex(4).upper()}",
        buyer_reference="",
        currency=currency,
        issue_date=issue_date,
        due_date=due_date,
        po_reference=po_reference,
        lines=[LineDraft(description=d, quantity=Decimal(q), unit_price=Decimal(p), tax_rate=Decimal(t)) for d, q, p, t in lines],
    )
    principal = owner_of(supplier)
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        invoice = await invoices.create_invoice(session, principal, draft, buyer_id=buyer_id)
        if issue:
            invoice = await invoices.issue_invoice(session, principal, invoice.id)
    assert invoice.status is (InvoiceStatus.ISSUED if issue else InvoiceStatus.DRAFT)
    return invoice
