"""Invoice imports: CSV and UBL files previewed with their row errors, imported by the job in chunks, idempotently."""

from __future__ import annotations

import io
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.audit.models import AuditEvent
from backend.db.tenancy import TenancyError, TenantId
from backend.db.uow import tenant_unit_of_work
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.files.storage import LocalStorage
from backend.invoices import imports
from backend.invoices.models import ImportStatus, Invoice, InvoiceImport, InvoiceLine, InvoiceSource, InvoiceStatus
from tests.factories import make_buyer, owner_of
from tests.test_team import run_jobs
from workers.invoices import import_invoices

DATA = Path(__file__).parent / "data"
HEADER = "invoice_number,buyer_reference,currency,issue_date,due_date,delivery_date,po_reference,sku,description,quantity,unit,unit_price,tax_rate"


def csv_bytes(rows: list[str], *, bom: bool = False) -> bytes:
    return (("\ufeff" if bom else "") + "\n".join([HEADER, *rows]) + "\n").encode()


def one_line_invoices(count: int, buyer_reference: str, prefix: str) -> list[str]:
    return [
        f"{prefix}-{n:05d},{buyer_reference},CNY,2026-10-{1 + n % 28:02d},,,PO-{n},SKU-{n % 50},轴承 6204 批次 {n},{1 + n % 7},EA,{10 + n % 90}.50,13"
        for n in range(1, count + 1)
    ]


async def upload(supplier, data: bytes, filename: str = "invoices.csv") -> InvoiceImport:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return await imports.upload_import(session, owner_of(supplier), filename=filename, source=io.BytesIO(data))


async def confirm(supplier, import_id: uuid.UUID) -> None:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        await imports.confirm_import(session, owner_of(supplier), import_id)


async def the_import(supplier, import_id: uuid.UUID) -> InvoiceImport:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return await imports.get_import(session, owner_of(supplier), import_id)


async def run_import_job(supplier, import_id: uuid.UUID) -> InvoiceImport:
    await import_invoices.run_async(tenant_id=str(supplier.tenant_id), job_id=str(uuid.uuid4()), import_id=str(import_id))
    return await the_import(supplier, import_id)


async def count(supplier, model, *where) -> int:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def imported(supplier, number: str) -> tuple[Invoice, list[InvoiceLine]]:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        invoice = (await session.scalars(select(Invoice).where(Invoice.number == number))).one()
        lines = (
            await session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.line_no))
        ).all()
    return invoice, list(lines)


def reasons(record: InvoiceImport) -> list[tuple[int, str]]:
    return [(error["row"], error["field"]) for error in record.errors]


# --- the acceptance test -------------------------------------------------------------------


async def test_a_10000_row_csv_with_three_bad_rows_imports_9997_invoices_and_names_the_rows(world):
    reference = "CN-ACME-01"
    await make_buyer(world.a, "上海华东机电设备有限公司", reference=reference)
    rows = one_line_invoices(10_000, reference, "ERP")
    # File rows: the header is row 1, so list index i is row i + 2.
    rows[1232] = rows[1232].replace("2026-10-", "2026-13-")  # row 1234: a bad date
    rows[5676] = rows[5676].replace(f",{1 + 5677 % 7},EA,", ",-3,EA,")  # row 5678: a negative quantity
    rows[8999] = rows[8999].replace(",CNY,", ",XYZ,")  # row 9001: an unknown currency
    data = csv_bytes(rows)

    record = await upload(world.a, data)
    assert record.status is ImportStatus.PREVIEWED and record.total_rows == 10_000
    assert reasons(record) == [(1234, "issue_date"), (5678, "quantity"), (9001, "currency")]
    assert record.error_count == 3
    assert await count(world.a, Invoice) == 0  # a preview imports nothing

    await confirm(world.a, record.id)
    await run_jobs()  # the outbox relay and the Dramatiq worker, as in production
    record = await the_import(world.a, record.id)
    assert record.status is ImportStatus.DONE
    assert (record.created_invoices, record.unchanged_invoices, record.processed_rows) == (9_997, 0, 10_000)
    assert reasons(record) == [(1234, "issue_date"), (5678, "quantity"), (9001, "currency")]
    messages = [error["message"] % error["params"] if error["params"] else error["message"] for error in record.errors]
    assert messages[0] == "issue_date is not a date as yyyy-mm-dd: 2026-13-02."
    assert "above zero" in messages[1] and "XYZ" in messages[2]
    assert await count(world.a, Invoice) == 9_997
    assert await count(world.a, Invoice, Invoice.number.in_(["ERP-01233", "ERP-05677", "ERP-09000"])) == 0

    invoice, lines = await imported(world.a, "ERP-00007")
    # Row of invoice 7: quantity 1 + 7 % 7 = 1, price 17.50, 13 %: totals computed from the line.
    assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (Decimal("17.50"), Decimal("2.28"), Decimal("19.78"))
    assert invoice.open_amount == invoice.gross_amount and invoice.status is InvoiceStatus.ISSUED
    assert invoice.source is InvoiceSource.CSV and invoice.import_id == record.id
    assert invoice.due_date == date(2026, 11, 7)  # issued 2026-10-08, the buyer's 30 days
    assert [(line.description, line.quantity, line.tax_rate) for line in lines] == [("轴承 6204 批次 7", Decimal(1), Decimal(13))]

    # The same file again: nothing added, every good invoice counted as unchanged, the same three rows reported.
    again = await upload(world.a, data)
    await confirm(world.a, again.id)
    again = await run_import_job(world.a, again.id)
    assert (again.created_invoices, again.unchanged_invoices, again.error_count) == (0, 9_997, 3)
    assert await count(world.a, Invoice) == 9_997
    # One audit entry per run, with the file's digest, not one per row.
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        finished = select(AuditEvent).where(AuditEvent.action == "invoice_import.finished").order_by(AuditEvent.seq)
        entries = (await session.scalars(finished)).all()
    assert len(entries) == 2 and entries[0].after["sha256"] == record.sha256 and entries[0].after["created_invoices"] == 9_997


