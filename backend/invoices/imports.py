"""Invoice imports: a CSV or UBL file uploaded, previewed, confirmed, then imported by a job in chunks; and bulk JSON.

An upload is stored and read through once: every row-level error is found before anything is
imported. Confirming records the `invoices.import` job; the job reads the file in chunks of about
10,000 rows, each chunk in its own unit of work that also advances `processed_rows`, so the page
shows progress and a job run again after a crash continues after the last committed chunk (fewer,
larger chunks pay each transaction's fixed costs less often; a 100,000-row file still moves its
progress bar ten times).
Invoices are idempotent by number: one already in the ledger is counted as unchanged, never touched.
Imported invoices are issued (the supplier's ERP issued them), with totals computed from their lines.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.db.base import utcnow
from backend.db.tenancy import TenantId
from backend.errors import Conflict, DomainError, NotFound, ValidationFailed
from backend.files.storage import FileTooLarge, Storage, get_storage
from backend.i18n import _
from backend.invoices import csv_format, ubl
from backend.invoices.csv_format import FIRST_DATA_ROW, Candidate, Chunk, RowError
from backend.invoices.drafts import InvoiceDraft, Problem, line_totals, validate_draft
from backend.invoices.import_repository import BuyerMatch, ImportRepository
from backend.invoices.models import ImportStatus, InvoiceImport, InvoiceSource
from backend.money import ZERO

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
CHUNK_ROWS = 10_000
MAX_STORED_ERRORS = 500
MAX_BULK_INVOICES = 1000
IMPORT_ACTOR = "invoices.import"


class UploadTooLarge(DomainError):
    status_code = 413


class BulkRefused(ValidationFailed):
    """A bulk request with problems: nothing of it was written; `problems` names each one by its field."""

    def __init__(self, problems: list[RowError]) -> None:
        first = problems[0]
        super().__init__(first.message, field=first.field, params=first.params)
        self.problems = problems


def import_view(record: InvoiceImport) -> dict:
    return {
        "format": record.format,
        "filename": record.filename,
        "sha256": record.sha256,
        "status": record.status.value,
        "total_rows": record.total_rows,
        "processed_rows": record.processed_rows,
        "created_invoices": record.created_invoices,
        "unchanged_invoices": record.unchanged_invoices,
        "error_count": record.error_count,
        "created_by": record.created_by,
    }


def progress_percent(record: InvoiceImport) -> int:
    if record.status is ImportStatus.DONE:
        return 100
    return min(100, record.processed_rows * 100 // record.total_rows) if record.total_rows else 0


# --- checking and storing a chunk's invoices ------------------------------------------------


@dataclass
class _Checked:
    ready: list[tuple[Candidate, BuyerMatch]] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


def _problem_at(candidate: Candidate, problem: Problem) -> RowError:
    """A draft's problem at the file row it comes from: a line's at that line's row, the invoice's at its first."""
    if problem.field.startswith("lines["):
        index, _sep, name = problem.field[len("lines[") :].partition("].")
        return RowError(candidate.rows[int(index) - 1], name, problem.message, problem.args)
    return RowError(candidate.rows[0], problem.field, problem.message, problem.args)


async def _check(
    session: AsyncSession,
    candidates: list[Candidate],
    *,
    identifiers: bool,
    problem_at=_problem_at,
    every_row: bool = False,
    storing: bool = False,
) -> _Checked:
    """Which candidates can be stored, which are already in the ledger (unchanged), and every problem of the rest.

    `every_row`: an unknown buyer is reported on each row that names it (CSV), not once per invoice.
    `storing`: the candidates are about to be inserted, and where the insert skips existing numbers
    itself, they are not looked up first (those skipped are counted as unchanged after the insert).
    """
    checked = _Checked()
    valid: list[Candidate] = []
    for candidate in candidates:
        if candidate.failed or candidate.draft is None:
            continue
        problems = validate_draft(candidate.draft)
        if problems:
            checked.errors += [problem_at(candidate, problem) for problem in problems]
        else:
            valid.append(candidate)
    repository = ImportRepository(session)
    buyers = await repository.buyers_by_keys((key for c in valid for key in c.buyer_keys), identifiers=identifiers)
    skip_lookup = storing and repository.insert_skips_existing
    existing = set() if skip_lookup else await repository.existing_numbers(c.number for c in valid)
    for candidate in valid:
        buyer = next((buyers[key] for key in candidate.buyer_keys if key in buyers), None)
        if buyer is None:
            unknown = Problem("buyer_reference", _("Unknown buyer reference: %(value)s."), {"value": candidate.buyer_keys[0]})
            if every_row:
                checked.errors += [RowError(row, unknown.field, unknown.message, unknown.args) for row in candidate.rows]
            else:
                checked.errors.append(problem_at(candidate, unknown))
        elif candidate.number in existing:
            checked.unchanged += 1
        else:
            checked.ready.append((candidate, buyer))
    return checked


async def _store(
    session: AsyncSession, ready: list[tuple[Candidate, BuyerMatch]], *, source: InvoiceSource, import_id: uuid.UUID | None
) -> list[str]:
    """Issued invoices with totals from their lines (drafts.line_totals), inserted in bulk; the numbers created."""
    repository = ImportRepository(session)
    orders = await repository.orders_by_number(c.draft.po_reference for c, _b in ready if c.draft.po_reference)
    invoices, lines = [], []
    new_id = uuid.uuid4
    for candidate, buyer in ready:
        draft = candidate.draft
        invoice_id = new_id()
        net = tax = ZERO
        for line_no, line in enumerate(draft.lines, start=1):
            totals = line_totals(line, draft.currency)
            net += totals.net
            tax += totals.tax
            lines.append(
                (
                    invoice_id,
                    line_no,
                    line.sku,
                    line.description,
                    line.quantity,
                    line.unit,
                    line.unit_price,
                    line.tax_rate,
                    totals.net,
                    totals.tax,
                    totals.gross,
                )
            )
        invoices.append(
            (
                invoice_id,
                buyer.id,
                draft.number,
                draft.currency,
                draft.issue_date,
                draft.delivery_date,
                draft.due_date or draft.issue_date + timedelta(days=buyer.payment_terms_days),
                draft.po_reference,
                orders.get((buyer.id, draft.po_reference)),
                draft.notes,
                net,
                tax,
                net + tax,
            )
        )
    created = await repository.insert_issued(invoices, lines, source=source, import_id=import_id, now=utcnow())
    return [row[2] for row in invoices if row[0] in created]


# --- upload and preview ---------------------------------------------------------------------


def _detect_format(head: bytes) -> str:
    if ubl.looks_like_xml(head):
        return "ubl"
    if b"\x00" in head:
        raise ValidationFailed(_("The file is neither CSV nor UBL XML."), field="file")
    return "csv"


@dataclass
class _Analysis:
    total_rows: int = 0
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0

    def add(self, errors: list[RowError]) -> None:
        room = MAX_STORED_ERRORS - len(self.errors)
        self.errors += [error.as_dict() for error in sorted(errors, key=lambda e: e.row)[: max(room, 0)]]
        self.error_count += len(errors)


async def _analyse(session: AsyncSession, storage: Storage, tenant_id: uuid.UUID, key: str, kind: str) -> _Analysis:
    analysis = _Analysis()
    if kind == "ubl":
        with await asyncio.to_thread(storage.open, tenant_id, key) as binary:
            document = ubl.parse_ubl(binary.read())
        checked = await _check(session, [_ubl_candidate(document)], identifiers=True, problem_at=_ubl_problem_at)
        if checked.errors:
            error = checked.errors[0]
            raise ValidationFailed(error.message, field=error.field, params=error.params)
        analysis.total_rows = len(document.draft.lines)
        return analysis
    with await asyncio.to_thread(storage.open, tenant_id, key) as binary:
        scattered = csv_format.scattered_numbers(csv_format.text_of(binary))
    with await asyncio.to_thread(storage.open, tenant_id, key) as binary:
        for chunk in csv_format.read_chunks(csv_format.text_of(binary), scattered=scattered, chunk_rows=CHUNK_ROWS):
            checked = await _check(session, chunk.candidates, identifiers=False, every_row=True)
            analysis.add(chunk.errors + checked.errors)
            analysis.total_rows += chunk.rows
    return analysis


def _ubl_problem_at(candidate: Candidate, problem: Problem) -> RowError:
    return RowError(1, ubl.element_of(problem), problem.message, problem.args)


def _ubl_candidate(document: ubl.UblInvoice) -> Candidate:
    return Candidate(
        number=document.draft.number,
        rows=list(range(1, len(document.draft.lines) + 1)),
        draft=document.draft,
        buyer_keys=document.buyer_keys,
    )


async def upload_import(
    session: AsyncSession, principal: Principal, *, filename: str, source: BinaryIO, storage: Storage | None = None
) -> InvoiceImport:
    """Store the file and read it through: the import is previewed with every row-level error, nothing imported yet.

    A UBL document with any problem is refused whole (422 naming the element) and not kept.
    """
    require(principal, Permission.EDIT_LEDGER)
    storage = storage or get_storage()
    tenant_id = principal.tenant_id
    try:
        stored = await asyncio.to_thread(storage.put, tenant_id, source, max_size=MAX_UPLOAD_BYTES)
    except FileTooLarge:
        raise UploadTooLarge(_("The file is larger than 50 MB."), field="file") from None
    try:
        if stored.size == 0:
            raise ValidationFailed(_("The file is empty."), field="file")
        with await asyncio.to_thread(storage.open, tenant_id, stored.key) as binary:
            kind = _detect_format(binary.read(1024))
        analysis = await _analyse(session, storage, tenant_id, stored.key, kind)
    except BaseException:
        await asyncio.to_thread(storage.delete, tenant_id, stored.key)
        raise
    record = InvoiceImport(
        format=kind,
        filename=(filename or "upload").strip()[-255:] or "upload",
        sha256=stored.sha256,
        storage_key=stored.key,
        status=ImportStatus.PREVIEWED,
        total_rows=analysis.total_rows,
        processed_rows=0,
        created_invoices=0,
        unchanged_invoices=0,
        errors=analysis.errors,
        error_count=analysis.error_count,
        created_by=principal.label,
    )
    session.add(record)
    await session.flush()
    return record


async def get_import(session: AsyncSession, principal: Principal, import_id: uuid.UUID) -> InvoiceImport:
    require(principal, Permission.READ_LEDGER)
    record = await ImportRepository(session).get(import_id)
    if record is None:
        raise NotFound(_("Not found."))
    return record


async def list_imports(session: AsyncSession, principal: Principal, *, limit: int = 20, offset: int = 0):
    require(principal, Permission.READ_LEDGER)
    return await ImportRepository(session).recent(limit, offset)


@dataclass(frozen=True)
class PreviewTable:
    columns: list[str]
    rows: list[tuple[int, list[str]]]


async def preview_table(
    session: AsyncSession, principal: Principal, import_id: uuid.UUID, *, limit: int = 20, storage: Storage | None = None
) -> PreviewTable:
    """The file's first rows as they were uploaded (a UBL document's lines), for the preview."""
    record = await get_import(session, principal, import_id)
    storage = storage or get_storage()
    with await asyncio.to_thread(storage.open, principal.tenant_id, record.storage_key) as binary:
        if record.format == "csv":
            return PreviewTable(*csv_format.first_rows(csv_format.text_of(binary), limit))
        document = ubl.parse_ubl(binary.read())
    draft = document.draft
    columns = [
        "invoice_number",
        "buyer_reference",
        "currency",
        "issue_date",
        "sku",
        "description",
        "quantity",
        "unit",
        "unit_price",
        "tax_rate",
    ]
    rows = [
        (
            index,
            [
                draft.number,
                draft.buyer_reference,
                draft.currency,
                draft.issue_date.isoformat(),
                line.sku or "",
                line.description,
                str(line.quantity),
                line.unit,
                str(line.unit_price),
                str(line.tax_rate),
            ],
        )
        for index, line in enumerate(draft.lines[:limit], start=1)
    ]
    return PreviewTable(columns, rows)


async def confirm_import(session: AsyncSession, principal: Principal, import_id: uuid.UUID) -> InvoiceImport:
    """Queue the import's job; a second confirmation is refused (409), so one file is imported once."""
    from backend.jobs import service as jobs

    require(principal, Permission.EDIT_LEDGER)
    record = await ImportRepository(session).get(import_id, for_update=True)
    if record is None:
        raise NotFound(_("Not found."))
    if record.status is not ImportStatus.PREVIEWED:
        raise Conflict(_("This import was already confirmed."), field="status")
    record.status = ImportStatus.QUEUED
    jobs.enqueue(session, IMPORT_ACTOR, {"import_id": str(record.id)})
    await session.flush()
    return record


