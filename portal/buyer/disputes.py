"""The buyer's disputes: raise one on invoices or lines with evidence, follow it, answer, agree."""

from __future__ import annotations

from litestar import Controller


class PortalDisputesController(Controller):
    path = "/portal/disputes"
    include_in_schema = False