# --- CSV ------------------------------------------------------------------------------------


async def test_rows_of_one_invoice_are_one_invoice_and_one_bad_row_skips_the_whole_invoice(world):
    await make_buyer(world.a, "Harbour Tools Ltd", reference="HT-1", payment_terms_days=45, currency="EUR", country="GB")
    data = csv_bytes(
        [
            "A-1,HT-1,EUR,2026-10-01,,2026-09-30,,P-1,Pump,2,EA,100.00,19",
            "A-1,HT-1,EUR,2026-10-01,,2026-09-30,,P-2,Manual,1,EA,45.00,7",
            "B-1,HT-1,EUR,2026-10-02,2026-10-20,,,P-1,Pump,1,EA,100.00,19",
            "B-1,HT-1,EUR,2026-10-02,2026-10-20,,,P-3,Seal,abc,EA,1.00,19",
            "C-1,HT-2,EUR,2026-10-02,,,,,Seal,1,EA,1.00,19",
            "D-1,HT-1,EUR,2026-10-03,,,,,Seal,1,EA,1.00,19",
            "D-1,HT-1,USD,2026-10-03,,,,,Seal,1,EA,1.00,19",
        ],
        bom=True,
    )
    record = await upload(world.a, data)
    assert reasons(record) == [(5, "quantity"), (6, "buyer_reference"), (8, "currency")]
    await confirm(world.a, record.id)
    record = await run_import_job(world.a, record.id)
    assert (record.created_invoices, record.error_count) == (1, 3)
    invoice, lines = await imported(world.a, "A-1")
    assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (
        Decimal("245.00"),
        Decimal("41.15"),
        Decimal("286.15"),
    )
    assert invoice.due_date == date(2026, 11, 15) and invoice.delivery_date == date(2026, 9, 30)  # 45 days' terms
    assert [line.sku for line in lines] == ["P-1", "P-2"]
    assert await count(world.a, Invoice) == 1


async def test_an_invoice_whose_rows_are_not_consecutive_is_refused_whole(world):
    await make_buyer(world.a, reference="R-1")
    record = await upload(
        world.a,
        csv_bytes(
            [
                "S-1,R-1,CNY,2026-10-01,,,,,Bolt,1,EA,1.00,13",
                "S-2,R-1,CNY,2026-10-01,,,,,Nut,1,EA,1.00,13",
                "S-1,R-1,CNY,2026-10-01,,,,,Washer,1,EA,1.00,13",
            ]
        ),
    )
    assert reasons(record) == [(2, "invoice_number"), (4, "invoice_number")]
    await confirm(world.a, record.id)
    record = await run_import_job(world.a, record.id)
    assert record.created_invoices == 1 and await count(world.a, Invoice, Invoice.number == "S-1") == 0


async def test_a_file_without_a_required_column_is_refused_naming_the_column(world):
    data = b"invoice_number,buyer_reference,currency,issue_date,description,quantity,tax_rate\nX,R,CNY,2026-01-01,a,1,13\n"
    with pytest.raises(ValidationFailed) as refused:
        await upload(world.a, data)
    assert refused.value.field == "unit_price" and "unit_price" in refused.value.message % refused.value.params
    assert await count(world.a, InvoiceImport) == 0


async def test_a_binary_file_is_refused(world):
    with pytest.raises(ValidationFailed) as refused:
        await upload(world.a, b"%PDF-1.7\x00\x01\x02binary", "statement.pdf")
    assert refused.value.field == "file"