# --- the job --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportRun:
    tenant_id: TenantId
    import_id: uuid.UUID
    format: str
    storage_key: str
    rows_done: int
    job_id: str | None = None


async def begin_import(session: AsyncSession, tenant_id: TenantId, import_id: uuid.UUID, *, job_id: str | None = None):
    """Mark a queued import running (or pick up one a crashed run left running); None when there is nothing to do."""
    record = await ImportRepository(session).get(import_id, for_update=True)
    if record is None or record.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        return None
    if record.processed_rows == 0:
        # The job's own reading replaces the preview's: buyers may have been added since.
        record.errors, record.error_count, record.created_invoices, record.unchanged_invoices = [], 0, 0, 0
    record.status = ImportStatus.RUNNING
    record.failure = None
    await session.flush()
    return ImportRun(tenant_id, record.id, record.format, record.storage_key, record.processed_rows, job_id)


def chunks_of(run: ImportRun, *, chunk_rows: int = CHUNK_ROWS, storage: Storage | None = None) -> Iterator[Chunk]:
    """The rows still to import, in chunks; read outside any transaction, since reading needs none."""
    storage = storage or get_storage()
    if run.format == "ubl":
        if run.rows_done:
            return
        with storage.open(run.tenant_id, run.storage_key) as binary:
            document = ubl.parse_ubl(binary.read())
        candidate = _ubl_candidate(document)
        yield Chunk(first_row=FIRST_DATA_ROW, rows=len(candidate.rows), candidates=[candidate], errors=[])
        return
    with storage.open(run.tenant_id, run.storage_key) as binary:
        scattered = csv_format.scattered_numbers(csv_format.text_of(binary))
    with storage.open(run.tenant_id, run.storage_key) as binary:
        yield from csv_format.read_chunks(
            csv_format.text_of(binary), scattered=scattered, chunk_rows=chunk_rows, skip_rows=run.rows_done
        )


