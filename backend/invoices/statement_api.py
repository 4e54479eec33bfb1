"""GET /api/v1/buyers/{id}/statement: a buyer's statement of account as JSON, CSV or PDF."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from litestar import Controller, get
from litestar.params import Parameter
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.invoices import statements
from backend.invoices.statements import BUCKET_KEYS, Statement


def statement_json(statement: Statement) -> dict:
    def amount(value) -> str:
        return str(value)

    return {
        "supplier_name": statement.supplier_name,
        "buyer": {
            "id": str(statement.buyer.id),
            "reference": statement.buyer.reference,
            "legal_name": statement.buyer.legal_name,
        },
        "as_of": statement.as_of.isoformat(),
        "currencies": [
            {
                "currency": f.currency,
                "aging": {key: amount(f.buckets[key]) for key in BUCKET_KEYS},
                "open": amount(f.open),
                "overdue": amount(f.overdue),
                "disputed": amount(f.disputed),
                "on_account": amount(f.on_account),
                "dso_days": None if f.dso_days is None else amount(f.dso_days),
                "days_beyond_terms": None if f.days_beyond_terms is None else amount(f.days_beyond_terms),
            }
            for f in statement.currencies
        ],
        "items": [
            {
                "invoice_id": str(i.invoice_id),
                "number": i.number,
                "po_reference": i.po_reference,
                "issue_date": i.issue_date.isoformat(),
                "due_date": i.due_date.isoformat(),
                "currency": i.currency,
                "gross_amount": amount(i.gross_amount),
                "open_amount": amount(i.open_amount),
                "disputed_amount": amount(i.disputed_amount),
                "days_past_due": i.days_past_due,
                "aging_bucket": i.bucket,
            }
            for i in statement.items
        ],
    }


def statement_response(statement: Statement, output: str) -> Response:
    """The CSV and PDF downloads, shared by the API and the console page."""
    if output == "csv":
        media_type, content = "text/csv; charset=utf-8", statements.statement_csv(statement).encode("utf-8")
    elif output == "pdf":
        media_type, content = "application/pdf", statements.statement_pdf(statement)
    else:
        return Response(statement_json(statement))
    filename = statements.export_filename(statement, output)
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


class StatementController(Controller):
    path = "/buyers/{buyer_id:uuid}/statement"
    tags = ["statements"]

    @get("/")
    async def statement(
        self,
        db: AsyncSession,
        principal: Principal,
        buyer_id: uuid.UUID,
        as_of: Annotated[
            date | None, Parameter(description="The day the statement is drawn up for; today when left out.")
        ] = None,
        # Named as the query parameter it is, so a refusal names the field the caller sent.
        format: Annotated[Literal["json", "csv", "pdf"], Parameter(description="json, csv or pdf.")] = "json",
    ) -> Response:
        statement = await statements.statement_of_account(db, principal, buyer_id, as_of=as_of)
        return statement_response(statement, format)
