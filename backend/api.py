"""The REST API under /api/v1: one controller per area, authenticated by API key.

Mounted by the app, which provides `principal` and `db` (backend.http.deps.DEPENDENCIES).
"""

from __future__ import annotations

from litestar import Router, get
from litestar.response import Response

from backend.audit.api import AuditController
from backend.buyers.api import BuyerController
from backend.db.engine import get_database
from backend.disputes.api import DisputeController, InvoiceDisputesController
from backend.disputes.settings_api import DisputeSettingsController
from backend.errors import DomainError
from backend.http.errors import domain_error_as_json
from backend.invoices.api import DeliveryController, InvoiceController, LedgerController, OrderController
from backend.invoices.checks_api import InvoiceCheckController, InvoiceFindingsController
from backend.invoices.import_api import InvoiceBulkController, InvoiceImportController
from backend.invoices.statement_api import StatementController
from backend.tenants.api import MemberController, TenantController


def api_router() -> Router:
    return Router(
        path="/api/v1",
        route_handlers=[
            TenantController,
            MemberController,
            AuditController,
            StatementController,
            InvoiceCheckController,
            InvoiceFindingsController,
            BuyerController,
            InvoiceController,
            LedgerController,
            OrderController,
            DeliveryController,
            InvoiceImportController,
            InvoiceBulkController,
            DisputeController,
            InvoiceDisputesController,
            DisputeSettingsController,
        ],
        exception_handlers={DomainError: domain_error_as_json},
        include_in_schema=True,
    )


@get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readiness(broker_ping=None):
    @get("/readyz", include_in_schema=False)
    async def readyz() -> Response[dict[str, str]]:
        checks: dict[str, str] = {}
        try:
            await get_database().ping()
            checks["database"] = "ok"
        except Exception as error:
            checks["database"] = f"failing: {type(error).__name__}"
        if broker_ping is not None:
            checks["jobs"] = "ok" if await broker_ping() else "failing"
        ready = all(value == "ok" for value in checks.values())
        return Response(checks, status_code=200 if ready else 503)

    return readyz