async def import_chunk(session: AsyncSession, run: ImportRun, chunk: Chunk) -> None:
    """Import one chunk and advance the progress, in one transaction; a chunk another delivery did is skipped."""
    record = await ImportRepository(session).get(run.import_id, for_update=True)
    if record is None or record.status is not ImportStatus.RUNNING:
        return
    if record.processed_rows != chunk.first_row - FIRST_DATA_ROW:
        return  # a second delivery of the job got here first
    identifiers = run.format == "ubl"
    if identifiers:
        checked = await _check(session, chunk.candidates, identifiers=True, problem_at=_ubl_problem_at, storing=True)
    else:
        checked = await _check(session, chunk.candidates, identifiers=False, every_row=True, storing=True)
    source = InvoiceSource.UBL if identifiers else InvoiceSource.CSV
    created = await _store(session, checked.ready, source=source, import_id=record.id)
    errors = chunk.errors + checked.errors
    room = max(MAX_STORED_ERRORS - len(record.errors), 0)
    record.errors = [*record.errors, *(error.as_dict() for error in sorted(errors, key=lambda e: e.row)[:room])]
    record.error_count += len(errors)
    record.created_invoices += len(created)
    record.unchanged_invoices += checked.unchanged + len(checked.ready) - len(created)
    record.processed_rows += chunk.rows
    await session.flush()


