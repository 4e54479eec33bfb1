"""Card chargebacks: a Stripe dispute on the supplier's account becomes a case with Stripe's due date,
follows Stripe's events in whatever order they come, moves the ledger where Stripe moves the money, and
takes the team's evidence back to Stripe before the due date."""

from __future__ import annotations

import io
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from backend.db.uow import global_unit_of_work
from backend.disputes import service as disputes
from backend.disputes.models import Channel, DisputeCase, DisputeEvent, DisputeState, Outcome
from backend.invoices import service as ledger
from backend.invoices.models import Invoice, InvoiceStatus, LedgerEntry
from backend.payments.models import AttemptStatus, CardDispute, PaymentAccount, PaymentAttempt, PaymentPurpose, StripeEvent
from tests.conftest import csrf_token, sign_in
from tests.disputes.helpers import uow
from tests.factories import make_buyer, make_invoice, owner_of
from tests.payments.helpers import apply_events
from tests.payments.stripe_fakes import event_payload, signed
from tests.test_team import run_jobs

ENDPOINT = "/stripe/webhook"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
DAY = 86_400


@dataclass
class CardPayment:
    buyer_id: object
    invoice: Invoice
    account: str
    payment_intent: str
    document_number: str  # the payment's in the ledger


async def paid_by_card(supplier) -> CardPayment:
    """An invoice of 1,130.00 CNY the buyer paid by card through Accord: the payment is in the ledger."""
    buyer_id = await make_buyer(supplier, "Card Buyer Ltd")
    invoice = await make_invoice(supplier, buyer_id)
    account, intent = "acct_" + secrets.token_hex(8), "pi_" + secrets.token_hex(12)
    async with uow(supplier) as session:
        session.add(PaymentAccount(stripe_account_id=account, charges_enabled=True, connected_by="test"))
        entry = await ledger.record_payment(
            session,
            owner_of(supplier),
            buyer_id=buyer_id,
            amount=invoice.gross_amount,
            currency="CNY",
            allocations=[ledger.PaymentAllocation(invoice.id, invoice.gross_amount)],
            document_number="PAY-" + intent[3:15],
        )
        session.add(
            PaymentAttempt(
                buyer_id=buyer_id,
                purpose=PaymentPurpose.INVOICES,
                currency="CNY",
                amount=invoice.gross_amount,
                allocations=[{"invoice_id": str(invoice.id), "amount": str(invoice.gross_amount)}],
                idempotency_key=secrets.token_hex(8),
                stripe_account_id=account,
                payment_intent_id=intent,
                status=AttemptStatus.PAID,
                ledger_entry_id=entry.id,
                created_by="test",
            )
        )
    return CardPayment(buyer_id, invoice, account, intent, entry.document_number)


def dispute(payment_intent: str, *, dispute_id: str, status: str = "needs_response", amount: int = 113_000, due_by: int) -> dict:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "currency": "cny",
        "charge": "ch_" + dispute_id[3:],
        "payment_intent": payment_intent,
        "reason": "product_not_received",
        "status": status,
        "created": due_by - 7 * DAY,
        "evidence": {"customer_name": "Li Na", "customer_email_address": "li.na@example.com"},
        "evidence_details": {"due_by": due_by, "has_evidence": False, "past_due": False, "submission_count": 0},
        "metadata": {},
    }


async def deliver(client, type_: str, obj: dict, *, account: str, created: int, event_id: str | None = None) -> dict:
    payload = event_payload(type_, obj, account=account, created=created, event_id=event_id)
    response = await client.post(ENDPOINT, content=payload, headers=signed(payload))
    assert response.status_code == 200, response.text
    return response.json()


async def state_of(supplier, dispute_id: str) -> tuple[CardDispute, DisputeCase | None, Invoice, list[str]]:
    async with uow(supplier) as session:
        card = (await session.scalars(select(CardDispute).where(CardDispute.stripe_dispute_id == dispute_id))).one()
        case = (await session.scalars(select(DisputeCase).where(DisputeCase.id == card.case_id))).first()
        kinds = []
        if case is not None:
            events = await session.scalars(select(DisputeEvent).where(DisputeEvent.case_id == case.id).order_by(DisputeEvent.at))
            kinds = [event.kind for event in events]
        # Each test's supplier has the one invoice the card paid.
        return card, case, (await session.scalars(select(Invoice))).one(), kinds


