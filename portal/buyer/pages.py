"""The buyer's own pages: home, invoices, an invoice (with its PDF), the statement, instalments."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Response

from backend.auth.principal import Principal
from backend.tenants.service import Branding
from portal.buyer.common import render


class PortalPagesController(Controller):
    path = "/portal"
    include_in_schema = False

    @get("/")
    async def home(self, request: Request, contact: Principal, brand: Branding) -> Response:
        return render(request, "buyer/home.html", brand=brand)
