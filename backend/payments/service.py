"""Buyers pay from the portal through Stripe Checkout, into the supplier's connected account.

What may be paid is decided here, from the ledger at the moment of the request: an invoice's
undisputed part, what a case's agreement leaves payable, a chosen set of invoices (each for its
payable part), the next instalment of a plan. The browser names only ids. Each decision is a
`PaymentAttempt` (committed before Stripe is called, so a retry reuses its idempotency key), then a
Checkout Session on the connected account. The ledger changes only when a verified webhook says the
money moved (`apply_*` below, called by backend.payments.handlers), once per attempt whichever of
checkout.session.completed and payment_intent.succeeded comes first.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.policies import Permission, require
from backend.auth.principal import Principal, PrincipalKind
from backend.buyers.repository import BuyerRepository
from backend.config import get_settings
from backend.db.base import utcnow
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.disputes import service as disputes
from backend.disputes.models import MONEY_OPTIONS, DisputeState, OptionKind
from backend.disputes.repository import DisputeRepository
from backend.errors import Conflict, DomainError, NotFound, ValidationFailed
from backend.i18n import _
from backend.invoices import service as ledger
from backend.invoices.models import Invoice
from backend.invoices.portal_repository import BuyerLedgerRepository
from backend.invoices.repository import OPEN_STATUSES, InvoiceRepository, LedgerRepository
from backend.invoices.service import PaymentAllocation
from backend.money import ZERO, round_money
from backend.payments import chargebacks
from backend.payments.attempts_repository import AttemptRepository
from backend.payments.events import TENANT_METADATA
from backend.payments.gateway import PaymentsOff, from_minor, payments_configured, stripe_client, to_minor
from backend.payments.models import AttemptStatus, PaymentAccount, PaymentAttempt, PaymentPurpose
from backend.payments.repository import PaymentRepository

log = logging.getLogger("accord.payments")

ATTEMPT_METADATA = "accord_attempt_id"
# A press of a pay button reuses an open attempt for the same thing this young (Checkout lives 31 minutes).
REUSE_WINDOW = timedelta(minutes=25)
CHECKOUT_LIFETIME = timedelta(minutes=31)  # Stripe's shortest is 30 minutes
MAX_INVOICES = 50


class PaymentNotStarted(DomainError):
    """Stripe refused or did not answer the Checkout Session: nothing was charged."""

    status_code = 502


# --- what the buyer may pay -------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    invoice_id: uuid.UUID
    number: str
    amount: Decimal


@dataclass(frozen=True)
class Payable:
    """What the server decided this buyer may pay now: never an amount from the browser."""

    purpose: PaymentPurpose
    currency: str
    amount: Decimal
    shares: tuple[Share, ...]
    case_id: uuid.UUID | None = None
    instalment_id: uuid.UUID | None = None
    label: str = ""  # what the Checkout page names (invoice numbers, case number)

    def allocations(self) -> list[dict]:
        return [
            {"invoice_id": str(s.invoice_id), "number": s.number, "amount": str(round_money(s.amount, self.currency))}
            for s in self.shares
        ]


@dataclass(frozen=True)
class PayRequest:
    """What a pay button posts: ids only."""

    purpose: str  # invoice | invoices | agreed | instalment
    invoice_ids: list[uuid.UUID] = field(default_factory=list)
    case_id: uuid.UUID | None = None


def payable_on(invoice: Invoice, today: date | None = None) -> Decimal:
    """What is open on the invoice and no dispute holds."""
    return ledger.invoice_balance(invoice, today or date.today()).undisputed


def buyer_of(contact: Principal) -> uuid.UUID:
    if contact.kind is not PrincipalKind.BUYER_CONTACT or contact.buyer_id is None:
        raise NotFound(_("Not found."))
    return contact.buyer_id


async def _invoice_of(session: AsyncSession, buyer_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice:
    invoice = await BuyerLedgerRepository(session).invoice(buyer_id, invoice_id)
    if invoice is None:
        raise NotFound(_("Not found."))
    return invoice


async def for_invoice(session: AsyncSession, buyer_id: uuid.UUID, invoice_id: uuid.UUID) -> Payable:
    """One invoice: its undisputed part when a dispute holds some of it, else all that is open."""
    invoice = await _invoice_of(session, buyer_id, invoice_id)
    amount = payable_on(invoice)
    if amount <= 0:
        raise Conflict(
            _("Nothing on invoice %(number)s can be paid now."), field="invoice_ids", params={"number": invoice.number}
        )
    purpose = PaymentPurpose.UNDISPUTED if invoice.disputed_amount > 0 else PaymentPurpose.INVOICES
    return Payable(purpose, invoice.currency, amount, (Share(invoice.id, invoice.number, amount),), label=invoice.number)


async def for_invoices(session: AsyncSession, buyer_id: uuid.UUID, invoice_ids: list[uuid.UUID]) -> Payable:
    """Several invoices in one currency, each for its payable part."""
    chosen = list(dict.fromkeys(invoice_ids))
    if not chosen:
        raise ValidationFailed(_("Choose at least one invoice to pay."), field="invoice_ids")
    if len(chosen) > MAX_INVOICES:
        raise ValidationFailed(
            _("Choose at most %(count)s invoices at a time."), field="invoice_ids", params={"count": MAX_INVOICES}
        )
    invoices = [await _invoice_of(session, buyer_id, invoice_id) for invoice_id in chosen]
    if len({invoice.currency for invoice in invoices}) > 1:
        raise ValidationFailed(_("Choose invoices in one currency; pay each currency separately."), field="invoice_ids")
    shares = []
    for invoice in sorted(invoices, key=lambda i: (i.due_date, i.number)):
        amount = payable_on(invoice)
        if amount <= 0:
            raise Conflict(
                _("Nothing on invoice %(number)s can be paid now."), field="invoice_ids", params={"number": invoice.number}
            )
        shares.append(Share(invoice.id, invoice.number, amount))
    if len(shares) == 1:
        return await for_invoice(session, buyer_id, shares[0].invoice_id)
    return Payable(
        PaymentPurpose.INVOICES,
        invoices[0].currency,
        sum((s.amount for s in shares), ZERO),
        tuple(shares),
        label=", ".join(s.number for s in shares)[:200],
    )


async def for_agreed_case(session: AsyncSession, buyer_id: uuid.UUID, case_id: uuid.UUID) -> Payable:
    """What the case's agreement leaves payable on its invoices: what is open, less what the agreed
    credit note, discount, correction or write-off will take off, less what other cases still hold."""
    view = await disputes.buyer_case_view(session, buyer_id, case_id)
    agreement = view.agreement
    if view.case.state is not DisputeState.AGREED or agreement is None:
        raise Conflict(_("Only an agreed case has an agreed amount to pay."), field="case_id")
    option = agreement[1]
    if option.kind is OptionKind.INSTALMENTS:
        raise Conflict(_("This agreement is paid by instalments, once the plan is set up."), field="case_id")
    to_credit = option.amount if option.kind in MONEY_OPTIONS else ZERO
    shares = []
    for entry in sorted(view.invoices, key=lambda e: (e.invoice.due_date, e.invoice.number)):
        invoice = entry.invoice
        open_amount = invoice.open_amount if invoice.status in OPEN_STATUSES else ZERO
        credit = min(to_credit, entry.held)
        to_credit -= credit
        held_by_others = max(ZERO, min(invoice.disputed_amount, open_amount) - entry.held)
        amount = open_amount - credit - held_by_others
        if amount > 0:
            shares.append(Share(invoice.id, invoice.number, amount))
    if not shares:
        raise Conflict(_("Nothing is left to pay on this case's invoices."), field="case_id")
    return Payable(
        PaymentPurpose.AGREED,
        view.case.currency,
        sum((s.amount for s in shares), ZERO),
        tuple(shares),
        case_id=view.case.id,
        label=view.case.number,
    )


async def for_next_instalment(session: AsyncSession, buyer_id: uuid.UUID, case_id: uuid.UUID) -> Payable:
    """The plan's next unpaid instalment, applied to the case's invoices earliest due first."""
    view = await disputes.buyer_case_view(session, buyer_id, case_id)
    # Only a plan in force: a case resolved by it, not broken since (a broken plan reopens the case and
    # holds its invoices again; what the buyer owes then is the team's to decide, not the schedule's).
    if view.case.state is not DisputeState.RESOLVED or view.case.plan_broken_at is not None:
        raise Conflict(_("This instalment plan is no longer in force; contact the supplier about what to pay."), field="case_id")
    instalment = next((i for i in sorted(view.instalments, key=lambda i: i.seq) if _unpaid(i)), None)
    if instalment is None:
        raise Conflict(_("No instalment of this plan is left to pay."), field="case_id")
    shares, left = [], instalment.amount - instalment.paid_amount
    for entry in sorted(view.invoices, key=lambda e: (e.invoice.due_date, e.invoice.number)):
        share = min(left, payable_on(entry.invoice))
        if share > 0:
            shares.append(Share(entry.invoice.id, entry.invoice.number, share))
            left -= share
    # Only what the case's invoices still have open is charged (some may be paid by transfer meanwhile):
    # nothing lands on account unasked.
    amount = sum((s.amount for s in shares), ZERO)
    if amount <= 0:
        raise Conflict(_("Nothing is left to pay on this case's invoices."), field="case_id")
    return Payable(
        PaymentPurpose.INSTALMENT,
        view.case.currency,
        amount,
        tuple(shares),
        case_id=view.case.id,
        instalment_id=instalment.id,
        label=f"{view.case.number} #{instalment.seq}",
    )


def _unpaid(instalment) -> bool:
    return instalment.status in ("due", "missed") and instalment.paid_amount < instalment.amount


async def decide(session: AsyncSession, contact: Principal, request: PayRequest) -> Payable:
    buyer_id = buyer_of(contact)
    if request.purpose == "invoice" and len(request.invoice_ids) == 1:
        return await for_invoice(session, buyer_id, request.invoice_ids[0])
    if request.purpose == "invoices":
        return await for_invoices(session, buyer_id, request.invoice_ids)
    if request.purpose == "agreed" and request.case_id:
        return await for_agreed_case(session, buyer_id, request.case_id)
    if request.purpose == "instalment" and request.case_id:
        return await for_next_instalment(session, buyer_id, request.case_id)
    raise ValidationFailed(_("Choose what to pay."), field="purpose")


# --- whether payments are possible here -------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    ready: bool
    reason: str | None  # off | no_account | not_enabled

    @property
    def message(self) -> str:
        return {
            "off": _("Online payment is not set up on this Accord installation."),
            "no_account": _("This supplier does not take online payments yet."),
            "not_enabled": _("This supplier's Stripe account cannot take payments yet."),
        }.get(self.reason or "", "")


async def availability(session: AsyncSession) -> Availability:
    if not payments_configured():
        return Availability(False, "off")
    account = await PaymentRepository(session).account()
    if account is None:
        return Availability(False, "no_account")
    if not account.charges_enabled:
        return Availability(False, "not_enabled")
    return Availability(True, None)


async def _ready_account(session: AsyncSession) -> PaymentAccount:
    found = await availability(session)
    if not found.ready:
        raise PaymentsOff(found.message)
    return await PaymentRepository(session).account()


# --- starting a payment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    attempt_id: uuid.UUID
    checkout_url: str
    reused: bool


def _same(attempt: PaymentAttempt, payable: Payable) -> bool:
    return (
        attempt.currency == payable.currency
        and Decimal(attempt.amount) == payable.amount
        and [(a["invoice_id"], Decimal(a["amount"])) for a in attempt.allocations]
        == [(str(s.invoice_id), s.amount) for s in payable.shares]
    )


async def _attempt_for(session: AsyncSession, contact: Principal, payable: Payable, account: PaymentAccount) -> PaymentAttempt:
    """The open attempt for the same thing made moments ago (a double click), else a new one."""
    recent = await AttemptRepository(session).open_since(
        contact.buyer_id, payable.purpose, utcnow() - REUSE_WINDOW, case_id=payable.case_id, instalment_id=payable.instalment_id
    )
    for attempt in recent:
        if _same(attempt, payable) and attempt.stripe_account_id == account.stripe_account_id:
            return attempt
    attempt_id = uuid.uuid4()
    attempt = PaymentAttempt(
        id=attempt_id,
        buyer_id=contact.buyer_id,
        contact_id=contact.id,
        purpose=payable.purpose,
        currency=payable.currency,
        amount=payable.amount,
        allocations=payable.allocations(),
        case_id=payable.case_id,
        instalment_id=payable.instalment_id,
        idempotency_key=f"accord-checkout-{attempt_id}",
        stripe_account_id=account.stripe_account_id,
        status=AttemptStatus.OPEN,
        created_by=contact.label,
    )
    session.add(attempt)
    await session.flush()
    audit.record(session, contact.actor(), "payment.started", "payment_attempt", attempt.id, after=attempt_view(attempt))
    return attempt


def attempt_view(attempt: PaymentAttempt) -> dict:
    return {
        "purpose": attempt.purpose.value,
        "currency": attempt.currency,
        "amount": str(attempt.amount),
        "allocations": {a.get("number") or a["invoice_id"]: a["amount"] for a in attempt.allocations},
        "case_id": str(attempt.case_id) if attempt.case_id else None,
        "instalment_id": str(attempt.instalment_id) if attempt.instalment_id else None,
        "status": attempt.status.value,
        "checkout_session_id": attempt.checkout_session_id,
        "payment_intent_id": attempt.payment_intent_id,
        "refunded_amount": str(attempt.refunded_amount),
    }


def return_urls(attempt_id: uuid.UUID) -> tuple[str, str]:
    # From ACCORD_BASE_URL, the public address, never from the request's Host.
    base = get_settings().base_url
    return f"{base}/portal/payments/{attempt_id}/done", f"{base}/portal/payments/{attempt_id}/cancelled"


def checkout_params(tenant_id: uuid.UUID, attempt: PaymentAttempt, label: str, email: str | None) -> dict:
    success_url, cancel_url = return_urls(attempt.id)
    metadata = {TENANT_METADATA: str(tenant_id), ATTEMPT_METADATA: str(attempt.id)}
    params = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": attempt.currency.lower(),
                    "unit_amount": to_minor(Decimal(attempt.amount), attempt.currency),
                    "product_data": {"name": label[:250] or attempt.purpose.value},
                },
            }
        ],
        "client_reference_id": str(attempt.id),
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int((attempt.created_at + CHECKOUT_LIFETIME).timestamp()),
    }
    if email and "@" in email:
        params["customer_email"] = email
    return params


def _label(payable: Payable) -> str:
    names = {
        PaymentPurpose.UNDISPUTED: "Undisputed part of invoice",
        PaymentPurpose.INVOICES: "Invoice",
        PaymentPurpose.AGREED: "Agreed amount, dispute",
        PaymentPurpose.INSTALMENT: "Instalment, dispute",
    }
    return f"{names[payable.purpose]} {payable.label}".strip()


async def create_checkout(
    tenant_id: uuid.UUID, attempt: PaymentAttempt, label: str, email: str | None
) -> stripe.checkout.Session:
    """The Checkout Session on the supplier's connected account, with the attempt's idempotency key:
    a retried create (a lost answer, a second press) gets the same session back, never a second one."""
    client = stripe_client()
    return await client.v1.checkout.sessions.create_async(
        checkout_params(tenant_id, attempt, label, email),
        options={"idempotency_key": attempt.idempotency_key, "stripe_account": attempt.stripe_account_id},
    )


async def start_payment(contact: Principal, request: PayRequest) -> Started:
    """Decide what the buyer pays, keep the attempt, open its Checkout Session; returns where to send the buyer.

    The attempt is committed before Stripe is called and the session stored after, in a second short
    transaction: no row lock waits on the network, and a retry after a failure reuses the attempt's key.
    """
    tenant_id = TenantId(contact.tenant_id)
    async with tenant_unit_of_work(tenant_id) as session:
        account = await _ready_account(session)
        # One press at a time per buyer: a double click waits here, then finds the first press's attempt.
        await BuyerRepository(session).get(buyer_of(contact), for_update=True)
        payable = await decide(session, contact, request)
        attempt = await _attempt_for(session, contact, payable, account)
        if attempt.checkout_url:
            return Started(attempt.id, attempt.checkout_url, True)
        # Checkout pages still live that would pay any of the same money (an invoice in common, the same
        # case or instalment), whatever they were started as, and pages a declined card left open:
        # closed below, so the buyer cannot pay twice.
        superseded = [
            (earlier.id, earlier.checkout_session_id, earlier.stripe_account_id)
            for earlier in await AttemptRepository(session).live_pages_since(contact.buyer_id, utcnow() - CHECKOUT_LIFETIME)
            if earlier.id != attempt.id and _overlaps(earlier, payable)
        ]
        session.expunge(attempt)
    try:
        checkout = await create_checkout(tenant_id, attempt, _label(payable), contact.label)
    except stripe.StripeError as error:
        await _not_started(contact, attempt.id, error)
        raise PaymentNotStarted(_("Stripe could not start the payment; nothing was charged. Try again in a moment.")) from None
    closed = await _close_sessions(superseded)
    async with tenant_unit_of_work(tenant_id) as session:
        repository = PaymentRepository(session)
        for earlier_id in closed:
            earlier = await repository.attempt(earlier_id, for_update=True)
            if earlier is not None and earlier.status in (AttemptStatus.OPEN, AttemptStatus.FAILED):
                before = attempt_view(earlier)
                earlier.status, earlier.updated_at = AttemptStatus.EXPIRED, utcnow()
                audit.record(
                    session,
                    contact.actor(),
                    "payment.superseded",
                    "payment_attempt",
                    earlier.id,
                    before=before,
                    after=attempt_view(earlier),
                )
        stored = await repository.attempt(attempt.id, for_update=True)
        if stored.checkout_session_id is None:
            stored.checkout_session_id, stored.checkout_url = checkout.id, checkout.url
            stored.updated_at = utcnow()
        return Started(stored.id, stored.checkout_url, False)


def _overlaps(attempt: PaymentAttempt, payable: Payable) -> bool:
    return bool(
        _targets(attempt) & _targets_of(payable)
        or (payable.case_id is not None and attempt.case_id == payable.case_id)
        or (payable.instalment_id is not None and attempt.instalment_id == payable.instalment_id)
    )


def _targets(attempt: PaymentAttempt) -> set[str]:
    return {a["invoice_id"] for a in attempt.allocations}


def _targets_of(payable: Payable) -> set[str]:
    return {str(s.invoice_id) for s in payable.shares}


async def _close_sessions(superseded: list[tuple[uuid.UUID, str, str]]) -> list[uuid.UUID]:
    """Expire earlier Checkout Sessions on Stripe; a session already paid refuses, and its webhook records it."""
    closed = []
    for attempt_id, session_id, account in superseded:
        try:
            await stripe_client().v1.checkout.sessions.expire_async(session_id, options={"stripe_account": account})
        except stripe.StripeError as error:
            log.info("earlier Checkout Session %s not expired: %s", session_id, error)
            continue
        closed.append(attempt_id)
    return closed


async def _not_started(contact: Principal, attempt_id: uuid.UUID, error: stripe.StripeError) -> None:
    log.warning("Checkout Session for attempt %s not created: %s", attempt_id, error)
    retryable = isinstance(error, stripe.APIConnectionError) or (error.http_status or 500) >= 500
    async with tenant_unit_of_work(TenantId(contact.tenant_id)) as session:
        attempt = await PaymentRepository(session).attempt(attempt_id, for_update=True)
        if attempt is not None and attempt.checkout_session_id is None and not retryable:
            # Refused for good (the account cannot charge, a bad parameter): a new press makes a new attempt.
            before = attempt_view(attempt)
            attempt.status = AttemptStatus.FAILED
            attempt.failure_message = (error.user_message or str(error))[:1000]
            attempt.updated_at = utcnow()
            audit.record(
                session,
                contact.actor(),
                "payment.not_started",
                "payment_attempt",
                attempt.id,
                before=before,
                after=attempt_view(attempt),
            )


async def card_payments_of_invoice(session: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> list[PaymentAttempt]:
    """The buyers' card payments that name this invoice, latest first (the console's invoice page)."""
    require(principal, Permission.READ_LEDGER)
    invoice = await InvoiceRepository(session).get(invoice_id)
    if invoice is None:
        raise NotFound(_("Not found."))
    attempts = await AttemptRepository(session).latest(buyer_id=invoice.buyer_id)
    return [a for a in attempts if any(item.get("invoice_id") == str(invoice_id) for item in a.allocations)]


async def attempt_of_contact(session: AsyncSession, contact: Principal, attempt_id: uuid.UUID) -> PaymentAttempt:
    """For the return pages: the contact's own buyer's attempt, else 404."""
    attempt = await AttemptRepository(session).of_buyer(buyer_of(contact), attempt_id)
    if attempt is None:
        raise NotFound(_("Not found."))
    return attempt


# --- applying Stripe's word (webhook handlers) --------------------------------------------------------


async def find_attempt(session: AsyncSession, obj: dict, *, payment_intent_id: str | None) -> PaymentAttempt | None:
    """The attempt a Stripe object is about: by the attempt id Accord put in its metadata, else by its payment intent."""
    repository = PaymentRepository(session)
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    named = metadata.get(ATTEMPT_METADATA) or obj.get("client_reference_id")
    if named:
        try:
            found = await repository.attempt(uuid.UUID(str(named)), for_update=True)
        except ValueError:
            found = None
        if found is not None:
            return found
    if payment_intent_id:
        return await repository.attempt_by_payment_intent(payment_intent_id, for_update=True)
    return None


def _account_matches(attempt: PaymentAttempt, event: dict) -> bool:
    # Buyers pay on the supplier's connected account, always: an event without one (the platform's own)
    # or of another account says nothing about this attempt.
    return event.get("account") == attempt.stripe_account_id


async def apply_paid(
    session: AsyncSession,
    principal: Principal,
    attempt: PaymentAttempt,
    event: dict,
    *,
    payment_intent_id: str,
    amount_minor: int,
    currency: str,
) -> str:
    """The money moved: one ledger payment for the attempt, whichever event says so first."""
    if not _account_matches(attempt, event):
        return "another account"
    if attempt.payment_intent_id is None:
        attempt.payment_intent_id = payment_intent_id
    if attempt.ledger_entry_id is not None:
        return "already applied"
    if currency.upper() != attempt.currency:
        log.error("attempt %s paid in %s, asked in %s; not applied", attempt.id, currency, attempt.currency)
        return "currency mismatch"
    received = from_minor(amount_minor, attempt.currency)
    if received <= 0:
        return "nothing received"
    before = attempt_view(attempt)
    shares = await _shares_still_open(session, attempt, received)
    entry = await ledger.record_payment(
        session,
        principal,
        buyer_id=attempt.buyer_id,
        amount=received,
        currency=attempt.currency,
        document_number=payment_intent_id,
        allocations=shares,
        named_only=True,
        reason=f"Stripe card payment ({attempt.purpose.value})",
    )
    attempt.ledger_entry_id = entry.id
    attempt.paid_at = utcnow()
    attempt.status = AttemptStatus.PAID
    attempt.failure_message = None
    attempt.updated_at = utcnow()
    await session.flush()
    audit.record(
        session, principal.actor(), "payment.paid", "payment_attempt", attempt.id, before=before, after=attempt_view(attempt)
    )
    await _after_paid_on_cases(session, principal, attempt, entry.document_number, received, shares)
    if attempt.refunded_amount > attempt.refund_recorded_amount:
        await _record_refund(session, principal, attempt)  # a refund that came before the payment
    await chargebacks.payment_recorded(session, principal, payment_intent_id)  # a chargeback that came before it
    return "applied"


async def _shares_still_open(session: AsyncSession, attempt: PaymentAttempt, received: Decimal) -> list[PaymentAllocation]:
    """The attempt's allocations against what is open now: a share the ledger no longer has room for
    (paid meanwhile by transfer, credited) shrinks, and what is left of the payment stays on account.

    A payment of undisputed amounts never lands on what a dispute holds now (a case opened after the
    Checkout page was): the buyer paid what they did not contest, and the rest waits on account."""
    shares, left = [], received
    undisputed_only = attempt.purpose in (PaymentPurpose.UNDISPUTED, PaymentPurpose.INVOICES)
    invoices = InvoiceRepository(session)
    for allocation in attempt.allocations:
        invoice = await invoices.get(uuid.UUID(allocation["invoice_id"]))
        if invoice is None or invoice.buyer_id != attempt.buyer_id or invoice.currency != attempt.currency:
            continue
        room = invoice.open_amount if invoice.status in OPEN_STATUSES else ZERO
        if undisputed_only:
            room -= min(invoice.disputed_amount, room)
        share = min(Decimal(allocation["amount"]), room, left)
        if share > 0:
            shares.append(PaymentAllocation(invoice.id, share))
            left -= share
    return shares


async def _cases_of(session: AsyncSession, attempt: PaymentAttempt, invoice_ids: list[uuid.UUID]) -> list:
    repository = DisputeRepository(session)
    ids = set(await repository.active_cases_on_invoices(invoice_ids)) if invoice_ids else set()
    if attempt.case_id:
        ids.add(attempt.case_id)
    return [case for case in [await repository.get(case_id, for_update=True) for case_id in sorted(ids, key=str)] if case]


async def _after_paid_on_cases(
    session: AsyncSession, principal: Principal, attempt: PaymentAttempt, document: str, received: Decimal, shares
) -> None:
    """The case timeline hears of the payment; an instalment is marked paid. Closing a case whose
    disputed part is now paid is the ledger's own `disputes.check_settled` job, enqueued by the payment."""
    instalment_paid = None
    if attempt.instalment_id and attempt.case_id:
        instalments = await AttemptRepository(session).instalments(attempt.case_id, for_update=True)
        for instalment in instalments:
            if instalment.id == attempt.instalment_id:
                before = {"seq": instalment.seq, "paid_amount": str(instalment.paid_amount), "status": instalment.status}
                instalment.paid_amount = min(instalment.amount, instalment.paid_amount + received)
                if instalment.paid_amount >= instalment.amount:
                    instalment.status = "paid"
                instalment_paid = (instalment, before, all(i.status == "paid" for i in instalments))
    for case in await _cases_of(session, attempt, [s.invoice_id for s in shares]):
        disputes._log(
            session,
            principal,
            case,
            "payment_received",
            purpose=attempt.purpose.value,
            amount=str(received),
            currency=attempt.currency,
            document_number=document,
        )
        if instalment_paid and case.id == attempt.case_id:
            instalment, before, plan_paid = instalment_paid
            disputes._log(
                session,
                principal,
                case,
                "instalment_paid",
                before=before,
                after={"seq": instalment.seq, "paid_amount": str(instalment.paid_amount), "status": instalment.status},
                seq=instalment.seq,
                plan_paid=plan_paid or None,
            )