async def opened(
    client, supplier, *, status: str = "needs_response", due_in: int = 5 * DAY, jobs=apply_events
) -> tuple[CardPayment, str, int]:
    paid = await paid_by_card(supplier)
    dispute_id, due_by = "dp_" + secrets.token_hex(10), int(time.time()) + due_in
    await deliver(
        client,
        "charge.dispute.created",
        dispute(paid.payment_intent, dispute_id=dispute_id, status=status, due_by=due_by),
        account=paid.account,
        created=int(time.time()) - 60,
    )
    await jobs()
    return paid, dispute_id, due_by


async def test_a_chargeback_webhook_opens_a_case_with_the_due_date(client, world, stripe_fake):
    # Through the real job, as in production (the other tests apply the stored events the way the job does).
    paid, dispute_id, due_by = await opened(client, world.a, jobs=run_jobs)
    card, case, invoice, kinds = await state_of(world.a, dispute_id)
    assert card.status == "needs_response" and card.amount == Decimal("1130.00") and card.currency == "CNY"
    assert case is not None and case.channel is Channel.CARD and case.buyer_id == paid.buyer_id
    assert case.state is DisputeState.OPEN and case.reason_code == "late_delivery"  # product_not_received
    assert case.disputed_amount == Decimal("1130.00")
    assert case.hard_deadline_at == datetime.fromtimestamp(due_by, UTC)
    # The card network took the money back: the paid invoice owes it again, held out of collection by the case.
    assert invoice.status is InvoiceStatus.DISPUTED
    assert invoice.open_amount == Decimal("1130.00") and invoice.disputed_amount == Decimal("1130.00")
    assert kinds[0] == "registered" and "card_funds_withdrawn" in kinds
    # Another tenant sees none of it.
    async with uow(world.b) as session:
        assert (await session.execute(select(func.count()).select_from(CardDispute))).scalar_one() == 0


async def test_updated_before_created_ends_in_the_same_state(client, world, stripe_fake):
    paid = await paid_by_card(world.a)
    dispute_id, due_by, now = "dp_" + secrets.token_hex(10), int(time.time()) + 5 * DAY, int(time.time())
    created = dispute(paid.payment_intent, dispute_id=dispute_id, due_by=due_by)
    updated = {**created, "status": "under_review", "evidence_details": {**created["evidence_details"], "submission_count": 1}}
    await deliver(client, "charge.dispute.updated", updated, account=paid.account, created=now - 10)
    stale = await deliver(client, "charge.dispute.created", created, account=paid.account, created=now - 60)
    await apply_events()
    card, case, invoice, _kinds = await state_of(world.a, dispute_id)
    assert card.status == "under_review"
    # Evidence is in: the due date no longer presses on the case.
    assert case is not None and case.state is DisputeState.OPEN and case.hard_deadline_at is None
    assert card.withdrawn_amount == Decimal("1130.00") and invoice.open_amount == Decimal("1130.00")
    async with global_unit_of_work() as session:
        assert (await session.get(StripeEvent, stale["received"])).outcome == "stale"


async def test_a_chargeback_that_comes_before_its_payment_is_worked_once_the_payment_is_recorded(client, world, stripe_fake):
    buyer_id = await make_buyer(world.a, "Early Disputer Ltd")
    invoice = await make_invoice(world.a, buyer_id)
    account, intent = "acct_" + secrets.token_hex(8), "pi_" + secrets.token_hex(12)
    async with uow(world.a) as session:
        session.add(PaymentAccount(stripe_account_id=account, charges_enabled=True, connected_by="test"))
        session.add(
            PaymentAttempt(
                buyer_id=buyer_id,
                purpose=PaymentPurpose.INVOICES,
                currency="CNY",
                amount=invoice.gross_amount,
                allocations=[{"invoice_id": str(invoice.id), "amount": str(invoice.gross_amount)}],
                idempotency_key=secrets.token_hex(8),
                stripe_account_id=account,
                payment_intent_id=intent,
                created_by="test",
            )
        )
    dispute_id, now = "dp_" + secrets.token_hex(10), int(time.time())
    obj = dispute(intent, dispute_id=dispute_id, due_by=now + 5 * DAY)
    await deliver(client, "charge.dispute.created", obj, account=account, created=now - 30)
    await apply_events()
    card, case, invoice_now, _kinds = await state_of(world.a, dispute_id)
    assert case is None and invoice_now.status is InvoiceStatus.ISSUED  # nothing paid yet, nothing to take back
    paid = {"id": intent, "object": "payment_intent", "amount_received": 113_000, "currency": "cny", "metadata": {}}
    await deliver(client, "payment_intent.succeeded", paid, account=account, created=now - 20)
    await apply_events()
    card, case, invoice_now, _kinds = await state_of(world.a, dispute_id)
    assert case is not None and case.buyer_id == buyer_id and card.withdrawn_amount == Decimal("1130.00")
    assert invoice_now.open_amount == Decimal("1130.00") and invoice_now.disputed_amount == Decimal("1130.00")