async def finish_import(session: AsyncSession, run: ImportRun) -> InvoiceImport | None:
    """Done: one audit entry for the whole run, with its counts and the file's SHA-256."""
    record = await ImportRepository(session).get(run.import_id, for_update=True)
    if record is None or record.status is not ImportStatus.RUNNING:
        return None
    record.status = ImportStatus.DONE
    record.total_rows = record.processed_rows
    record.finished_at = utcnow()
    await session.flush()
    actor = Actor(kind="job", id=run.job_id, label=IMPORT_ACTOR)
    audit.record(session, actor, "invoice_import.finished", "invoice_import", record.id, after=import_view(record))
    return record


async def note_failure(
    session: AsyncSession, run: ImportRun, reason: str, *, final: bool, attempts_allowed: int | None = None
) -> bool:
    """Shown on the import's page. A final failure (the file is gone), or the last of the attempts the
    job is allowed, ends the import as failed; True then, and the job is not to be tried again."""
    record = await ImportRepository(session).get(run.import_id, for_update=True)
    if record is None or record.status is not ImportStatus.RUNNING:
        return True
    record.failure = reason[:2000]
    record.failed_attempts += 1
    final = final or (attempts_allowed is not None and record.failed_attempts >= attempts_allowed)
    if final:
        record.status = ImportStatus.FAILED
        record.finished_at = utcnow()
        audit.record(
            session,
            Actor(kind="job", id=run.job_id, label=IMPORT_ACTOR),
            "invoice_import.failed",
            "invoice_import",
            record.id,
            after={**import_view(record), "failure": record.failure},
            success=False,
        )
    await session.flush()
    return final


