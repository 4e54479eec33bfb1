"""Invoices and the ledger: the only code that changes invoices, orders, deliveries and ledger entries.

An invoice's `open_amount` and `status` follow from its gross amount and the allocations of ledger
entries against it; `_settle` recomputes both, under the invoice's row lock, whenever an entry lands.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.buyers.models import Buyer
from backend.buyers.repository import BuyerRepository
from backend.db.base import utcnow
from backend.disputes import holds
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.i18n import Translatable, _
from backend.invoices.drafts import InvoiceDraft, invoice_totals, line_totals, validate_draft
from backend.invoices.models import (
    STATUS_LABELS,
    Allocation,
    EntryKind,
    Invoice,
    InvoiceLine,
    InvoiceSource,
    InvoiceStatus,
    LedgerEntry,
)
from backend.invoices.repository import OPEN_STATUSES, InvoiceFilter, InvoiceRepository, LedgerRepository, OrderRepository
from backend.money import ZERO, is_currency, parse_decimal, round_money, storable


def invoice_view(invoice: Invoice) -> dict:
    return {
        "number": invoice.number,
        "buyer_id": str(invoice.buyer_id),
        "status": invoice.status.value,
        "currency": invoice.currency,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "gross_amount": str(invoice.gross_amount),
        "open_amount": str(invoice.open_amount),
    }


def _raise_first(problems) -> None:
    if problems:
        first = problems[0]
        raise ValidationFailed(first.message, field=first.field, params=first.args)


async def _buyer_of(session: AsyncSession, draft: InvoiceDraft, buyer_id: uuid.UUID | None) -> Buyer:
    repository = BuyerRepository(session)
    buyer = await repository.get(buyer_id) if buyer_id else await repository.by_reference(draft.buyer_reference)
    if buyer is None:
        raise ValidationFailed(_("The buyer is not one of your buyers."), field="buyer_id" if buyer_id else "buyer_reference")
    return buyer


async def create_invoice(
    session: AsyncSession,
    principal: Principal,
    draft: InvoiceDraft,
    *,
    buyer_id: uuid.UUID | None = None,
    source: InvoiceSource = InvoiceSource.CONSOLE,
) -> Invoice:
    """Store a draft invoice; issuing it (after the invoice audit) is a separate step."""
    require(principal, Permission.EDIT_LEDGER)
    draft.currency = (draft.currency or "").strip().upper()
    _raise_first(validate_draft(draft, buyer_named_apart=buyer_id is not None))
    buyer = await _buyer_of(session, draft, buyer_id)
    repository = InvoiceRepository(session)
    number = draft.number.strip()
    if await repository.by_number(number):
        raise Conflict(_("An invoice with this number already exists."), field="number")
    order = await OrderRepository(session).by_number(buyer.id, draft.po_reference.strip()) if draft.po_reference else None
    totals = invoice_totals(draft)
    invoice = Invoice(
        buyer_id=buyer.id,
        number=number,
        status=InvoiceStatus.DRAFT,
        currency=draft.currency,
        issue_date=draft.issue_date,
        delivery_date=draft.delivery_date,
        due_date=draft.due_date or draft.issue_date + timedelta(days=buyer.payment_terms_days),
        po_reference=(draft.po_reference or "").strip() or None,
        order_id=order.id if order else None,
        net_amount=totals.net,
        tax_amount=totals.tax,
        gross_amount=totals.gross,
        open_amount=totals.gross,
        source=source,
        notes=(draft.notes or "").strip() or None,
    )
    session.add(invoice)
    await session.flush()
    for line_no, line in enumerate(draft.lines, start=1):
        amounts = line_totals(line, invoice.currency)
        session.add(
            InvoiceLine(
                invoice_id=invoice.id,
                line_no=line_no,
                sku=(line.sku or "").strip() or None,
                description=line.description.strip(),
                quantity=line.quantity,
                unit=(line.unit or "EA").strip()[:16] or "EA",
                unit_price=line.unit_price,
                tax_rate=line.tax_rate,
                net_amount=amounts.net,
                tax_amount=amounts.tax,
                gross_amount=amounts.gross,
            )
        )
    await session.flush()
    audit.record(session, principal.actor(), "invoice.created", "invoice", invoice.id, after=invoice_view(invoice))
    return invoice


async def get_invoice(session: AsyncSession, principal: Principal, invoice_id: uuid.UUID, *, for_update: bool = False) -> Invoice:
    require(principal, Permission.READ_LEDGER)
    invoice = await InvoiceRepository(session).get(invoice_id, for_update=for_update)
    if invoice is None:
        raise NotFound(_("Not found."))
    return invoice


async def list_invoices(session: AsyncSession, principal: Principal, where: InvoiceFilter, *, limit: int = 50, offset: int = 0):
    require(principal, Permission.READ_LEDGER)
    return await InvoiceRepository(session).page(where, limit=limit, offset=offset)


async def issue_invoice(
    session: AsyncSession, principal: Principal, invoice_id: uuid.UUID, *, today: date | None = None
) -> Invoice:
    """Issue a draft after the invoice audit; a finding the tenant made blocking stops it (409)."""
    from backend.invoices import checks

    require(principal, Permission.EDIT_LEDGER)
    invoice = await get_invoice(session, principal, invoice_id, for_update=True)
    if invoice.status is not InvoiceStatus.DRAFT:
        raise Conflict(
            _("Only a draft invoice can be issued (status: %(status)s)."),
            field="status",
            params={"status": Translatable(STATUS_LABELS[invoice.status])},
        )
    if invoice.order_id:
        # Two drafts of one order issued at once would each count the other as not yet billed.
        await OrderRepository(session).get(invoice.order_id, for_update=True)
    findings = await checks.audit_invoice(session, invoice, today=today)
    blocking = [f for f in findings if f.blocking]
    if blocking:
        raise Conflict(
            _("The invoice audit found a blocking problem: %(finding)s"),
            field="findings",
            params={"finding": blocking[0].message_text()},
        )
    before = invoice_view(invoice)
    invoice.status = InvoiceStatus.ISSUED
    invoice.issued_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal.actor(),
        "invoice.issued",
        "invoice",
        invoice.id,
        before=before,
        after={**invoice_view(invoice), "findings": [{"check": f.check, "message": f.message % f.params} for f in findings]},
    )
    return invoice


# --- the ledger ----------------------------------------------------------------------------

DOCUMENT_PREFIX = {EntryKind.PAYMENT: "PAY", EntryKind.CREDIT_NOTE: "CN", EntryKind.WRITE_OFF: "WO", EntryKind.ADJUSTMENT: "ADJ"}


@dataclass(frozen=True)
class Balance:
    """What an invoice (or a buyer, per currency) owes: open = overdue part + current part; open = disputed + undisputed."""

    currency: str
    open: Decimal
    overdue: Decimal
    disputed: Decimal

    @property
    def undisputed(self) -> Decimal:
        return self.open - self.disputed


def invoice_balance(invoice: Invoice, today: date) -> Balance:
    open_amount = invoice.open_amount if invoice.status in OPEN_STATUSES else ZERO
    disputed = min(invoice.disputed_amount, open_amount)
    return Balance(invoice.currency, open_amount, open_amount if invoice.due_date < today else ZERO, disputed)


def derive_status(invoice: Invoice, totals: dict[EntryKind, Decimal]) -> InvoiceStatus:
    if invoice.status is InvoiceStatus.DRAFT:
        return InvoiceStatus.DRAFT
    paid = totals.get(EntryKind.PAYMENT, ZERO)
    credited = totals.get(EntryKind.CREDIT_NOTE, ZERO)
    written_off = totals.get(EntryKind.WRITE_OFF, ZERO)
    if invoice.open_amount <= 0:
        # A closed invoice is named by what closed most of it: 950 paid and 50 written off is paid,
        # 100 paid and 900 written off is a loss (ties go to the payment, then the credit note).
        if paid == credited == written_off == ZERO:
            return InvoiceStatus.CREDITED  # closed by a downward adjustment alone: a correction, not a payment
        closed_by = max(
            ((paid, 2, InvoiceStatus.PAID), (credited, 1, InvoiceStatus.CREDITED), (written_off, 0, InvoiceStatus.WRITTEN_OFF)),
            key=lambda share: share[:2],
        )
        return closed_by[2]
    if invoice.disputed_amount > 0:
        return InvoiceStatus.DISPUTED
    return InvoiceStatus.PARTIALLY_PAID if paid > 0 else InvoiceStatus.ISSUED


async def _settle(session: AsyncSession, invoice: Invoice) -> None:
    """Recompute the open amount and status from the allocations (the invoice's row is locked)."""
    totals = await LedgerRepository(session).totals_by_kind(invoice.id)
    reductions = sum((amount for kind, amount in totals.items() if kind is not EntryKind.ADJUSTMENT), ZERO)
    invoice.open_amount = invoice.gross_amount + totals.get(EntryKind.ADJUSTMENT, ZERO) - reductions
    invoice.disputed_amount = await holds.held_on(session, invoice)
    invoice.status = derive_status(invoice, totals)


async def refresh_invoice(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice | None:
    """For other areas (disputes) that changed what an invoice's status depends on."""
    invoice = await InvoiceRepository(session).get(invoice_id, for_update=True)
    if invoice is not None:
        await _settle(session, invoice)
        await session.flush()
    return invoice


def _amount(raw, currency: str, field_name: str = "amount") -> Decimal:
    amount = parse_decimal(raw)
    if amount is None:
        raise ValidationFailed(_("Enter an amount, such as 1250.00."), field=field_name)
    if not storable(amount):
        raise ValidationFailed(_("The amount is larger than Accord can hold (10^15)."), field=field_name)
    rounded = round_money(amount, currency)
    if rounded != amount:
        raise ValidationFailed(
            _("%(currency)s amounts have at most the currency's minor unit of decimals."),
            field=field_name,
            params={"currency": currency},
        )
    return amount


async def _new_entry(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: EntryKind,
    buyer_id: uuid.UUID,
    currency: str,
    amount: Decimal,
    entry_date: date | None,
    document_number: str | None,
    reason: str | None,
) -> LedgerEntry:
    entry_date = entry_date or date.today()
    if entry_date > date.today() + timedelta(days=1):
        raise ValidationFailed(_("The entry date is in the future."), field="entry_date")
    document_number = (
        document_number or ""
    ).strip() or f"{DOCUMENT_PREFIX[kind]}-{entry_date:%Y%m%d}-{secrets.token_hex(3).upper()}"
    if len(document_number) > 64:
        raise ValidationFailed(_("The document number is longer than 64 characters."), field="document_number")
    if await LedgerRepository(session).by_document(kind, document_number):
        raise Conflict(_("A document with this number is already in the ledger."), field="document_number")
    entry = LedgerEntry(
        buyer_id=buyer_id,
        kind=kind,
        document_number=document_number,
        entry_date=entry_date,
        currency=currency,
        amount=amount,
        unallocated_amount=ZERO,
        reason=(reason or "").strip()[:500] or None,
        created_by=principal.label,
    )
    session.add(entry)
    await session.flush()
    return entry


def _entry_view(entry: LedgerEntry, allocations: list[tuple[Invoice, Decimal]]) -> dict:
    return {
        "kind": entry.kind.value,
        "document_number": entry.document_number,
        "entry_date": entry.entry_date.isoformat(),
        "currency": entry.currency,
        "amount": str(entry.amount),
        "unallocated": str(entry.unallocated_amount),
        "allocations": {invoice.number: str(amount) for invoice, amount in allocations},
        "reason": entry.reason,
    }


@dataclass(frozen=True)
class PaymentAllocation:
    invoice_id: uuid.UUID
    amount: Decimal | str


async def record_payment(
    session: AsyncSession,
    principal: Principal,
    *,
    buyer_id: uuid.UUID,
    amount: Decimal | str,
    currency: str,
    entry_date: date | None = None,
    document_number: str | None = None,
    allocations: list[PaymentAllocation] | None = None,
    reason: str | None = None,
    named_only: bool = False,
) -> LedgerEntry:
    """A payment from a buyer: to the invoices the payer named, else to the oldest open invoices first.

    What finds no open invoice stays on account as the entry's unallocated amount. `named_only`: only
    the named allocations, even none (a card payment whose invoices closed meanwhile stays on account).
    """
    require(principal, Permission.EDIT_LEDGER)
    buyer = await BuyerRepository(session).get(buyer_id)
    if buyer is None:
        raise NotFound(_("Not found."))
    currency = (currency or "").strip().upper()
    if not is_currency(currency):
        raise ValidationFailed(_("Unknown currency code: %(value)s."), field="currency", params={"value": currency})
    total = _amount(amount, currency)
    if total <= 0:
        raise ValidationFailed(_("A payment is an amount above zero."), field="amount")
    invoices = InvoiceRepository(session)
    plan: list[tuple[Invoice, Decimal]] = []
    if allocations or named_only:
        allocations = allocations or []
        named = sum((_amount(a.amount, currency, "allocations") for a in allocations), ZERO)
        if named > total:
            raise ValidationFailed(_("The allocations add up to more than the payment."), field="allocations")
        # Each share is checked against the open amount alone, so two shares of one invoice could exceed it.
        if len({a.invoice_id for a in allocations}) != len(allocations):
            raise ValidationFailed(_("An allocation names the same invoice twice."), field="allocations")
        for item in sorted(allocations, key=lambda a: str(a.invoice_id)):  # one lock order for every payer
            invoice = await invoices.get(item.invoice_id, for_update=True)
            if invoice is None or invoice.buyer_id != buyer.id:
                raise ValidationFailed(_("An allocation names an invoice that is not this buyer's."), field="allocations")
            share = _amount(item.amount, currency, "allocations")
            if invoice.currency != currency:
                raise ValidationFailed(_("An allocation names an invoice in another currency."), field="allocations")
            if invoice.status not in OPEN_STATUSES or share <= 0 or share > invoice.open_amount:
                raise ValidationFailed(
                    _("Invoice %(number)s has %(open)s open; an allocation must be above zero and at most that."),
                    field="allocations",
                    params={"number": invoice.number, "open": str(invoice.open_amount)},
                )
            plan.append((invoice, share))
    else:
        # Oldest first, the undisputed parts before what disputes hold: a payment that does not say
        # otherwise pays what the buyer does not contest.
        remaining, shares = total, {}
        candidates = await invoices.open_of_buyer(buyer.id, currency, for_update=True)
        for held_first in (False, True):
            for invoice in candidates:
                held = min(invoice.disputed_amount, invoice.open_amount)
                room = invoice.open_amount - shares.get(invoice.id, ZERO) - (ZERO if held_first else held)
                share = min(remaining, room)
                if share > 0:
                    shares[invoice.id] = shares.get(invoice.id, ZERO) + share
                    remaining -= share
        plan = [(invoice, shares[invoice.id]) for invoice in candidates if invoice.id in shares]
    entry = await _new_entry(
        session,
        principal,
        kind=EntryKind.PAYMENT,
        buyer_id=buyer.id,
        currency=currency,
        amount=total,
        entry_date=entry_date,
        document_number=document_number,
        reason=reason,
    )
    allocated = await _allocate(session, entry, plan)
    entry.unallocated_amount = total - allocated
    await session.flush()
    audit.record(session, principal.actor(), "ledger.payment_recorded", "buyer", buyer.id, after=_entry_view(entry, plan))
    return entry


async def _allocate(session: AsyncSession, entry: LedgerEntry, plan: list[tuple[Invoice, Decimal]]) -> Decimal:
    allocated = ZERO
    for invoice, share in plan:
        session.add(Allocation(entry_id=entry.id, invoice_id=invoice.id, amount=share))
        allocated += share
    await session.flush()
    for invoice, _share in plan:
        await _settle(session, invoice)
    await session.flush()
    await holds.after_ledger_change(session, [invoice.id for invoice, _share in plan])
    return allocated


async def _record_against_invoice(
    session: AsyncSession,
    principal: Principal,
    kind: EntryKind,
    invoice_id: uuid.UUID,
    *,
    amount: Decimal | str,
    entry_date: date | None,
    document_number: str | None,
    reason: str | None,
) -> LedgerEntry:
    invoice = await get_invoice(session, principal, invoice_id, for_update=True)
    if invoice.status not in OPEN_STATUSES:
        raise Conflict(
            _("Invoice %(number)s has nothing open (status: %(status)s)."),
            field="invoice_id",
            params={"number": invoice.number, "status": Translatable(STATUS_LABELS[invoice.status])},
        )
    value = _amount(amount, invoice.currency)
    if kind is EntryKind.ADJUSTMENT:
        if value == 0:
            raise ValidationFailed(_("An adjustment is an amount other than zero."), field="amount")
        if not storable(invoice.open_amount + value):
            raise ValidationFailed(_("The amount is larger than Accord can hold (10^15)."), field="amount")
        if -value > invoice.open_amount:
            raise ValidationFailed(
                _("The amount is above what is open on the invoice (%(open)s)."),
                field="amount",
                params={"open": str(invoice.open_amount)},
            )
    else:
        if value <= 0:
            raise ValidationFailed(_("The amount must be above zero."), field="amount")
        if value > invoice.open_amount:
            raise ValidationFailed(
                _("The amount is above what is open on the invoice (%(open)s)."),
                field="amount",
                params={"open": str(invoice.open_amount)},
            )
    if kind in (EntryKind.CREDIT_NOTE, EntryKind.WRITE_OFF) and not (reason or "").strip():
        raise ValidationFailed(_("Give the reason; it goes on the document and the audit trail."), field="reason")
    before = invoice_view(invoice)
    entry = await _new_entry(
        session,
        principal,
        kind=kind,
        buyer_id=invoice.buyer_id,
        currency=invoice.currency,
        amount=value,
        entry_date=entry_date,
        document_number=document_number,
        reason=reason,
    )
    await _allocate(session, entry, [(invoice, value)])
    audit.record(
        session,
        principal.actor(),
        f"ledger.{kind.value}_recorded",
        "invoice",
        invoice.id,
        before=before,
        after={**invoice_view(invoice), "entry": _entry_view(entry, [(invoice, value)])},
    )
    return entry


async def record_credit_note(session: AsyncSession, principal: Principal, invoice_id: uuid.UUID, **details) -> LedgerEntry:
    require(principal, Permission.APPROVE_LEDGER)
    return await _record_against_invoice(session, principal, EntryKind.CREDIT_NOTE, invoice_id, **details)


async def record_write_off(session: AsyncSession, principal: Principal, invoice_id: uuid.UUID, **details) -> LedgerEntry:
    require(principal, Permission.APPROVE_LEDGER)
    return await _record_against_invoice(session, principal, EntryKind.WRITE_OFF, invoice_id, **details)


async def record_adjustment(session: AsyncSession, principal: Principal, invoice_id: uuid.UUID, **details) -> LedgerEntry:
    require(principal, Permission.EDIT_LEDGER)
    return await _record_against_invoice(session, principal, EntryKind.ADJUSTMENT, invoice_id, **details)


async def record_settlement(
    session: AsyncSession, principal: Principal, kind: EntryKind, invoice_id: uuid.UUID, **details
) -> LedgerEntry:
    """A credit note, write-off or (downward) adjustment that carries out a dispute's agreement.

    For the disputes service only: its own rules (the working role, and a second person's approval
    above the tenant's threshold) stand in for the approving role the ledger asks of a person.
    """
    require(principal, Permission.READ_LEDGER)
    return await _record_against_invoice(session, principal, kind, invoice_id, **details)


async def record_refund(
    session: AsyncSession,
    principal: Principal,
    payment_id: uuid.UUID,
    *,
    shares: list[PaymentAllocation],
    from_on_account: Decimal,
    document_number: str,
    reason: str,
) -> LedgerEntry | None:
    """Money of a recorded payment went back to the buyer (a card refund): what it paid is owed again.

    Written as a positive ADJUSTMENT (it adds to what the buyer owes) allocated to the invoices the
    payment had paid (`shares`, at most what it put on each), never by changing or deleting the payment:
    the ledger stays append-only, and the statement shows the payment and its refund as two documents.
    Not a credit note (the supplier forgives nothing) nor a negative payment (a payment is above zero).
    An invoice the payment closed opens again, even though it reads "paid". What of the refund the
    payment had left on account (`from_on_account`) simply leaves the account. Returns the adjustment,
    or None when the refund touched only the money on account.
    """
    require(principal, Permission.EDIT_LEDGER)
    payment = await LedgerRepository(session).get(payment_id, for_update=True)
    if payment is None or payment.kind is not EntryKind.PAYMENT:
        raise NotFound(_("Not found."))
    if from_on_account < 0 or from_on_account > payment.unallocated_amount:
        raise ValidationFailed(_("The refund takes more from the account than the payment left on it."), field="amount")
    paid_on = {
        allocation.invoice_id: allocation.amount
        for allocation, _number in await LedgerRepository(session).allocations_of_entry(payment.id)
    }
    plan: list[tuple[Invoice, Decimal]] = []
    for item in sorted(shares, key=lambda a: str(a.invoice_id)):  # one lock order for every writer
        share = _amount(item.amount, payment.currency, "allocations")
        if share <= 0 or share > paid_on.get(item.invoice_id, ZERO):
            raise ValidationFailed(_("A refund reopens an invoice by at most what the payment paid on it."), field="allocations")
        invoice = await InvoiceRepository(session).get(item.invoice_id, for_update=True)
        plan.append((invoice, share))
    payment.unallocated_amount -= from_on_account
    entry = None
    if plan:
        entry = await _new_entry(
            session,
            principal,
            kind=EntryKind.ADJUSTMENT,
            buyer_id=payment.buyer_id,
            currency=payment.currency,
            amount=sum((share for _invoice, share in plan), ZERO),
            entry_date=None,
            document_number=document_number,
            reason=reason,
        )
        await _allocate(session, entry, plan)
    await session.flush()
    audit.record(
        session,
        principal.actor(),
        "ledger.refund_recorded",
        "buyer",
        payment.buyer_id,
        after={
            "payment": payment.document_number,
            "refund": _entry_view(entry, plan) if entry else None,
            "from_on_account": str(from_on_account),
        },
    )
    return entry


async def invoice_entries(session: AsyncSession, principal: Principal, invoice_id: uuid.UUID):
    invoice = await get_invoice(session, principal, invoice_id)
    return await LedgerRepository(session).entries_of_invoice(invoice.id)


@dataclass(frozen=True)
class BuyerBalance(Balance):
    open_invoices: int = 0
    on_account: Decimal = ZERO  # payments not yet allocated to an invoice


async def buyer_balances(
    session: AsyncSession, principal: Principal, buyer_id: uuid.UUID, *, today: date | None = None
) -> list[BuyerBalance]:
    """One balance per currency the buyer is invoiced or has paid in."""
    require(principal, Permission.READ_LEDGER)
    today = today or date.today()
    rows = await InvoiceRepository(session).buyer_totals(buyer_id, today)
    on_account = dict(await LedgerRepository(session).unallocated_of_buyer(buyer_id))
    balances = {
        currency: BuyerBalance(
            currency, Decimal(open_), Decimal(overdue), Decimal(disputed), count, on_account.get(currency, ZERO)
        )
        for currency, open_, overdue, disputed, count in rows
    }
    for currency, amount in on_account.items():
        balances.setdefault(currency, BuyerBalance(currency, ZERO, ZERO, ZERO, 0, amount))
    return [balances[c] for c in sorted(balances)]


async def receivables(session: AsyncSession, principal: Principal, *, today: date | None = None) -> list[Balance]:
    """The tenant's open receivables per currency: what the console's home page leads with."""
    require(principal, Permission.READ_LEDGER)
    rows = await InvoiceRepository(session).buyer_totals(None, today or date.today())
    return [
        Balance(currency, Decimal(open_), Decimal(overdue), Decimal(disputed))
        for currency, open_, overdue, disputed, _count in rows
    ]