async def test_a_duplicate_is_applied_once(client, world, stripe_fake):
    paid = await paid_by_card(world.a)
    dispute_id, due_by, now = "dp_" + secrets.token_hex(10), int(time.time()) + 5 * DAY, int(time.time())
    obj = dispute(paid.payment_intent, dispute_id=dispute_id, due_by=due_by)
    first = await deliver(client, "charge.dispute.created", obj, account=paid.account, created=now, event_id="evt_" + dispute_id)
    again = await deliver(client, "charge.dispute.created", obj, account=paid.account, created=now, event_id="evt_" + dispute_id)
    assert (first["status"], again["status"]) == ("stored", "duplicate")
    # Stripe's other copy of the same news (funds withdrawn) changes nothing more either.
    await deliver(client, "charge.dispute.funds_withdrawn", obj, account=paid.account, created=now)
    await apply_events()
    card, _case, invoice, _kinds = await state_of(world.a, dispute_id)
    assert card.withdrawn_amount == Decimal("1130.00") and invoice.open_amount == Decimal("1130.00")
    async with uow(world.a) as session:
        assert (await session.execute(select(func.count()).select_from(DisputeCase))).scalar_one() == 1
        taken_back = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.document_number.like(f"CB-{dispute_id}%"))
        assert (await session.execute(taken_back)).scalar_one() == 1


async def test_a_won_chargeback_resolves_the_case_for_the_supplier_and_the_invoice_is_paid_again(client, world, stripe_fake):
    paid, dispute_id, due_by = await opened(client, world.a)
    won = {**dispute(paid.payment_intent, dispute_id=dispute_id, due_by=due_by), "status": "won"}
    await deliver(client, "charge.dispute.closed", won, account=paid.account, created=int(time.time()))
    await deliver(client, "charge.dispute.funds_reinstated", won, account=paid.account, created=int(time.time()))
    await apply_events()
    card, case, invoice, kinds = await state_of(world.a, dispute_id)
    assert card.status == "won" and card.reinstated_amount == Decimal("1130.00")
    assert case.state is DisputeState.RESOLVED and case.outcome is Outcome.INVALID
    assert case.collected_amount == Decimal("1130.00") and case.hard_deadline_at is None
    assert invoice.status is InvoiceStatus.PAID and invoice.open_amount == 0
    assert {"card_dispute_won", "card_funds_reinstated"} <= set(kinds)


async def test_a_lost_chargeback_closes_the_case_and_the_amount_is_open_again(client, world, stripe_fake):
    paid, dispute_id, due_by = await opened(client, world.a)
    lost = {**dispute(paid.payment_intent, dispute_id=dispute_id, due_by=due_by), "status": "lost"}
    await deliver(client, "charge.dispute.closed", lost, account=paid.account, created=int(time.time()))
    await apply_events()
    card, case, invoice, kinds = await state_of(world.a, dispute_id)
    assert card.status == "lost" and card.reinstated_amount == 0
    assert case.state is DisputeState.RESOLVED and case.outcome is Outcome.VALID and "1130.00" in case.resolution_note
    # The money stays with the cardholder: the invoice is open for it again, no longer held by the case.
    assert invoice.open_amount == Decimal("1130.00") and invoice.disputed_amount == 0
    assert invoice.status is InvoiceStatus.PARTIALLY_PAID
    assert "card_dispute_lost" in kinds


async def test_a_chargeback_on_a_payment_accord_does_not_know_waits_in_the_console_list(client, world, stripe_fake):
    paid = await paid_by_card(world.a)
    dispute_id = "dp_" + secrets.token_hex(10)
    obj = dispute("pi_elsewhere", dispute_id=dispute_id, due_by=int(time.time()) + 3 * DAY)
    await deliver(client, "charge.dispute.created", obj, account=paid.account, created=int(time.time()))
    await apply_events()
    async with uow(world.a) as session:
        card = (await session.scalars(select(CardDispute).where(CardDispute.stripe_dispute_id == dispute_id))).one()
        assert card.case_id is None and card.withdrawn_amount == 0
        assert (await session.execute(select(func.count()).select_from(DisputeCase))).scalar_one() == 0
    await sign_in(client, world.a.finance)
    page = await client.get("/console/card-disputes")
    assert page.status_code == 200 and dispute_id in page.text
    await sign_in(client, world.b.finance)
    assert dispute_id not in (await client.get("/console/card-disputes")).text