async def test_a_job_run_again_after_a_crash_continues_after_the_last_committed_chunk(world):
    await make_buyer(world.a, reference="R-9")
    record = await upload(world.a, csv_bytes(one_line_invoices(5_000, "R-9", "CR")))
    await confirm(world.a, record.id)
    tenant = TenantId(world.a.tenant_id)
    # The first run commits one chunk and dies.
    async with tenant_unit_of_work(tenant) as session:
        run = await imports.begin_import(session, tenant, record.id)
    first = next(imports.chunks_of(run, chunk_rows=2_000))  # the job's own chunks would take the file in one
    async with tenant_unit_of_work(tenant) as session:
        await imports.import_chunk(session, run, first)
    partway = await the_import(world.a, record.id)
    assert partway.status is ImportStatus.RUNNING and partway.processed_rows == first.rows >= 2_000
    assert 0 < partway.processed_rows < 5_000
    # A late second delivery of the same chunk does nothing.
    async with tenant_unit_of_work(tenant) as session:
        await imports.import_chunk(session, run, first)
    assert (await the_import(world.a, record.id)).created_invoices == first.rows
    # The retried job picks up where the first stopped.
    done = await run_import_job(world.a, record.id)
    assert (done.status, done.created_invoices, done.unchanged_invoices, done.processed_rows) == (
        ImportStatus.DONE,
        5_000,
        0,
        5_000,
    )
    assert await count(world.a, Invoice) == 5_000
    # And a finished import delivered again stays as it is.
    assert (await run_import_job(world.a, record.id)).created_invoices == 5_000


async def test_a_confirmed_import_cannot_be_confirmed_twice(world):
    await make_buyer(world.a, reference="R-2")
    record = await upload(world.a, csv_bytes(one_line_invoices(2, "R-2", "T")))
    await confirm(world.a, record.id)
    with pytest.raises(Conflict):
        await confirm(world.a, record.id)


async def test_an_import_of_another_tenant_is_not_found_and_its_job_does_nothing(world):
    await make_buyer(world.a, reference="R-3")
    record = await upload(world.a, csv_bytes(one_line_invoices(3, "R-3", "X")))
    async with tenant_unit_of_work(TenantId(world.b.tenant_id)) as session:
        with pytest.raises(NotFound):
            await imports.get_import(session, owner_of(world.b), record.id)
        with pytest.raises(NotFound):
            await imports.confirm_import(session, owner_of(world.b), record.id)
    await confirm(world.a, record.id)
    # A message naming tenant B but A's import: the queries are scoped to B and find nothing.
    await import_invoices.run_async(tenant_id=str(world.b.tenant_id), job_id=str(uuid.uuid4()), import_id=str(record.id))
    assert (await the_import(world.a, record.id)).status is ImportStatus.QUEUED
    assert await count(world.a, Invoice) == 0 and await count(world.b, Invoice) == 0


def test_storage_refuses_keys_that_climb_out_or_belong_to_another_tenant(tmp_path):
    storage = LocalStorage(tmp_path)
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    stored = storage.put(mine, io.BytesIO(b"data"))
    assert stored.key.startswith(f"{mine}/") and storage.open(mine, stored.key).read() == b"data"
    for key in (stored.key, f"{mine}/../{theirs}/x", f"/{mine}/x", f"{theirs}/../{mine}/x"):
        with pytest.raises(TenancyError):
            storage.open(theirs, key)
    storage.delete(mine, stored.key)
    assert not any(tmp_path.rglob("*.*"))


# --- UBL ------------------------------------------------------------------------------------


async def test_the_ubl_examples_import_with_their_totals(world):
    await make_buyer(world.a, "Harbour Tools Ltd", reference="HT-77", vat_number="GB284019377", currency="EUR", country="GB")
    await make_buyer(world.a, "上海华东机电设备有限公司", reference="HDJD-0088", vat_number="91310115MA1H7QW36X")
    expected = {
        "ubl_mixed_tax_eur.xml": ("NWC-2026-04117", "EUR", "1730.00", "317.90", "2047.90", 4),
        "ubl_cny_chinese_buyer.xml": ("JSZC-20261118-0093", "CNY", "7450.00", "954.50", "8404.50", 3),
    }
    for filename, (number, currency, net, tax, gross, line_count) in expected.items():
        record = await upload(world.a, (DATA / filename).read_bytes(), filename)
        assert (record.format, record.error_count, record.total_rows) == ("ubl", 0, line_count)
        await confirm(world.a, record.id)
        record = await run_import_job(world.a, record.id)
        assert (record.status, record.created_invoices) == (ImportStatus.DONE, 1)
        invoice, lines = await imported(world.a, number)
        assert invoice.currency == currency and invoice.source is InvoiceSource.UBL
        assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (Decimal(net), Decimal(tax), Decimal(gross))
        assert invoice.open_amount == Decimal(gross) and len(lines) == line_count
    invoice, lines = await imported(world.a, "NWC-2026-04117")
    assert {line.tax_rate for line in lines} == {Decimal(19), Decimal(7)}
    # 150 metres at 12.00 per 10 metres.
    assert (lines[3].unit, lines[3].quantity, lines[3].unit_price, lines[3].net_amount) == (
        "MTR",
        150,
        Decimal("1.20"),
        Decimal("180.00"),
    )
    assert (invoice.due_date, invoice.po_reference) == (date(2026, 11, 4), "PO-HT-55120")
    invoice, lines = await imported(world.a, "JSZC-20261118-0093")
    assert lines[0].description == "深沟球轴承 6204-2RS" and "框架合同" in invoice.notes


