"""What a buyer's own contact reads in the portal: the home figures, the invoices, an invoice with its
PDF, the statement of account (and confirming its balance), the instalment plans.

Every function takes the signed-in contact and reads only that contact's buyer at that supplier: the
buyer comes from the principal, never from the request. Anyone else — a team member, a key, a job —
is answered NotFound, the same as an id that does not exist.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.principal import Principal, PrincipalKind
from backend.buyers.models import Buyer
from backend.buyers.repository import BuyerRepository
from backend.disputes.models import DisputeCase, Instalment
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.i18n import _
from backend.invoices import invoice_pdf as pdf
from backend.invoices import statements
from backend.invoices.models import Allocation, Invoice, InvoiceLine, LedgerEntry, StatementConfirmation
from backend.invoices.portal_repository import BuyerLedgerRepository, CurrencyTotals, ListedInvoices
from backend.invoices.repository import InvoiceRepository, LedgerRepository
from backend.invoices.service import Balance, invoice_balance
from backend.money import ZERO
from backend.tenants.service import get_current_tenant

PAGE_SIZE = 50
MAX_NOTE = 2000


class InvoiceView(enum.StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    DISPUTED = "disputed"
    PAID = "paid"
    ALL = "all"


class InvoiceSort(enum.StrEnum):
    DUE = "due"  # earliest due first: what to pay next
    ISSUED = "issued"  # newest first


VIEW_LABELS = {
    InvoiceView.OPEN: _("Open"),
    InvoiceView.OVERDUE: _("Overdue"),
    InvoiceView.DISPUTED: _("In dispute"),
    InvoiceView.PAID: _("Paid or settled"),
    InvoiceView.ALL: _("All invoices"),
}
# What is still to pay reads best by due date; a history (paid, everything) newest first.
DEFAULT_SORT = {
    InvoiceView.OPEN: InvoiceSort.DUE,
    InvoiceView.OVERDUE: InvoiceSort.DUE,
    InvoiceView.DISPUTED: InvoiceSort.DUE,
    InvoiceView.PAID: InvoiceSort.ISSUED,
    InvoiceView.ALL: InvoiceSort.ISSUED,
}
SORT_LABELS = {
    InvoiceSort.DUE: _("Due date, earliest first"),
    InvoiceSort.ISSUED: _("Issue date, newest first"),
}


def buyer_of(principal: Principal) -> uuid.UUID:
    """The contact's own buyer; anyone who is not a buyer's contact finds nothing here."""
    if principal.kind is not PrincipalKind.BUYER_CONTACT or principal.buyer_id is None:
        raise NotFound(_("Not found."))
    return principal.buyer_id


async def _buyer(session: AsyncSession, principal: Principal) -> Buyer:
    buyer = await BuyerRepository(session).get(buyer_of(principal))
    if buyer is None:
        raise NotFound(_("Not found."))
    return buyer


# --- home ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyBalance:
    """What the buyer owes in one currency: open = disputed (held) + payable; overdue is part of open."""

    currency: str
    open: Decimal
    open_count: int
    overdue: Decimal
    overdue_count: int
    disputed: Decimal
    on_account: Decimal = ZERO  # paid, not yet applied to an invoice

    @property
    def payable(self) -> Decimal:
        return self.open - self.disputed


@dataclass(frozen=True)
class WaitingCase:
    case: DisputeCase
    offer_to_answer: bool
    question_to_answer: bool


@dataclass(frozen=True)
class PortalHome:
    balances: list[CurrencyBalance]
    waiting: list[WaitingCase]
    cases_in_progress: int
    next_instalment: tuple[Instalment, DisputeCase] | None


async def _balances(session: AsyncSession, buyer_id: uuid.UUID, today: date) -> list[CurrencyBalance]:
    rows = {row.currency: row for row in await BuyerLedgerRepository(session).balances(buyer_id, today)}
    on_account = dict(await LedgerRepository(session).unallocated_of_buyer(buyer_id))
    found = []
    for currency in sorted(rows.keys() | on_account.keys()):
        row = rows.get(currency)
        found.append(
            CurrencyBalance(
                currency=currency,
                open=row.open if row else ZERO,
                open_count=row.open_count if row else 0,
                overdue=row.overdue if row else ZERO,
                overdue_count=row.overdue_count if row else 0,
                disputed=row.disputed if row else ZERO,
                on_account=on_account.get(currency, ZERO),
            )
        )
    return found


async def home(session: AsyncSession, principal: Principal, *, today: date | None = None) -> PortalHome:
    buyer_id = buyer_of(principal)
    today = today or date.today()
    repository = BuyerLedgerRepository(session)
    return PortalHome(
        balances=await _balances(session, buyer_id, today),
        waiting=[WaitingCase(*row) for row in await repository.cases_waiting(buyer_id)],
        cases_in_progress=await repository.cases_in_progress(buyer_id),
        next_instalment=await repository.next_instalment(buyer_id),
    )


# --- invoices --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceList:
    invoices: list[Invoice]
    totals: list[CurrencyTotals]
    view: InvoiceView
    sort: InvoiceSort
    query: str
    page: int
    pages: int

    @property
    def total(self) -> int:
        return sum(t.count for t in self.totals)


async def invoice_list(
    session: AsyncSession,
    principal: Principal,
    *,
    view: InvoiceView = InvoiceView.OPEN,
    query: str | None = None,
    sort: InvoiceSort | None = None,
    page: int = 1,
    today: date | None = None,
) -> InvoiceList:
    """One page of the buyer's invoices, and the count and sums of all that match: two queries, whatever the size."""
    sort = sort or DEFAULT_SORT[view]
    query = (query or "").strip()[:100]
    where = ListedInvoices(buyer_id=buyer_of(principal), view=view.value, today=today or date.today(), query=query or None)
    repository = BuyerLedgerRepository(session)
    totals = list(await repository.invoice_totals(where))
    pages = max(1, -(-sum(t.count for t in totals) // PAGE_SIZE))
    page = min(max(page, 1), pages)  # past the end shows the last page rather than an empty one
    rows = await repository.invoice_page(where, sort=sort.value, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return InvoiceList(list(rows), totals, view, sort, query, page, pages)


@dataclass(frozen=True)
class InvoiceCase:
    case: DisputeCase
    amount: Decimal  # what the case disputes on this invoice


@dataclass(frozen=True)
class InvoicePage:
    invoice: Invoice
    lines: list[InvoiceLine]
    entries: list[tuple[LedgerEntry, Allocation]]
    cases: list[InvoiceCase]
    balance: Balance

    @property
    def disputable(self) -> bool:
        """Something is open that no case holds yet."""
        return self.balance.undisputed > 0


async def _invoice(session: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> Invoice:
    invoice = await BuyerLedgerRepository(session).invoice(buyer_of(principal), invoice_id)
    if invoice is None:
        raise NotFound(_("Not found."))
    return invoice


async def invoice_page(
    session: AsyncSession, principal: Principal, invoice_id: uuid.UUID, *, today: date | None = None
) -> InvoicePage:
    invoice = await _invoice(session, principal, invoice_id)
    return InvoicePage(
        invoice=invoice,
        lines=list(await InvoiceRepository(session).lines(invoice.id)),
        entries=list(await LedgerRepository(session).entries_of_invoice(invoice.id)),
        cases=[
            InvoiceCase(case, amount)
            for case, amount in await BuyerLedgerRepository(session).cases_of_invoice(invoice.buyer_id, invoice.id)
        ],
        balance=invoice_balance(invoice, today or date.today()),
    )


async def invoice_pdf(session: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> tuple[bytes, str]:
    """The invoice as a PDF in the reader's language, and the file name to offer it under."""
    invoice = await _invoice(session, principal, invoice_id)
    balance = invoice_balance(invoice, date.today())
    document = pdf.InvoiceDocument(
        supplier_name=(await get_current_tenant(session)).name,
        buyer=await _buyer(session, principal),
        invoice=invoice,
        lines=await InvoiceRepository(session).lines(invoice.id),
        open_amount=balance.open,
        disputed_amount=balance.disputed,
    )
    return pdf.invoice_pdf(document), pdf.filename_of(invoice)


# --- statement of account ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BuyerStatement:
    statement: statements.Statement
    # Per currency, the balance the buyer is asked to confirm: open less what was paid on account.
    balances: dict[str, Decimal]
    # The newest confirmation of each currency.
    last_confirmations: list[StatementConfirmation]


def _balances_to_confirm(statement: statements.Statement) -> dict[str, Decimal]:
    # A buyer with nothing open confirms a zero balance in its own currency.
    return {f.currency: f.net_balance for f in statement.currencies} or {statement.buyer.currency: ZERO}


async def statement(session: AsyncSession, principal: Principal, *, today: date | None = None) -> BuyerStatement:
    buyer = await _buyer(session, principal)
    drawn = await statements.build_statement(session, buyer, today or date.today())
    latest: dict[str, StatementConfirmation] = {}
    for confirmation in await BuyerLedgerRepository(session).confirmations(buyer.id, limit=20):
        latest.setdefault(confirmation.currency, confirmation)
    return BuyerStatement(drawn, _balances_to_confirm(drawn), sorted(latest.values(), key=lambda c: c.currency))


async def statement_pdf(session: AsyncSession, principal: Principal) -> tuple[bytes, str]:
    drawn = await statements.build_statement(session, await _buyer(session, principal), date.today())
    return statements.statement_pdf(drawn), statements.export_filename(drawn, "pdf")


def _amount(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw.strip())
    except (InvalidOperation, AttributeError):
        return None
    return value if value.is_finite() else None


async def confirm_balance(
    session: AsyncSession,
    principal: Principal,
    *,
    seen: dict[str, str],
    note: str | None = None,
    today: date | None = None,
) -> list[StatementConfirmation]:
    """The contact confirms the balance of today's statement, per currency, as it was shown to them.

    `seen` is what the page showed (currency → balance): if the ledger moved since, nothing is
    recorded and the contact is asked to look again, so a confirmation always names what was read.
    """
    buyer = await _buyer(session, principal)
    note = (note or "").strip() or None
    if note and len(note) > MAX_NOTE:
        raise ValidationFailed(_("Keep the note under %(limit)s characters."), field="note", params={"limit": MAX_NOTE})
    as_of = today or date.today()
    balances = _balances_to_confirm(await statements.build_statement(session, buyer, as_of))
    shown = {currency.upper(): _amount(value) for currency, value in seen.items()}
    if shown != balances:
        raise Conflict(
            _("Your balance changed since the statement was opened. Check the figures again before you confirm."),
            field="balance",
        )
    confirmations = []
    for currency, balance in balances.items():
        confirmation = StatementConfirmation(
            buyer_id=buyer.id,
            contact_id=principal.id,
            confirmed_by=principal.display_name or principal.label,
            as_of=as_of,
            currency=currency,
            balance=balance,
            note=note,
        )
        session.add(confirmation)
        confirmations.append(confirmation)
    await session.flush()
    audit.record(
        session,
        principal.actor(),
        "statement.confirmed",
        "buyer",
        buyer.id,
        after={
            "as_of": as_of.isoformat(),
            "balances": {currency: str(balance) for currency, balance in balances.items()},
            "note": note,
        },
    )
    return confirmations


# --- instalments ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstalmentPlan:
    case: DisputeCase
    instalments: list[Instalment]

    @property
    def next_due(self) -> Instalment | None:
        return next((i for i in self.instalments if i.status == "due"), None)

    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.instalments), ZERO)

    @property
    def paid(self) -> Decimal:
        return sum((i.paid_amount for i in self.instalments), ZERO)


async def instalment_plans(session: AsyncSession, principal: Principal) -> list[InstalmentPlan]:
    plans: dict[uuid.UUID, InstalmentPlan] = {}
    for instalment, case in await BuyerLedgerRepository(session).instalments(buyer_of(principal)):
        plans.setdefault(case.id, InstalmentPlan(case, [])).instalments.append(instalment)
    return list(plans.values())