async def test_the_team_works_a_chargeback_on_a_payment_recorded_by_hand_by_naming_the_payment(client, world, stripe_fake):
    paid = await paid_by_card(world.a)
    dispute_id = "dp_" + secrets.token_hex(10)
    obj = dispute("pi_taken_by_the_terminal", dispute_id=dispute_id, due_by=int(time.time()) + 3 * DAY)
    await deliver(client, "charge.dispute.created", obj, account=paid.account, created=int(time.time()))
    await apply_events()
    card, case, invoice, _kinds = await state_of(world.a, dispute_id)
    assert case is None and invoice.status is InvoiceStatus.PAID
    link = f"/console/card-disputes/{card.id}/link"

    # Charlie, at another supplier, cannot link it; nothing changes.
    await sign_in(client, world.b.finance)
    token = await csrf_token(client, "/console/card-disputes")
    assert (await client.post(link, data={"_csrf_token": token, "document_number": paid.document_number})).status_code == 404

    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/card-disputes")
    wrong = await client.post(link, data={"_csrf_token": token, "document_number": "PAY-NOPE"})
    assert wrong.status_code == 422 and "PAY-NOPE" in wrong.text and 'aria-invalid="true"' in wrong.text
    card, case, invoice, _kinds = await state_of(world.a, dispute_id)
    assert case is None and invoice.status is InvoiceStatus.PAID

    linked = await client.post(link, data={"_csrf_token": token, "document_number": paid.document_number}, follow_redirects=False)
    assert linked.status_code == 303, linked.text
    card, case, invoice, _kinds = await state_of(world.a, dispute_id)
    assert linked.headers["location"].endswith(f"/console/disputes/{case.id}#card")
    assert case.buyer_id == paid.buyer_id and case.hard_deadline_at is not None
    assert invoice.open_amount == Decimal("1130.00") and invoice.disputed_amount == Decimal("1130.00")
    assert dispute_id not in (await client.get("/console/card-disputes")).text


# --- evidence, from the case page --------------------------------------------------------------------


async def _with_evidence_file(supplier, case_id) -> str:
    async with uow(supplier) as session:
        stored = await disputes.add_evidence(
            session, owner_of(supplier), case_id, filename="delivery-note.pdf", source=io.BytesIO(PDF)
        )
        return str(stored.id)


def _form(token: str, file_id: str, action: str = "submit", **texts) -> dict:
    return {
        "_csrf_token": token,
        "action": action,
        "product_description": "200 bearings 6204, delivered 3 March, signed for by Li Na.",
        "shipping_carrier": "SF Express",
        "shipping_tracking_number": "SF1234567890",
        "file_shipping_documentation": file_id,
        **texts,
    }


async def test_evidence_is_submitted_to_stripe_on_the_connected_account(client, world, stripe_fake):
    paid, dispute_id, due_by = await opened(client, world.a)
    _card, case, _invoice, _kinds = await state_of(world.a, dispute_id)
    stripe_fake.disputes[dispute_id] = dispute(paid.payment_intent, dispute_id=dispute_id, due_by=due_by)
    file_id = await _with_evidence_file(world.a, case.id)
    await sign_in(client, world.a.finance)
    page = await client.get(f"/console/disputes/{case.id}")
    assert page.status_code == 200 and dispute_id in page.text and "Submit to Stripe" in page.text
    assert 'value="Li Na"' in page.text  # what Stripe filled in from the charge is the form's first value
    token = await csrf_token(client, f"/console/disputes/{case.id}")

    # With htmx the case page comes back in place, the draft kept and nothing sent.
    draft = await client.post(
        f"/console/disputes/{case.id}/card-evidence", data=_form(token, file_id, "draft"), headers={"HX-Request": "true"}
    )
    assert draft.status_code == 200 and "Draft saved" in draft.text and "SF1234567890" in draft.text
    assert stripe_fake.sent("POST", "/v1/disputes") == [] and stripe_fake.sent("POST", "/v1/files") == []

    response = await client.post(f"/console/disputes/{case.id}/card-evidence", data=_form(token, file_id), follow_redirects=False)
    assert response.status_code == 303, response.text
    [upload] = stripe_fake.sent("POST", "/v1/files")
    assert upload.headers["stripe-account"] == paid.account and upload.headers.get("idempotency-key")
    [update] = stripe_fake.sent("POST", f"/v1/disputes/{dispute_id}")
    assert update.headers["stripe-account"] == paid.account
    assert re.fullmatch(r"accord-card-dispute-[0-9a-f-]+-evidence-1", update.headers["idempotency-key"])
    assert update.params["submit"] == "true"
    evidence = update.params["evidence"]
    assert evidence["product_description"].startswith("200 bearings")
    assert evidence["shipping_tracking_number"] == "SF1234567890" and evidence["shipping_carrier"] == "SF Express"
    assert evidence["shipping_documentation"] in stripe_fake.files
    card, case, _invoice, kinds = await state_of(world.a, dispute_id)
    assert card.status == "under_review" and card.evidence_submitted_by == world.a.finance.email
    assert case.hard_deadline_at is None and "card_evidence_submitted" in kinds
    shown = await client.get(f"/console/disputes/{case.id}")
    assert "Evidence submitted to Stripe" in shown.text and "delivery-note.pdf" in shown.text
    assert "Submit to Stripe" not in shown.text


