"""`accord demo seed` gives a newcomer realistic data, once."""

from __future__ import annotations

from backend.db.uow import all_tenants_unit_of_work
from backend.demo import seed
from backend.tenants.repository import TenantRepository


async def test_demo_seed_creates_both_suppliers_once_and_prints_the_sign_in(client):
    printed: list[str] = []
    await seed.run(echo=printed.append)
    await seed.run(echo=printed.append)
    assert printed.count("demo data created") == 1 and "demo data is already there" in printed
    async with all_tenants_unit_of_work("test: demo tenants") as session:
        for supplier in seed.SUPPLIERS:
            assert (await TenantRepository(session).by_slug(supplier["slug"])).name == supplier["name"]
    password = next(line.split()[-1] for line in printed if line.strip().startswith("password"))
    from tests.conftest import Person, sign_in

    await sign_in(client, Person(seed.DEMO_LOGIN, password, None, None))
    home = await client.get("/console")
    assert "华东精密制造有限公司" in home.text and "Nordlicht Components GmbH" in home.text


def _bucket(invoice, today) -> str:
    overdue = (today - invoice.due_date).days
    for limit, name in ((0, "current"), (30, "1–30"), (60, "31–60"), (90, "61–90")):
        if overdue <= limit:
            return name
    return "90+"


async def test_the_demo_ledger_shows_every_status_with_balances_that_add_up(client):
    from datetime import date
    from decimal import Decimal

    from backend.buyers.repository import BuyerRepository
    from backend.db.tenancy import TenantId
    from backend.db.uow import tenant_unit_of_work
    from backend.invoices import checks
    from backend.invoices.models import EntryKind, InvoiceStatus
    from backend.invoices.repository import OPEN_STATUSES, InvoiceFilter, InvoiceRepository, LedgerRepository

    await seed.run(echo=lambda _line: None)  # once per database; a no-op when the first test seeded it
    async with all_tenants_unit_of_work("test: demo tenant") as session:
        tenant = await TenantRepository(session).by_slug(seed.SUPPLIERS[0]["slug"])
    today = date.today()
    async with tenant_unit_of_work(TenantId(tenant.id)) as session:
        buyer_count, buyers = await BuyerRepository(session).page(limit=100, offset=0)
        total, invoices = await InvoiceRepository(session).page(InvoiceFilter(), limit=1000, offset=0)
        ledger = LedgerRepository(session)
        allocated = {invoice.id: await ledger.totals_by_kind(invoice.id) for invoice in invoices}
        findings = {
            invoice.number: await checks.audit_invoice(session, invoice)
            for invoice in invoices
            if invoice.status is InvoiceStatus.DRAFT
        }
        on_account = [amount for buyer in buyers for _currency, amount in await ledger.unallocated_of_buyer(buyer.id)]
        contact_languages = {c.language for buyer in buyers for c in await BuyerRepository(session).contacts(buyer.id)}

    assert 8 <= buyer_count <= 12
    assert any("有限公司" in b.legal_name for b in buyers) and any(b.legal_name.isascii() for b in buyers)
    assert all(len(b.vat_number) == 18 for b in buyers if b.country == "CN")
    assert any(b.parent_id for b in buyers) and any(b.external_ids for b in buyers) and any(b.tags for b in buyers)
    assert {b.payment_terms_days for b in buyers} == {30, 45, 60}
    assert contact_languages == {"zh-CN", "en"}

    assert 60 <= total <= 120
    assert {i.currency for i in invoices} == {"CNY", "USD"}
    assert {i.status for i in invoices} >= {
        InvoiceStatus.DRAFT,
        InvoiceStatus.ISSUED,
        InvoiceStatus.PARTIALLY_PAID,
        InvoiceStatus.PAID,
        InvoiceStatus.CREDITED,
        InvoiceStatus.WRITTEN_OFF,
    }
    open_invoices = [i for i in invoices if i.status in OPEN_STATUSES]
    assert {_bucket(i, today) for i in open_invoices} == {"current", "1–30", "31–60", "61–90", "90+"}
    assert (today - min(i.issue_date for i in invoices)).days >= 200

    for invoice in invoices:
        kinds = allocated[invoice.id]
        reductions = sum((amount for kind, amount in kinds.items() if kind is not EntryKind.ADJUSTMENT), Decimal(0))
        assert invoice.open_amount == invoice.gross_amount + kinds.get(EntryKind.ADJUSTMENT, Decimal(0)) - reductions, (
            invoice.number
        )
        if invoice.status in (InvoiceStatus.PAID, InvoiceStatus.CREDITED, InvoiceStatus.WRITTEN_OFF):
            assert invoice.open_amount == 0, invoice.number
    every_kind = {kind for kinds in allocated.values() for kind in kinds}
    assert every_kind == set(EntryKind)
    assert any(amount > 0 for amount in on_account)

    severities = [{f.severity for f in found} for found in findings.values()]
    assert set() in severities and {"warning"} in severities
    assert sum("blocking" in s for s in severities) >= 2


async def test_the_demo_has_an_erp_import_waiting_for_its_job_with_two_bad_rows(client):
    from backend.db.tenancy import TenantId
    from backend.db.uow import tenant_unit_of_work
    from backend.invoices.import_repository import ImportRepository
    from backend.invoices.models import ImportStatus

    await seed.run(echo=lambda _line: None)
    async with all_tenants_unit_of_work("test: demo tenant") as session:
        tenant = await TenantRepository(session).by_slug(seed.SUPPLIERS[0]["slug"])
    async with tenant_unit_of_work(TenantId(tenant.id)) as session:
        _total, records = await ImportRepository(session).recent(limit=10)
    (record,) = records
    # Confirmed: the job finishes it when `make run` starts the server with its in-process jobs.
    assert record.status is ImportStatus.QUEUED and record.format == "csv"
    assert [(e["row"], e["field"]) for e in record.errors] == [(27, "issue_date"), (28, "currency")]
