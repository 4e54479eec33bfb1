"""A contact's own settings: password, language, notifications, switching supplier, signing out
everywhere; and the supplier's branding (theme and logo) the portal wears."""

from __future__ import annotations

from litestar import Controller


class PortalAccountController(Controller):
    path = "/portal"
    include_in_schema = False