async def test_evidence_is_refused_after_the_due_date_and_nothing_is_sent(client, world, stripe_fake):
    paid, dispute_id, _due_by = await opened(client, world.a)
    _card, case, _invoice, _kinds = await state_of(world.a, dispute_id)
    # Stripe moves the due date into the past (the window closed while the team was writing).
    past = dispute(paid.payment_intent, dispute_id=dispute_id, due_by=int(time.time()) - 3600)
    await deliver(client, "charge.dispute.updated", past, account=paid.account, created=int(time.time()))
    await apply_events()
    stripe_fake.disputes[dispute_id] = past
    file_id = await _with_evidence_file(world.a, case.id)
    await sign_in(client, world.a.finance)
    page = await client.get(f"/console/disputes/{case.id}")
    assert "Submit to Stripe" not in page.text and "no longer takes it" in page.text
    token = await csrf_token(client, f"/console/disputes/{case.id}")
    response = await client.post(f"/console/disputes/{case.id}/card-evidence", data=_form(token, file_id))
    assert response.status_code == 409 and "no longer takes it" in response.text
    assert stripe_fake.sent("POST", "/v1/disputes") == [] and stripe_fake.sent("POST", "/v1/files") == []
    card, *_rest = await state_of(world.a, dispute_id)
    assert card.evidence_submitted_at is None


async def test_evidence_too_long_is_refused_in_place_and_nothing_is_sent(client, world, stripe_fake):
    paid, dispute_id, due_by = await opened(client, world.a)
    _card, case, _invoice, _kinds = await state_of(world.a, dispute_id)
    stripe_fake.disputes[dispute_id] = dispute(paid.payment_intent, dispute_id=dispute_id, due_by=due_by)
    file_id = await _with_evidence_file(world.a, case.id)
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, f"/console/disputes/{case.id}")
    too_long = "x" * 20_001
    response = await client.post(
        f"/console/disputes/{case.id}/card-evidence", data=_form(token, file_id, uncategorized_text=too_long)
    )
    assert response.status_code == 422
    assert 'id="card-uncategorized_text-error"' in response.text and "20,000" in response.text
    assert too_long in response.text  # what was typed is kept
    assert stripe_fake.sent("POST", "/v1/disputes") == [] and stripe_fake.sent("POST", "/v1/files") == []


async def test_another_tenants_user_cannot_see_or_submit_on_the_case(client, world, stripe_fake):
    paid, dispute_id, due_by = await opened(client, world.a)
    _card, case, _invoice, _kinds = await state_of(world.a, dispute_id)
    stripe_fake.disputes[dispute_id] = dispute(paid.payment_intent, dispute_id=dispute_id, due_by=due_by)
    file_id = await _with_evidence_file(world.a, case.id)
    await sign_in(client, world.b.finance)
    assert (await client.get(f"/console/disputes/{case.id}")).status_code == 404
    token = await csrf_token(client, "/console")
    for action in ("submit", "draft"):
        response = await client.post(f"/console/disputes/{case.id}/card-evidence", data=_form(token, file_id, action))
        assert response.status_code == 404
    assert stripe_fake.requests == []
    card, *_rest = await state_of(world.a, dispute_id)
    assert card.evidence_submitted_at is None and "draft" not in (card.evidence or {})


@pytest.mark.parametrize("status", ["warning_needs_response"])
async def test_an_inquiry_moves_no_money_and_opens_no_case(client, world, stripe_fake, status):
    _paid, dispute_id, _due_by = await opened(client, world.a, status=status)
    card, case, invoice, _kinds = await state_of(world.a, dispute_id)
    assert card.status == status and case is None and card.withdrawn_amount == 0
    assert invoice.status is InvoiceStatus.PAID