async def apply_failed(
    session: AsyncSession, principal: Principal, attempt: PaymentAttempt, event: dict, message: str | None
) -> str:
    """The card was declined: the buyer reads Stripe's reason on the return page. Checkout lets them try
    another card in the same session, so a later success still applies."""
    if not _account_matches(attempt, event):
        return "another account"
    if attempt.status is not AttemptStatus.OPEN:
        return "stale"
    before = attempt_view(attempt)
    attempt.status = AttemptStatus.FAILED
    attempt.failure_message = (message or "")[:1000] or None
    attempt.updated_at = utcnow()
    audit.record(
        session, principal.actor(), "payment.failed", "payment_attempt", attempt.id, before=before, after=attempt_view(attempt)
    )
    return "failed"


async def apply_expired(session: AsyncSession, principal: Principal, attempt: PaymentAttempt, event: dict) -> str:
    if not _account_matches(attempt, event):
        return "another account"
    if attempt.status not in (AttemptStatus.OPEN, AttemptStatus.FAILED):
        return "stale"
    before = attempt_view(attempt)
    attempt.status = AttemptStatus.EXPIRED
    attempt.updated_at = utcnow()
    audit.record(
        session, principal.actor(), "payment.expired", "payment_attempt", attempt.id, before=before, after=attempt_view(attempt)
    )
    return "expired"


