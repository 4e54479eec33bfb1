"""Console › a buyer's statement of account: the page, and its CSV and PDF downloads."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.errors import ValidationFailed
from backend.i18n import gettext
from backend.invoices import statements
from backend.invoices.statement_api import statement_response
from portal import web
from portal.console.invoices import parse_date


class StatementPageController(Controller):
    path = "/console/buyers/{buyer_id:uuid}/statement"
    include_in_schema = False

    @get("/")
    async def statement(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        buyer_id: uuid.UUID,
        as_of: Annotated[str | None, Parameter(max_length=10)] = None,
        output: Annotated[Literal["html", "csv", "pdf"], Parameter(query="format")] = "html",
    ) -> Response:
        as_of_error = None
        try:
            day = parse_date(as_of, "as_of") or date.today()
            statement = await statements.statement_of_account(db, principal, buyer_id, as_of=day)
        except ValidationFailed as error:
            # The page answers for today instead, with the reason the chosen date was not used.
            as_of_error = error.translated(gettext)
            statement = await statements.statement_of_account(db, principal, buyer_id)
        if output != "html" and as_of_error is None:
            return statement_response(statement, output)
        return web.render(
            request,
            "console/statement.html",
            status_code=422 if as_of_error else 200,
            statement=statement,
            as_of_error=as_of_error,
            as_of_input=as_of if as_of_error else statement.as_of.isoformat(),
            bucket_labels=statements.BUCKETS,
            confirmations=await statements.confirmations(db, principal, statement.buyer.id),
        )
