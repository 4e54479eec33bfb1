"""Card disputes (chargebacks) on the supplier's Stripe account, worked as Accord dispute cases.

How the ledger tells a chargeback, following where Stripe moves the money:

* When the card network takes the money back (every status but an inquiry's `warning_*`), the payment
  that paid the invoices is no longer the supplier's: each invoice the payment paid owes its share of
  the disputed amount again (the upward adjustment a refund writes, document `CB-<dispute>`). A
  case is opened on exactly those amounts, so they are held out of collection while the chargeback
  runs, and Stripe's evidence due date becomes the case's hard deadline for the escalation timers.
* **Won**: Stripe gives the money back. The case is resolved in the supplier's favour (outcome
  *invalid*, the amount collected) and the returned money is recorded as a payment on the same
  invoices (document `CBR-<dispute>`), which are paid again.
* **Lost**: the money stays with the cardholder. The case is resolved with the chargeback found
  valid and the amount lost on its timeline; the invoices stay open for that amount, no longer held,
  so the team decides to collect it another way or write it off.

An inquiry (`warning_needs_response`, ...) moves no money: it is kept as a card dispute and listed in
the console until it becomes a chargeback. So is a chargeback on a payment Accord does not know (a
card payment taken outside Accord, or one whose payment is not recorded yet): without the payment
there is no buyer or invoice to put it on, and guessing one would reopen the wrong invoice; the team
sees it in the list of card disputes without a case. Its case opens as soon as Accord records the
payment (`payment_recorded`); for a card payment recorded by hand or imported, the team names that
payment's document in the list (`link_payment`).

Events come late, twice and out of order: the card dispute is built from the full dispute object in
whichever event comes first, an event older than the last one applied changes nothing, and each
ledger effect is recorded once (`withdrawn_amount`, `reinstated_amount`).
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.db.base import utcnow
from backend.db.tenancy import current_tenant
from backend.disputes import service as disputes
from backend.disputes.models import Channel, CodeKind, Outcome
from backend.disputes.repository import DisputeRepository
from backend.errors import Conflict, DomainError, NotFound, ValidationFailed
from backend.files import uploads
from backend.i18n import Translatable, _, current_language, gettext
from backend.invoices import service as ledger
from backend.invoices.models import EntryKind
from backend.invoices.repository import InvoiceRepository, LedgerRepository
from backend.money import ZERO, round_money
from backend.payments.chargebacks_repository import ChargebackRepository
from backend.payments.events import event_object
from backend.payments.gateway import from_minor, stripe_client
from backend.payments.models import AttemptStatus, CardDispute
from backend.payments.repository import PaymentRepository
from backend.tenants.repository import TenantRepository

log = logging.getLogger("accord.payments.chargebacks")

# Stripe's dispute statuses.
EVIDENCE_OPEN = frozenset({"needs_response", "warning_needs_response"})  # Stripe still takes evidence
FUNDS_WITHDRAWN = frozenset({"needs_response", "under_review", "won", "lost"})  # the money was taken back
CLOSED = frozenset({"won", "lost", "warning_closed", "prevented"})
# A dispute only moves forward; two events of the same second are ordered by this.
_PROGRESS = {
    "warning_needs_response": 0,
    "warning_under_review": 1,
    "needs_response": 2,
    "under_review": 3,
    "warning_closed": 4,
    "prevented": 4,
    "won": 5,
    "lost": 5,
}
STATUS_LABELS = {
    "warning_needs_response": _("Inquiry: needs a response"),
    "warning_under_review": _("Inquiry: under review"),
    "warning_closed": _("Inquiry closed"),
    "needs_response": _("Needs a response"),
    "under_review": _("Under review by the card network"),
    "won": _("Won"),
    "lost": _("Lost"),
    "prevented": _("Prevented"),
}
REASON_LABELS = {
    "fraudulent": _("Fraudulent"),
    "product_not_received": _("Product not received"),
    "product_unacceptable": _("Product unacceptable"),
    "duplicate": _("Duplicate charge"),
    "subscription_canceled": _("Subscription cancelled"),
    "credit_not_processed": _("Credit not processed"),
    "unrecognized": _("Unrecognised"),
    "general": _("General"),
}
# Stripe's reasons on the default reason codes (backend.disputes.codes); the rest is "other".
REASON_CODES = {
    "product_not_received": "late_delivery",
    "product_unacceptable": "quality",
    "duplicate": "duplicate_billing",
    "subscription_canceled": "contract_terms",
    "credit_not_processed": "price",
}
FALLBACK_REASON = "other"

# The evidence the console sends, as Stripe names it: texts (Stripe takes up to 20,000 characters
# each), and files (one per slot) chosen from the case's evidence.
LONG_TEXTS = {
    "product_description": _("What was sold, and how it was delivered"),
    "uncategorized_text": _("Anything else the card network should know"),
    "refund_policy_disclosure": _("How the refund policy was shown to the buyer"),
    "cancellation_rebuttal": _("Why the buyer is not owed a refund for a cancellation"),
}
SHORT_TEXTS = {
    "customer_name": _("Customer name"),
    "customer_email_address": _("Customer e-mail address"),
    "billing_address": _("Billing address"),
    "service_date": _("Date of service or delivery"),
    "shipping_carrier": _("Shipping carrier"),
    "shipping_tracking_number": _("Tracking number"),
    "shipping_date": _("Shipping date"),
    "shipping_address": _("Shipping address"),
}
TEXT_FIELDS = {**LONG_TEXTS, **SHORT_TEXTS}
FILE_SLOTS = {
    "receipt": _("Receipt or invoice"),
    "customer_communication": _("Correspondence with the customer"),
    "shipping_documentation": _("Proof of delivery"),
    "service_documentation": _("Proof of service"),
    "refund_policy": _("Refund policy"),
    "uncategorized_file": _("Other document"),
}
LONG_TEXT_LIMIT = 20_000
SHORT_TEXT_LIMIT = 5_000
TOTAL_TEXT_LIMIT = 150_000  # all text fields together
TOTAL_FILE_BYTES = 4_500_000  # Stripe refuses evidence whose files add up to more (4.5 MB)
STRIPE_FILE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})


def _evidence_open(card: CardDispute, now: datetime | None = None) -> bool:
    due = _aware(card.evidence_due_by)
    return card.status in EVIDENCE_OPEN and (due is None or due > (now or utcnow()))


def _aware(moment):
    # SQLite hands back naive datetimes; they are UTC. (Anything else passes through.)
    return moment.replace(tzinfo=UTC) if isinstance(moment, datetime) and moment.tzinfo is None else moment


def _amount(obj: dict, currency: str) -> Decimal:
    return from_minor(int(obj.get("amount") or 0), currency)


def _due(obj: dict) -> datetime | None:
    due = (obj.get("evidence_details") or {}).get("due_by")
    return datetime.fromtimestamp(int(due), UTC) if due else None


def _payment_intent(obj: dict) -> str | None:
    value = obj.get("payment_intent")
    return value.get("id") if isinstance(value, dict) else value


def _charge(obj: dict) -> str | None:
    value = obj.get("charge")
    return value.get("id") if isinstance(value, dict) else value


def _iso(moment: datetime | None) -> str | None:
    return _aware(moment).isoformat() if moment else None


def _view(card: CardDispute) -> dict:
    return {
        "stripe_dispute_id": card.stripe_dispute_id,
        "status": card.status,
        "reason": card.reason,
        "amount": str(card.amount),
        "currency": card.currency,
        "evidence_due_by": _iso(card.evidence_due_by),
        "withdrawn_amount": str(card.withdrawn_amount),
        "reinstated_amount": str(card.reinstated_amount),
    }


# --- applying Stripe's events --------------------------------------------------------------------


@asynccontextmanager
async def _tenant_language(session: AsyncSession) -> AsyncIterator[None]:
    """What a job writes for people to read (a case's description, closing notes) in the tenant's language."""
    tenant = await TenantRepository(session).get(current_tenant(session))
    token = current_language.set(tenant.default_language if tenant is not None else current_language.get())
    try:
        yield
    finally:
        current_language.reset(token)


async def apply_event(session: AsyncSession, principal: Principal, event: dict) -> str:
    """charge.dispute.created / updated / closed / funds_withdrawn / funds_reinstated: each carries the
    whole dispute, so every one of them is applied the same way, whichever comes first."""
    async with _tenant_language(session):
        return await _apply(session, principal, event)


async def payment_recorded(session: AsyncSession, principal: Principal, payment_intent_id: str) -> None:
    """A chargeback that came before Accord recorded the payment it disputes (events out of order): the
    payments service calls this once the payment is in the ledger, and the chargeback is worked as a case."""
    async with _tenant_language(session):
        for card in await ChargebackRepository(session).waiting_for(payment_intent_id):
            if card.status in FUNDS_WITHDRAWN:
                await _open_case(session, principal, card, min(_aware(card.created_at).date(), date.today()))


async def _apply(session: AsyncSession, principal: Principal, event: dict) -> str:
    obj = event_object(event)
    if obj.get("object") != "dispute" or not isinstance(obj.get("id"), str):
        return "not a dispute"
    created = int(event.get("created") or 0)
    status = str(obj.get("status") or "")
    repository = ChargebackRepository(session)
    card = await repository.by_stripe_id(obj["id"], for_update=True)
    if card is not None and (
        created < card.last_event_created
        or (created == card.last_event_created and _PROGRESS.get(status, 0) < _PROGRESS.get(card.status, 0))
    ):
        return "stale"  # Discard an event already superseded by a newer one
    currency = str(obj.get("currency") or "").upper()[:3]
    fresh = {
        "amount": _amount(obj, currency),
        "currency": currency,
        "reason": str(obj.get("reason") or "general")[:64],
        "status": status[:40],
        "evidence_due_by": _due(obj),
    }
    if card is None:
        card = CardDispute(
            stripe_dispute_id=obj["id"],
            charge_id=_charge(obj),
            payment_intent_id=_payment_intent(obj),
            evidence={"stripe": _stripe_evidence(obj)},
            last_event_created=created,
            withdrawn_amount=ZERO,
            reinstated_amount=ZERO,
            **fresh,
        )
        session.add(card)
        await session.flush()
        audit.record(session, principal.actor(), "card_dispute.received", "card_dispute", card.id, after=_view(card))
        changed = {"status": status}
    else:
        before = _view(card)
        changed = {name: value for name, value in fresh.items() if _aware(getattr(card, name)) != value}
        for name, value in changed.items():
            setattr(card, name, value)
        card.payment_intent_id = card.payment_intent_id or _payment_intent(obj)
        card.charge_id = card.charge_id or _charge(obj)
        card.last_event_created = created
        card.updated_at = utcnow()
        await session.flush()
        if changed:
            audit.record(
                session, principal.actor(), "card_dispute.updated", "card_dispute", card.id, before=before, after=_view(card)
            )
    outcome = "recorded"
    if card.case_id is None and card.status in FUNDS_WITHDRAWN:
        outcome = await _open_case(session, principal, card, _opened_on(obj))
    elif card.case_id is not None and changed:
        await disputes.note_external(
            session,
            principal,
            card.case_id,
            "card_dispute_updated",
            hard_deadline_at=_deadline(card),
            status=card.status,
            amount=str(card.amount),
            evidence_due_by=_iso(card.evidence_due_by),
        )
        outcome = "updated"
    if card.case_id is not None and card.status in CLOSED:
        outcome = await _close(session, principal, card) or outcome
    return outcome


def _deadline(card: CardDispute) -> datetime | None:
    """The case's hard deadline: Stripe's evidence due date, while evidence is still awaited."""
    return _aware(card.evidence_due_by) if card.status in EVIDENCE_OPEN else None


def _stripe_evidence(obj: dict) -> dict:
    """What Stripe filled in from the charge (the customer's name, e-mail, address): the form's first values."""
    evidence = obj.get("evidence") if isinstance(obj.get("evidence"), dict) else {}
    return {name: str(evidence[name])[:SHORT_TEXT_LIMIT] for name in SHORT_TEXTS if isinstance(evidence.get(name), str)}


async def _reason_code(session: AsyncSession, stripe_reason: str) -> str:
    active = [code.code for code in await disputes.codes(session, CodeKind.REASON)]
    for candidate in (REASON_CODES.get(stripe_reason), FALLBACK_REASON):
        if candidate in active:
            return candidate
    return active[0]


@dataclass
class _DisputedPayment:
    buyer_id: uuid.UUID
    payment_id: uuid.UUID  # the ledger's payment entry
    shares: list[tuple[uuid.UUID, Decimal]]  # invoice, what of the disputed amount the payment paid on it
    on_account: Decimal  # what of the disputed amount the payment had left on the buyer's account


async def _disputed_payment(session: AsyncSession, card: CardDispute) -> _DisputedPayment | None:
    """The buyer and what the disputed payment paid on each invoice, up to the disputed amount (None:
    Accord does not know the payment, has not recorded it yet, or it paid no invoice)."""
    if not card.payment_intent_id:
        return None
    attempt = await PaymentRepository(session).attempt_by_payment_intent(card.payment_intent_id)
    if attempt is None or attempt.ledger_entry_id is None or attempt.currency != card.currency:
        return None
    if attempt.status not in (AttemptStatus.PAID, AttemptStatus.REFUNDED):
        return None
    return await _shares_of(session, card, attempt.ledger_entry_id)


async def _shares_of(session: AsyncSession, card: CardDispute, payment_id: uuid.UUID) -> _DisputedPayment | None:
    ledger_entries = LedgerRepository(session)
    payment = await ledger_entries.get(payment_id)
    if payment is None or payment.kind is not EntryKind.PAYMENT or payment.currency != card.currency:
        return None
    left, shares = card.amount, []
    for allocation, _number in await ledger_entries.allocations_of_entry(payment.id):
        share = min(left, allocation.amount)
        if share > 0:
            shares.append((allocation.invoice_id, share))
            left -= share
    if not shares:
        return None
    return _DisputedPayment(payment.buyer_id, payment.id, shares, min(left, payment.unallocated_amount))


def _opened_on(obj: dict) -> date:
    """The day the cardholder disputed the charge (Stripe's creation time of the dispute)."""
    created = obj.get("created")
    return min(datetime.fromtimestamp(int(created), UTC).date(), date.today()) if created else date.today()


async def _open_case(
    session: AsyncSession, principal: Principal, card: CardDispute, opened_on: date, paid: _DisputedPayment | None = None
) -> str:
    paid = paid or await _disputed_payment(session, card)
    if paid is None:
        log.info("card dispute %s: no known payment for %s; kept for the team", card.stripe_dispute_id, card.payment_intent_id)
        return "no known payment"
    document = f"CB-{card.stripe_dispute_id}"[:64]
    if card.withdrawn_amount == 0:
        # The same ledger effect as a refund: the money of the payment went back to the cardholder.
        taken_back = await ledger.record_refund(
            session,
            principal,
            paid.payment_id,
            shares=[ledger.PaymentAllocation(invoice_id, share) for invoice_id, share in paid.shares],
            from_on_account=paid.on_account,
            document_number=document,
            reason=gettext("Card chargeback %(dispute)s: the card network took back the payment")
            % {"dispute": card.stripe_dispute_id},
        )
        card.withdrawn_amount = sum((share for _i, share in paid.shares), paid.on_account)
    else:
        # Taken back by an earlier event whose case could not be opened then.
        taken_back = await LedgerRepository(session).by_document(EntryKind.ADJUSTMENT, document)
    stripe_reason = gettext(REASON_LABELS[card.reason]) if card.reason in REASON_LABELS else card.reason
    description = gettext(
        "Card chargeback %(dispute)s on payment %(payment)s, %(amount)s %(currency)s. Stripe's reason: %(reason)s."
    ) % {
        "dispute": card.stripe_dispute_id,
        "payment": card.payment_intent_id,
        "amount": round_money(card.amount, card.currency),
        "currency": card.currency,
        "reason": stripe_reason,
    }
    try:
        case = await disputes.register_case(
            session,
            principal,
            disputes.NewCase(
                buyer_id=paid.buyer_id,
                reason_code=await _reason_code(session, card.reason),
                description=description,
                channel=Channel.CARD,
                items=[disputes.ItemInput(invoice_id=invoice_id, amount=share) for invoice_id, share in paid.shares],
                opened_on=opened_on,
            ),
        )
    except ValidationFailed as refused:
        # The money is gone either way (recorded above); the card dispute waits in the console's list,
        # and the next event of the dispute tries the case again.
        log.warning("card dispute %s: no case could be opened: %s", card.stripe_dispute_id, refused.message)
        await session.flush()
        return "no case: " + refused.message[:150]
    if taken_back is not None:
        taken_back.dispute_case_id = case.id  # the chargeback this case works, never counted for another
    card.case_id = case.id
    await session.flush()
    audit.record(session, principal.actor(), "card_dispute.case_opened", "card_dispute", card.id, after={"case": case.number})
    await disputes.note_external(
        session,
        principal,
        case.id,
        "card_funds_withdrawn",
        hard_deadline_at=_deadline(card),
        stripe_dispute=card.stripe_dispute_id,
        stripe_reason=card.reason,
        status=card.status,
        amount=str(card.withdrawn_amount),
        evidence_due_by=_iso(card.evidence_due_by),
        entry=taken_back.document_number if taken_back else None,
    )
    if card.status in CLOSED:
        await _close(session, principal, card)
    return "case opened"


async def _close(session: AsyncSession, principal: Principal, card: CardDispute) -> str | None:
    """Won, lost, prevented: the card network's decision ends the case; a won chargeback's money comes back."""
    amount = card.withdrawn_amount
    if card.status == "won":
        await disputes.close_on_external_decision(
            session,
            principal,
            card.case_id,
            "card_dispute_won",
            outcome=Outcome.INVALID,
            note=gettext("Won: the card network decided for you and Stripe returned %(amount)s %(currency)s.")
            % {"amount": round_money(amount, card.currency), "currency": card.currency},
            collected=amount,
            amount=str(amount),
        )
        if card.reinstated_amount == 0 and amount > 0:
            await _reinstate(session, principal, card)
        return "won"
    if card.status == "lost":
        await disputes.close_on_external_decision(
            session,
            principal,
            card.case_id,
            "card_dispute_lost",
            outcome=Outcome.VALID,
            note=gettext(
                "Lost: the card network decided for the cardholder. %(amount)s %(currency)s stays taken back and is "
                "open on the invoices again; collect it another way or write it off."
            )
            % {"amount": round_money(amount, card.currency), "currency": card.currency},
            lost=str(amount),
        )
        return "lost"
    if card.status == "prevented":
        await disputes.close_on_external_decision(
            session,
            principal,
            card.case_id,
            "card_dispute_closed",
            outcome=Outcome.VALID,
            note=gettext("Closed by Stripe: the payment was refunded before the chargeback went ahead."),
            status=card.status,
        )
        return "closed"
    return None


async def _reinstate(session: AsyncSession, principal: Principal, card: CardDispute) -> None:
    """The money Stripe returned, as a payment on the invoices the chargeback reopened (what is still
    open on each); anything left, because an invoice was paid meanwhile, stays on the buyer's account."""
    case = await DisputeRepository(session).get(card.case_id)
    invoices = InvoiceRepository(session)
    allocations, left = [], card.withdrawn_amount
    for item in await DisputeRepository(session).items(card.case_id):
        invoice = await invoices.get(item.invoice_id)
        share = min(left, item.amount, invoice.open_amount if invoice is not None else ZERO)
        if share > 0:
            allocations.append(ledger.PaymentAllocation(invoice_id=item.invoice_id, amount=share))
            left -= share
    entry = await ledger.record_payment(
        session,
        principal,
        buyer_id=case.buyer_id,
        amount=card.withdrawn_amount,
        currency=card.currency,
        document_number=f"CBR-{card.stripe_dispute_id}"[:64],
        allocations=allocations,
        named_only=True,
        reason=gettext("Card chargeback %(dispute)s won: Stripe returned the payment") % {"dispute": card.stripe_dispute_id},
    )
    entry.dispute_case_id = case.id
    card.reinstated_amount = card.withdrawn_amount
    await session.flush()
    await disputes.note_external(
        session, principal, case.id, "card_funds_reinstated", amount=str(card.reinstated_amount), entry=entry.document_number
    )


# --- the case page: the card dispute and its evidence ---------------------------------------------


@dataclass
class Submission:
    number: int
    at: datetime
    by: str
    fields: dict[str, str]
    files: dict[str, dict]


@dataclass
class CardSection:
    card: CardDispute
    fields: dict[str, str]  # the draft, or what Stripe filled in
    files: dict[str, str]  # slot → the case's evidence file id, as drafted
    submissions: list[Submission] = field(default_factory=list)
    accepts_evidence: bool = False
    refusal: str | None = None  # why evidence cannot be sent now
    draft_saved_at: datetime | None = None


async def card_section(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> CardSection | None:
    """The card dispute a case works, with its evidence draft and what was sent (None: not a card case)."""
    require(principal, Permission.READ_LEDGER)
    card = await ChargebackRepository(session).of_case(case_id)
    if card is None:
        return None
    evidence = card.evidence or {}
    draft = evidence.get("draft") or {}
    submissions = [
        Submission(s["number"], datetime.fromisoformat(s["at"]), s["by"], s.get("fields") or {}, s.get("files") or {})
        for s in evidence.get("submissions") or []
    ]
    last = submissions[-1] if submissions else None
    fields = draft.get("fields") or (last.fields if last else None) or evidence.get("stripe") or {}
    files = draft.get("files") or ({slot: f["file"] for slot, f in last.files.items()} if last else {})
    return CardSection(
        card=card,
        fields=dict(fields),
        files=dict(files),
        submissions=list(reversed(submissions)),
        accepts_evidence=_evidence_open(card),
        refusal=_refusal(card),
        draft_saved_at=datetime.fromisoformat(draft["at"]) if draft.get("at") else None,
    )


def _refusal(card: CardDispute) -> str | None:
    if card.status not in EVIDENCE_OPEN:
        return gettext("Stripe no longer takes evidence for this chargeback (status: %(status)s).") % {
            "status": gettext(STATUS_LABELS.get(card.status, card.status))
        }
    due = _aware(card.evidence_due_by)
    if due is not None and due <= utcnow():
        return gettext("The evidence was due by %(due)s UTC; Stripe no longer takes it.") % {"due": f"{due:%Y-%m-%d %H:%M}"}
    return None


class StripeRefused(DomainError):
    """Stripe answered the evidence with an error: nothing is recorded as sent."""

    status_code = 502


@dataclass
class EvidenceInput:
    fields: dict[str, str]
    files: dict[str, str]  # slot → file id (text from the form)


def _checked_fields(data: EvidenceInput) -> dict[str, str]:
    fields, total = {}, 0
    for name in TEXT_FIELDS:
        value = (data.fields.get(name) or "").strip()
        limit = LONG_TEXT_LIMIT if name in LONG_TEXTS else SHORT_TEXT_LIMIT
        if len(value) > limit:
            raise ValidationFailed(
                _("%(field)s is longer than %(limit)s characters."),
                field=name,
                params={"field": Translatable(TEXT_FIELDS[name]), "limit": f"{limit:,}"},
            )
        if value:
            fields[name] = value
            total += len(value)
    if total > TOTAL_TEXT_LIMIT:
        raise ValidationFailed(
            _("The evidence texts add up to %(count)s characters; Stripe takes at most %(limit)s."),
            field="uncategorized_text",
            params={"count": f"{total:,}", "limit": f"{TOTAL_TEXT_LIMIT:,}"},
        )
    return fields


async def _checked_files(session: AsyncSession, case_id: uuid.UUID, data: EvidenceInput) -> dict[str, object]:
    """slot → the case's own evidence file (a PDF, JPEG or PNG; together at most 4.5 MB)."""
    chosen = {}
    repository = DisputeRepository(session)
    owned = [
        *await repository.files_of(disputes.EVIDENCE_FILE, [case_id]),
        *await repository.files_of(disputes.BUYER_EVIDENCE_FILE, [case_id]),
    ]
    evidence = {str(f.id): f for f in owned}
    total = 0
    for slot in FILE_SLOTS:
        raw = (data.files.get(slot) or "").strip()
        if not raw:
            continue
        stored = evidence.get(raw)
        if stored is None:
            raise ValidationFailed(_("Choose one of this case's evidence files."), field=f"file_{slot}")
        if stored.content_type not in STRIPE_FILE_TYPES:
            raise ValidationFailed(
                _("Stripe takes PDF, JPEG or PNG files; %(name)s is not one."),
                field=f"file_{slot}",
                params={"name": stored.filename},
            )
        total += stored.size
        chosen[slot] = stored
    if total > TOTAL_FILE_BYTES:
        raise ValidationFailed(_("The chosen files add up to more than the 4.5 MB Stripe takes."), field="files")
    return chosen


async def _card_for_change(session: AsyncSession, principal: Principal, case_id: uuid.UUID) -> CardDispute:
    require(principal, Permission.WORK_DISPUTES)
    if await DisputeRepository(session).get(case_id) is None:
        raise NotFound(_("Not found."))
    card = await ChargebackRepository(session).of_case(case_id, for_update=True)
    if card is None:
        raise NotFound(_("Not found."))
    return card


async def save_draft(session: AsyncSession, principal: Principal, case_id: uuid.UUID, data: EvidenceInput) -> CardDispute:
    """Keep the evidence being written without sending it to Stripe."""
    card = await _card_for_change(session, principal, case_id)
    fields = _checked_fields(data)
    files = await _checked_files(session, case_id, data)
    card.evidence = {
        **(card.evidence or {}),
        "draft": {"fields": fields, "files": {slot: str(f.id) for slot, f in files.items()}, "at": utcnow().isoformat()},
    }
    card.updated_at = utcnow()
    await session.flush()
    await disputes.note_external(session, principal, case_id, "card_evidence_drafted", fields=sorted(fields), files=sorted(files))
    return card


async def submit_evidence(session: AsyncSession, principal: Principal, case_id: uuid.UUID, data: EvidenceInput) -> CardDispute:
    """Send the evidence to Stripe and submit it (it cannot be changed afterwards): each file uploaded to
    the supplier's account, then one dispute update, each with a key from the card dispute and the
    submission's number, so a retried request sends once."""
    card = await _card_for_change(session, principal, case_id)
    if refusal := _refusal(card):
        raise Conflict(refusal, field="evidence")
    fields = _checked_fields(data)
    files = await _checked_files(session, case_id, data)
    if not fields and not files:
        raise ValidationFailed(_("Write some evidence or choose a file before submitting."), field="product_description")
    account = await PaymentRepository(session).account()
    if account is None:
        raise Conflict(_("Connect your Stripe account before sending evidence."), field="evidence")
    submissions = list((card.evidence or {}).get("submissions") or [])
    number = len(submissions) + 1
    key = f"accord-card-dispute-{card.id}-evidence-{number}"
    client = stripe_client()
    sent_files: dict[str, dict] = {}
    evidence: dict[str, str] = dict(fields)
    try:
        for slot, stored in files.items():
            content = await uploads.open_stored(session, stored)
            try:
                upload = io.BytesIO(content.read())
            finally:
                content.close()
            upload.name = stored.filename
            uploaded = await client.v1.files.create_async(
                {"purpose": "dispute_evidence", "file": upload},
                {"stripe_account": account.stripe_account_id, "idempotency_key": f"{key}-{slot}"},
            )
            evidence[slot] = uploaded.id
            sent_files[slot] = {"file": str(stored.id), "filename": stored.filename, "stripe_file": uploaded.id}
        answer = await client.v1.disputes.update_async(
            card.stripe_dispute_id,
            {"evidence": evidence, "submit": True, "metadata": {"accord_case_id": str(case_id)}},
            {"stripe_account": account.stripe_account_id, "idempotency_key": key},
        )
    except stripe.StripeError as error:
        log.warning("evidence for %s refused by Stripe: %s", card.stripe_dispute_id, error)
        raise StripeRefused(
            _("Stripe did not take the evidence: %(message)s"),
            field="evidence",
            params={"message": getattr(error, "user_message", None) or str(error)},
        ) from None
    now = utcnow()
    submissions.append({"number": number, "at": now.isoformat(), "by": principal.label, "fields": fields, "files": sent_files})
    before = _view(card)
    card.evidence = {**{k: v for k, v in (card.evidence or {}).items() if k != "draft"}, "submissions": submissions}
    card.evidence_submitted_at, card.evidence_submitted_by = now, principal.label
    if isinstance(getattr(answer, "status", None), str):
        card.status = answer.status[:40]
        # Stripe's answer is newer than any event sent before it.
        card.last_event_created = max(card.last_event_created, int(now.timestamp()))
    card.updated_at = now
    await session.flush()
    audit.record(
        session, principal.actor(), "card_dispute.evidence_submitted", "card_dispute", card.id, before=before, after=_view(card)
    )
    await disputes.note_external(
        session,
        principal,
        case_id,
        "card_evidence_submitted",
        hard_deadline_at=_deadline(card),
        number=number,
        fields=sorted(fields),
        files=[f["filename"] for f in sent_files.values()],
    )
    return card


# --- the console's list of card disputes no case works ---------------------------------------------


async def link_payment(
    session: AsyncSession, principal: Principal, card_dispute_id: uuid.UUID, document_number: str
) -> uuid.UUID:
    """The team names the ledger payment a chargeback took back, when Accord did not take the card payment
    itself (it was recorded by hand or imported): the chargeback is then worked as any other, on the
    invoices that payment paid. Returns the case opened."""
    require(principal, Permission.WORK_DISPUTES)
    card = await ChargebackRepository(session).get(card_dispute_id, for_update=True)
    if card is None:
        raise NotFound(_("Not found."))
    if card.case_id is not None:
        raise Conflict(_("A case already works this card dispute."), field="document_number")
    if card.status not in FUNDS_WITHDRAWN:
        raise Conflict(
            _("An inquiry moves no money: link it once the card network takes the money back."), field="document_number"
        )
    number = (document_number or "").strip()
    if not number:
        raise ValidationFailed(_("Enter the document number of the payment the card made."), field="document_number")
    payment = await LedgerRepository(session).by_document(EntryKind.PAYMENT, number[:64])
    paid = await _shares_of(session, card, payment.id) if payment is not None else None
    if paid is None:
        raise ValidationFailed(
            _("No payment %(number)s in %(currency)s that paid an invoice is in your ledger."),
            field="document_number",
            params={"number": number[:64], "currency": card.currency},
        )
    outcome = await _open_case(session, principal, card, min(_aware(card.created_at).date(), date.today()), paid)
    if card.case_id is None:
        raise Conflict(_("No case could be opened: %(reason)s"), field="document_number", params={"reason": outcome})
    audit.record(
        session, principal.actor(), "card_dispute.linked", "card_dispute", card.id, after={"payment": payment.document_number}
    )
    return card.case_id


async def without_case(session: AsyncSession, principal: Principal, *, limit: int = 50, offset: int = 0):
    require(principal, Permission.READ_LEDGER)
    return await ChargebackRepository(session).without_case(limit=limit, offset=offset)