# --- bulk JSON ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkResult:
    created: list[str]
    unchanged: list[str]


def _bulk_problem_at(candidate: Candidate, problem: Problem) -> RowError:
    index = candidate.rows[0]
    return RowError(index, f"invoices[{index}].{problem.field}", problem.message, problem.args)


async def import_invoices(session: AsyncSession, principal: Principal, drafts: list[InvoiceDraft]) -> BulkResult:
    """All or nothing: any problem in any invoice refuses the whole request (BulkRefused lists them all).

    An invoice whose number is already in the ledger is left as it is and listed as unchanged.
    """
    require(principal, Permission.EDIT_LEDGER)
    if not drafts:
        raise ValidationFailed(_("Send at least one invoice."), field="invoices")
    if len(drafts) > MAX_BULK_INVOICES:
        raise ValidationFailed(_("Send at most 1,000 invoices in one request."), field="invoices")
    candidates, problems, seen = [], [], {}
    for index, draft in enumerate(drafts):
        draft.number = (draft.number or "").strip()
        draft.currency = (draft.currency or "").strip().upper()
        draft.buyer_reference = (draft.buyer_reference or "").strip()
        candidate = Candidate(number=draft.number, rows=[index], draft=draft, buyer_keys=(draft.buyer_reference,))
        if draft.number and draft.number in seen:
            problems.append(
                RowError(
                    index,
                    f"invoices[{index}].number",
                    _("Invoice %(number)s appears twice in this request."),
                    {"number": draft.number},
                )
            )
            candidate.failed = True
        seen[draft.number] = index
        candidates.append(candidate)
    checked = await _check(session, candidates, identifiers=False, problem_at=_bulk_problem_at)
    problems += checked.errors
    if problems:
        raise BulkRefused(sorted(problems, key=lambda p: p.row))
    created = await _store(session, checked.ready, source=InvoiceSource.API, import_id=None)
    created_numbers = set(created)
    result = BulkResult(created=created, unchanged=[c.number for c in candidates if c.number not in created_numbers])
    audit.record(
        session,
        principal.actor(),
        "invoices.bulk_imported",
        "invoice",
        None,
        after={"created": len(result.created), "unchanged": len(result.unchanged), "numbers": result.created[:100]},
    )
    return result
