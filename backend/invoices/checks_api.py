"""REST endpoints of the invoice audit: the tenant's check settings and an invoice's findings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from litestar import Controller, get, put
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.i18n import gettext
from backend.invoices import checks


@dataclass
class InvoiceCheckOut:
    check: str
    description: str
    # True: a finding of this check stops the invoice from being issued (409); False: it is a warning.
    blocking: bool

    @classmethod
    def of(cls, setting: checks.CheckSetting) -> InvoiceCheckOut:
        return cls(setting.check, gettext(setting.description), setting.blocking)


@dataclass
class InvoiceCheckIn:
    blocking: bool


@dataclass
class FindingOut:
    check: str
    severity: str  # "blocking" | "warning"
    message: str
    params: dict

    @classmethod
    def of(cls, finding: checks.Finding) -> FindingOut:
        return cls(finding.check, finding.severity, finding.message_text(), {k: str(v) for k, v in finding.params.items()})


@dataclass
class InvoiceFindingsOut:
    invoice_id: uuid.UUID
    # False while a blocking finding stands: issuing would be refused.
    issuable: bool
    findings: list[FindingOut]


class InvoiceCheckController(Controller):
    path = "/invoice-checks"
    tags = ["invoice audit"]

    @get("/", summary="The invoice-audit checks and whether each blocks issuing")
    async def list_checks(self, db: AsyncSession, principal: Principal) -> list[InvoiceCheckOut]:
        return [InvoiceCheckOut.of(setting) for setting in await checks.check_settings(db, principal)]

    @put(
        "/{check:str}",
        summary="Make a check block issuing, or only warn",
        description="Needs the credit-manager, administrator or owner role. An unknown check answers 422 naming `check`.",
    )
    async def set_check(self, db: AsyncSession, principal: Principal, check: str, data: InvoiceCheckIn) -> InvoiceCheckOut:
        return InvoiceCheckOut.of(await checks.set_blocking(db, principal, check, data.blocking))


class InvoiceFindingsController(Controller):
    path = "/invoices"
    tags = ["invoice audit"]

    @get("/{invoice_id:uuid}/findings", summary="The invoice audit's findings for one invoice, as it stands now")
    async def findings(self, db: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> InvoiceFindingsOut:
        found = await checks.findings_for(db, principal, invoice_id)
        return InvoiceFindingsOut(
            invoice_id=invoice_id,
            issuable=not any(f.blocking for f in found),
            findings=[FindingOut.of(f) for f in found],
        )
