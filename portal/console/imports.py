"""Console › Invoices › Import: upload a CSV or UBL file, see the preview with its row errors, confirm, follow the job."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, can
from backend.auth.principal import Principal
from backend.errors import Conflict, ValidationFailed
from backend.i18n import _, gettext
from backend.invoices import imports
from backend.invoices.models import ImportStatus, InvoiceImport
from portal import web

PAGE_SIZE = 20
BASE = "/console/invoices/import"

STATUS_LABELS = {
    ImportStatus.PREVIEWED: _("Previewed"),
    ImportStatus.QUEUED: _("Queued"),
    ImportStatus.RUNNING: _("Importing"),
    ImportStatus.DONE: _("Done"),
    ImportStatus.FAILED: _("Failed"),
}


def error_text(error: dict) -> str:
    text = gettext(error["message"])
    return text % error["params"] if error.get("params") else text


def _status(record: InvoiceImport) -> dict:
    return {
        "record": record,
        "percent": imports.progress_percent(record),
        "running": record.status in (ImportStatus.QUEUED, ImportStatus.RUNNING),
        "status_labels": STATUS_LABELS,
        "error_text": error_text,
    }


class ImportPageController(Controller):
    path = BASE
    include_in_schema = False

    async def _index(self, request: Request, db: AsyncSession, principal: Principal, *, status_code: int = 200, **extra):
        total, rows = await imports.list_imports(db, principal, limit=PAGE_SIZE)
        extra.setdefault("upload_error", None)
        return web.render(
            request,
            "console/imports.html",
            status_code=status_code,
            rows=rows,
            total=total,
            status_labels=STATUS_LABELS,
            can_edit=can(principal, Permission.EDIT_LEDGER),
            **extra,
        )

    @get("/")
    async def index(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        return await self._index(request, db, principal)

    @post("/", request_max_body_size=imports.MAX_UPLOAD_BYTES + 64 * 1024)
    async def upload(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        data: Annotated[dict, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Response:
        upload = data.get("file")
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise ValidationFailed(_("Choose a CSV or UBL XML file."), field="file")
            record = await imports.upload_import(db, principal, filename=upload.filename, source=upload.file)
        except (ValidationFailed, Conflict, imports.UploadTooLarge) as error:
            await db.rollback()
            failure = {"field": error.field, "message": error.translated(gettext)}
            return await self._index(request, db, principal, status_code=error.status_code, upload_error=failure)
        return web.redirect(request, f"{BASE}/{record.id}")

    @get("/{import_id:uuid}")
    async def detail(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        import_id: uuid.UUID,
        rows: Annotated[int, Parameter(ge=1, le=200)] = 20,
    ) -> Response:
        record = await imports.get_import(db, principal, import_id)
        table = await imports.preview_table(db, principal, import_id, limit=rows)
        bad_rows = {error["row"] for error in record.errors}
        return web.render(
            request,
            "console/imports_detail.html",
            table=table,
            bad_rows=bad_rows,
            can_edit=can(principal, Permission.EDIT_LEDGER),
            **_status(record),
        )

    @get("/{import_id:uuid}/progress")
    async def progress(self, request: Request, db: AsyncSession, principal: Principal, import_id: uuid.UUID) -> Response:
        record = await imports.get_import(db, principal, import_id)
        return web.render(request, "console/_import_progress.html", **_status(record))

    @post("/{import_id:uuid}/confirm")
    async def confirm(self, request: Request, db: AsyncSession, principal: Principal, import_id: uuid.UUID) -> Response:
        try:
            await imports.confirm_import(db, principal, import_id)
        except Conflict:
            await db.rollback()  # confirmed already, in another tab: its page shows where it stands
        return web.redirect(request, f"{BASE}/{import_id}")
