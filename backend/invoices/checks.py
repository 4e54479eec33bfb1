"""The invoice audit before issue: a draft checked against its purchase order and the buyer's terms.

Each check gives findings; the tenant decides per check whether a finding blocks issuing
(`InvoiceCheckSetting`), so a team can start by watching and later enforce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.buyers.repository import BuyerRepository
from backend.errors import ValidationFailed
from backend.i18n import _, gettext
from backend.invoices.checks_repository import InvoiceCheckRepository
from backend.invoices.models import Invoice, InvoiceCheckSetting, InvoiceLine, OrderLine
from backend.invoices.repository import InvoiceRepository, OrderRepository
from backend.money import ZERO, as_typed, round_money

# The checks, in the order they are shown, with what each means to a finance team.
CHECKS: dict[str, str] = {
    "missing_order": _("The invoice names no purchase order, or one that is not on file."),
    "currency": _("The invoice's currency differs from the order's."),
    "line_not_ordered": _("A line bills an item that is not on the order."),
    "quantity": _("A line bills more than was ordered (counting earlier invoices of the order)."),
    "unit_price": _("A line's unit price differs from the order's."),
    "tax": _("A line's tax rate differs from the order's."),
    "totals": _("The invoice's net total exceeds what is left to bill on the order."),
    "duplicate_number": _("Another invoice has the same number once spaces and punctuation are ignored."),
    "duplicate_billing": _("Another invoice bills this buyer the same amount for the same order or day."),
    "due_date": _("The due date does not follow the buyer's payment terms."),
}
# Blocking unless the tenant says otherwise: two numbers that read the same confuse every buyer.
BLOCKING_BY_DEFAULT = frozenset({"duplicate_number"})


@dataclass(frozen=True)
class Finding:
    check: str
    message: str
    params: dict = field(default_factory=dict)
    blocking: bool = False

    def message_text(self) -> str:
        return gettext(self.message) % self.params if self.params else gettext(self.message)

    @property
    def severity(self) -> str:
        return "blocking" if self.blocking else "warning"


def _normalised(number: str) -> str:
    return re.sub(r"[-_ /.#]", "", number.lower())


def _line_key(line: InvoiceLine | OrderLine) -> str:
    return line.sku or line.description


async def audit_invoice(session: AsyncSession, invoice: Invoice, *, today: date | None = None) -> list[Finding]:
    findings: list[tuple[str, str, dict]] = []
    repository = InvoiceCheckRepository(session)
    lines = await InvoiceRepository(session).lines(invoice.id)
    orders = OrderRepository(session)
    order = await orders.get(invoice.order_id) if invoice.order_id else None
    if order is None:
        if invoice.po_reference:
            findings.append(("missing_order", _("Purchase order %(po)s is not on file."), {"po": invoice.po_reference}))
        else:
            findings.append(("missing_order", _("The invoice names no purchase order."), {}))
    else:
        findings += await _against_order(repository, invoice, lines, order, await orders.lines(order.id))
    if similar := await repository.similar_numbers(invoice, _normalised(invoice.number)):
        findings.append(
            (
                "duplicate_number",
                _("Invoice number %(number)s is already used as %(other)s."),
                {"number": invoice.number, "other": ", ".join(similar)},
            )
        )
    if same := await repository.same_billing(invoice):
        findings.append(
            (
                "duplicate_billing",
                _("Invoice %(other)s already bills this buyer %(amount)s %(currency)s for the same order or day."),
                {
                    "other": ", ".join(same),
                    "amount": str(round_money(invoice.gross_amount, invoice.currency)),
                    "currency": invoice.currency,
                },
            )
        )
    buyer = await BuyerRepository(session).get(invoice.buyer_id)
    if buyer is not None:
        expected = invoice.issue_date + timedelta(days=buyer.payment_terms_days)
        if invoice.due_date != expected:
            findings.append(
                (
                    "due_date",
                    _("Due %(due)s, but the buyer's terms of %(days)s days give %(expected)s."),
                    {"due": invoice.due_date.isoformat(), "days": buyer.payment_terms_days, "expected": expected.isoformat()},
                )
            )
    settings = await repository.settings()
    return [
        Finding(check, message, params, blocking=_is_blocking(check, settings))
        for check, message, params in sorted(findings, key=lambda f: list(CHECKS).index(f[0]))
    ]


async def _against_order(repository, invoice, lines, order, order_lines) -> list[tuple[str, str, dict]]:
    findings = []
    if order.currency != invoice.currency:
        findings.append(
            (
                "currency",
                _("The invoice is in %(invoice)s, the order in %(order)s."),
                {"invoice": invoice.currency, "order": order.currency},
            )
        )
    ordered = {_line_key(line): line for line in order_lines}
    already = await repository.quantity_invoiced_on_order(order.id, invoice.id)
    # Lines of this invoice count too: two lines of 60 against an order of 100 bill 120.
    billed_so_far = dict(already)
    for line in lines:
        match = ordered.get(_line_key(line))
        if match is None:
            findings.append(
                (
                    "line_not_ordered",
                    _("Line %(line)s (%(item)s) is not on order %(po)s."),
                    {"line": line.line_no, "item": _line_key(line), "po": order.number},
                )
            )
            continue
        billed = billed_so_far.get(_line_key(line), ZERO) + line.quantity
        billed_so_far[_line_key(line)] = billed
        if billed > match.quantity:
            findings.append(
                (
                    "quantity",
                    _("Line %(line)s: %(billed)s billed in all, %(ordered)s ordered."),
                    {"line": line.line_no, "billed": as_typed(billed), "ordered": as_typed(match.quantity)},
                )
            )
        if line.unit_price != match.unit_price:
            findings.append(
                (
                    "unit_price",
                    _("Line %(line)s: unit price %(price)s, the order says %(ordered)s."),
                    {
                        "line": line.line_no,
                        "price": _amount(line.unit_price, invoice.currency),
                        "ordered": _amount(match.unit_price, invoice.currency),
                    },
                )
            )
        if line.tax_rate != match.tax_rate:
            findings.append(
                (
                    "tax",
                    _("Line %(line)s: tax %(rate)s %%, the order says %(ordered)s %%."),
                    {"line": line.line_no, "rate": as_typed(line.tax_rate), "ordered": as_typed(match.tax_rate)},
                )
            )
    order_net = sum((line.quantity * line.unit_price for line in order_lines), ZERO)
    billed_before = sum((already.get(key, ZERO) * line.unit_price for key, line in ordered.items()), ZERO)
    if invoice.net_amount > order_net - billed_before:
        findings.append(
            (
                "totals",
                _("Net %(net)s exceeds the %(left)s left to bill on order %(po)s."),
                {
                    "net": _amount(invoice.net_amount, invoice.currency),
                    "left": _amount(order_net - billed_before, invoice.currency),
                    "po": order.number,
                },
            )
        )
    return findings


def _amount(value: Decimal, currency: str) -> str:
    """Money as an invoice prints it (12.50, not 12.5 or 12.5000); a finer unit price keeps its decimals."""
    rounded = round_money(value, currency)
    return str(rounded) if rounded == value else as_typed(value)


def _is_blocking(check: str, settings: dict[str, InvoiceCheckSetting]) -> bool:
    setting = settings.get(check)
    return setting.blocking if setting is not None else check in BLOCKING_BY_DEFAULT


# --- settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckSetting:
    check: str
    description: str
    blocking: bool


async def check_settings(session: AsyncSession, principal: Principal) -> list[CheckSetting]:
    require(principal, Permission.READ_LEDGER)
    settings = await InvoiceCheckRepository(session).settings()
    return [CheckSetting(check, description, _is_blocking(check, settings)) for check, description in CHECKS.items()]


async def set_blocking(session: AsyncSession, principal: Principal, check: str, blocking: bool) -> CheckSetting:
    require(principal, Permission.APPROVE_LEDGER)
    if check not in CHECKS:
        raise ValidationFailed(_("Unknown invoice check: %(value)s."), field="check", params={"value": check})
    repository = InvoiceCheckRepository(session)
    setting = await repository.setting(check, for_update=True)
    before = setting.blocking if setting else check in BLOCKING_BY_DEFAULT
    if setting is None:
        setting = InvoiceCheckSetting(check=check, blocking=blocking)
        session.add(setting)
    setting.blocking = blocking
    await session.flush()
    if before != blocking:
        audit.record(
            session,
            principal.actor(),
            "invoice_check.changed",
            "invoice_check",
            check,
            before={"blocking": before},
            after={"blocking": blocking},
        )
    return CheckSetting(check, CHECKS[check], blocking)


async def findings_for(session: AsyncSession, principal: Principal, invoice_id) -> list[Finding]:
    from backend.invoices.service import get_invoice

    invoice = await get_invoice(session, principal, invoice_id)
    return await audit_invoice(session, invoice)