@pytest.mark.parametrize(
    ("change", "element"),
    [
        (
            ('<cbc:InvoicedQuantity unitCode="C62">25<', '<cbc:InvoicedQuantity unitCode="C62">twenty-five<'),
            "cac:InvoiceLine[2]/cbc:InvoicedQuantity",
        ),
        (("<cbc:IssueDate>2026-10-05</cbc:IssueDate>", ""), "cbc:IssueDate"),
        (("<cbc:IssueDate>2026-10-05", "<cbc:IssueDate>5.10.2026"), "cbc:IssueDate"),
        (
            ('<cbc:PriceAmount currencyID="EUR">45.00', '<cbc:PriceAmount currencyID="EUR">45,00'),
            "cac:InvoiceLine[3]/cac:Price/cbc:PriceAmount",
        ),
        (('<cbc:TaxAmount currencyID="EUR">317.90', '<cbc:TaxAmount currencyID="EUR">318.90'), "cac:TaxTotal/cbc:TaxAmount"),
        (
            ('<cbc:TaxInclusiveAmount currencyID="EUR">2047.90', '<cbc:TaxInclusiveAmount currencyID="EUR">2047.9O'),
            "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount",
        ),
        (("GB284019377", "GB000000000"), "cac:AccountingCustomerParty"),
        (
            (
                '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"',
                '<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"',
            ),
            "CreditNote",
        ),
        (("</cac:LegalMonetaryTotal>", "</cac:LegalMonetaryTotl>"), "xml"),
        (('<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY x "boom">]>'), "xml"),
    ],
)
async def test_a_malformed_ubl_document_is_refused_naming_the_element_and_nothing_is_written(world, change, element):
    await make_buyer(world.a, "Harbour Tools Ltd", reference="HT-78", vat_number="GB284019377", currency="EUR", country="GB")
    text = (DATA / "ubl_mixed_tax_eur.xml").read_text()
    assert change[0] in text
    if element == "CreditNote":
        text = text.replace("</Invoice>", "</CreditNote>")
    with pytest.raises(ValidationFailed) as refused:
        await upload(world.a, text.replace(*change).encode(), "bad.xml")
    assert refused.value.field == element, refused.value.message % refused.value.params
    assert element in (refused.value.message % refused.value.params) or element in (
        "cac:AccountingCustomerParty",
        "cac:TaxTotal/cbc:TaxAmount",
        "xml",
    )
    assert await count(world.a, InvoiceImport) == 0 and await count(world.a, Invoice) == 0
    assert not any((Path(imports.get_storage().root) / str(world.a.tenant_id)).glob("*"))


async def test_the_malformed_example_names_the_line_and_element(world):
    with pytest.raises(ValidationFailed) as refused:
        await upload(world.a, (DATA / "ubl_malformed_quantity.xml").read_bytes(), "ubl_malformed_quantity.xml")
    assert refused.value.message % refused.value.params == "cac:InvoiceLine[2]/cbc:InvoicedQuantity is not a number."
    assert await count(world.a, InvoiceImport) == 0


# --- bulk JSON ------------------------------------------------------------------------------


async def test_a_job_that_fails_on_every_attempt_ends_the_import_as_failed_on_its_last(world, monkeypatch):
    from workers.invoices import MAX_RETRIES

    await make_buyer(world.a, reference="FAIL-1")
    record = await upload(world.a, csv_bytes(one_line_invoices(3, "FAIL-1", "F")))
    await confirm(world.a, record.id)

    async def database_gone(session, run, chunk):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(imports, "import_chunk", database_gone)
    for _attempt in range(MAX_RETRIES):  # Dramatiq delivers the message again after each failure
        with pytest.raises(ConnectionError):
            await run_import_job(world.a, record.id)
        assert (await the_import(world.a, record.id)).status is ImportStatus.RUNNING
    record = await run_import_job(world.a, record.id)  # the last attempt: no exception, no further retry
    assert record.status is ImportStatus.FAILED and record.failed_attempts == MAX_RETRIES + 1
    assert "database went away" in record.failure
    assert await count(world.a, Invoice) == 0
