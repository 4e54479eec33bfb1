"""Settings › Invoice audit: which checks of an invoice against its order stop it from being issued."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, can
from backend.auth.principal import Principal
from backend.errors import ValidationFailed
from backend.i18n import _, gettext
from backend.invoices import checks
from portal import web
from portal.console.sign_in import Form

PATH = "/console/settings/invoice-checks"
CHOICES = {"true": True, "false": False}
# What the page calls each check; the description (backend.invoices.checks.CHECKS) says what it finds.
CHECK_NAMES = {
    "missing_order": _("Purchase order on file"),
    "currency": _("Currency"),
    "line_not_ordered": _("Items ordered"),
    "quantity": _("Quantity"),
    "unit_price": _("Unit price"),
    "tax": _("Tax rate"),
    "totals": _("Order total"),
    "duplicate_number": _("Duplicate invoice number"),
    "duplicate_billing": _("Billed twice"),
    "due_date": _("Due date and payment terms"),
}


class InvoiceChecksController(Controller):
    path = PATH
    include_in_schema = False

    async def _page(
        self, request: Request, db: AsyncSession, principal: Principal, *, status_code: int = 200, **extra
    ) -> Response:
        return web.render(
            request,
            "console/invoice_checks.html",
            status_code=status_code,
            # Translated here, not with _() in the template, which would mark the text as safe HTML.
            settings=[
                {
                    "check": s.check,
                    "name": gettext(CHECK_NAMES.get(s.check, s.check)),
                    "description": gettext(s.description),
                    "blocking": s.blocking,
                }
                for s in await checks.check_settings(db, principal)
            ],
            can_change=can(principal, Permission.APPROVE_LEDGER),
            **extra,
        )

    @get("/")
    async def index(self, request: Request, db: AsyncSession, principal: Principal, saved: str | None = None) -> Response:
        return await self._page(request, db, principal, changed=saved if saved in checks.CHECKS else None)

    @post("/{check:str}")
    async def change(
        self, request: Request, db: AsyncSession, principal: Principal, check: str, data: Annotated[dict[str, str], Form]
    ) -> Response:
        try:
            if data.get("blocking") not in CHOICES:
                raise ValidationFailed(_("Choose whether the check blocks issuing or only warns."), field="blocking")
            setting = await checks.set_blocking(db, principal, check, CHOICES[data["blocking"]])
        except ValidationFailed as error:
            await db.rollback()
            return await self._page(
                request, db, principal, status_code=422, error={"check": check, "message": error.translated(gettext)}
            )
        if not web.is_htmx(request):
            return web.redirect(request, f"{PATH}?saved={setting.check}")
        # htmx swaps in this check's row only (hx-select), which says in words what was saved.
        return await self._page(request, db, principal, changed=setting.check)