async def apply_refunded(
    session: AsyncSession, principal: Principal, attempt: PaymentAttempt, event: dict, *, refunded_minor: int, currency: str
) -> str:
    """Stripe's refunded total of the charge (it only grows, so a late, older event changes nothing).
    Before the payment is in the ledger it waits on the attempt; `apply_paid` records it after."""
    if not _account_matches(attempt, event):
        return "another account"
    if currency.upper() != attempt.currency:
        return "currency mismatch"
    refunded = from_minor(refunded_minor, attempt.currency)
    if refunded <= attempt.refunded_amount:
        return "stale"
    before = attempt_view(attempt)
    attempt.refunded_amount = refunded
    attempt.updated_at = utcnow()
    if attempt.ledger_entry_id is None:
        audit.record(
            session,
            principal.actor(),
            "payment.refund_waiting",
            "payment_attempt",
            attempt.id,
            before=before,
            after=attempt_view(attempt),
        )
        return "refund waits for its payment"
    await _record_refund(session, principal, attempt)
    return "refunded"


async def _record_refund(session: AsyncSession, principal: Principal, attempt: PaymentAttempt) -> None:
    """Reopen the invoices by what Stripe refunded and the ledger does not carry yet: first the money
    the payment left on account, then the invoices it paid, the latest due first."""
    payment = await LedgerRepository(session).get(attempt.ledger_entry_id, for_update=True)
    paid = payment.amount
    target = min(attempt.refunded_amount, paid)
    delta = target - attempt.refund_recorded_amount
    if delta <= 0:
        return
    before = attempt_view(attempt)
    from_account = min(delta, payment.unallocated_amount)
    left = delta - from_account
    # What each invoice got from the payment, less what earlier refunds of it reopened.
    reopened = dict(attempt_refund_shares(attempt))
    shares = []
    for allocation, _number in reversed(await LedgerRepository(session).allocations_of_entry(payment.id)):
        room = allocation.amount - reopened.get(str(allocation.invoice_id), ZERO)
        share = min(left, room)
        if share > 0:
            shares.append(PaymentAllocation(allocation.invoice_id, share))
            left -= share
    number = f"{payment.document_number}-refund-{to_minor(target, attempt.currency)}"[:64]
    await ledger.record_refund(
        session,
        principal,
        payment.id,
        shares=shares,
        from_on_account=from_account,
        document_number=number,
        reason=f"Stripe refund of {payment.document_number}",
    )
    attempt.refund_recorded_amount = target - left  # what could not be placed (never expected) is retried next time
    history = dict(reopened)
    for share in shares:
        history[str(share.invoice_id)] = history.get(str(share.invoice_id), ZERO) + Decimal(share.amount)
    attempt.allocations = [
        {**a, "refunded": str(history.get(a["invoice_id"], ZERO))} if a["invoice_id"] in history else a
        for a in attempt.allocations
    ]
    if attempt.refund_recorded_amount >= paid:
        attempt.status = AttemptStatus.REFUNDED
    attempt.updated_at = utcnow()
    await session.flush()
    audit.record(
        session, principal.actor(), "payment.refunded", "payment_attempt", attempt.id, before=before, after=attempt_view(attempt)
    )
    for case in await _cases_of(session, attempt, [uuid.UUID(s) for s in history]):
        disputes._log(
            session,
            principal,
            case,
            "payment_refunded",
            amount=str(delta),
            currency=attempt.currency,
            document_number=payment.document_number,
        )


def attempt_refund_shares(attempt: PaymentAttempt) -> list[tuple[str, Decimal]]:
    return [(a["invoice_id"], Decimal(a["refunded"])) for a in attempt.allocations if a.get("refunded")]
