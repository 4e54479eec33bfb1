"""Buyers pay from the portal through Stripe Checkout; the ledger changes only on Stripe's webhook, once."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import stripe
from sqlalchemy import select

from backend.config import get_settings
from backend.db.base import utcnow
from backend.disputes import holds
from backend.disputes import service as disputes
from backend.disputes.models import ACTIVE_STATES, DisputeCase, DisputeEvent, DisputeState, Instalment
from backend.disputes.service import ItemInput, OptionInput, Resolution
from backend.invoices import service as ledger
from backend.invoices.models import EntryKind, InvoiceStatus
from backend.payments import service
from backend.payments.models import AttemptStatus, PaymentPurpose
from tests.conftest import sign_in
from tests.disputes.helpers import accept, open_case, propose, uow
from tests.factories import make_buyer, make_invoice, owner_of
from tests.payments.helpers import (
    apply_events,
    attempts,
    connect_account,
    deliver,
    disputed_invoice,
    entries,
    invoice_now,
    payment_intent,
    press_pay,
    run_jobs,
    signed_in,
)


async def _case(supplier, case_id) -> DisputeCase:
    async with uow(supplier) as session:
        return await session.get(DisputeCase, (supplier.tenant_id, case_id))


async def test_a_buyer_pays_the_undisputed_part_and_the_dispute_stays_open_for_the_rest(client, world, stripe_fake, mail_dir):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    page = await client.get(f"/portal/invoices/{setup.invoice.id}")
    assert "Pay the undisputed amount" in page.text and "830.00" in page.text
    # The CSP lets the form's answer go on to Stripe's Checkout, and nowhere else.
    assert stripe_fake.base in page.headers["content-security-policy"]

    # Whatever amount the browser sends is not read: the server charges what the ledger says.
    response = await press_pay(
        client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id), "amount": "1.00"}
    )
    assert response.status_code == 303, response.text
    [sent] = stripe_fake.sent("POST", "/v1/checkout/sessions")
    assert response.headers["location"] == stripe_fake.sessions[next(iter(stripe_fake.sessions))]["url"]
    [attempt] = await attempts(world.a)
    assert sent.params["line_items"][0]["price_data"] == {
        "currency": "cny",
        "unit_amount": "83000",
        "product_data": {"name": f"Undisputed part of invoice {setup.invoice.number}"},
    }
    assert sent.headers["stripe-account"] == account
    assert sent.headers["idempotency-key"] == attempt.idempotency_key
    assert sent.params["metadata"] == {"accord_tenant_id": str(world.a.tenant_id), "accord_attempt_id": str(attempt.id)}
    assert sent.params["success_url"] == f"{get_settings().base_url}/portal/payments/{attempt.id}/done"
    assert attempt.purpose is PaymentPurpose.UNDISPUTED and attempt.amount == Decimal("830.00")

    # Back from Stripe, before the webhook: nothing is in the ledger yet.
    thanks = await client.get(f"/portal/payments/{attempt.id}/done")
    assert "being confirmed" in thanks.text
    assert (await invoice_now(world.a, setup.invoice.id)).open_amount == Decimal("1130.00")

    paid = stripe_fake.pay(attempt.checkout_session_id)
    await deliver(client, "checkout.session.completed", paid, account=account)
    await run_jobs()
    await run_jobs()  # the settlement check the payment enqueued

    invoice = await invoice_now(world.a, setup.invoice.id)
    assert invoice.open_amount == Decimal("300.00") and invoice.disputed_amount == Decimal("300.00")
    assert invoice.status is InvoiceStatus.DISPUTED
    assert (await _case(world.a, setup.case_id)).state in ACTIVE_STATES
    [payment] = [e for e in await entries(world.a, setup.buyer_id) if e.kind is EntryKind.PAYMENT]
    assert payment.document_number == paid["payment_intent"] and payment.amount == Decimal("830.00")
    [attempt] = await attempts(world.a)
    assert attempt.status is AttemptStatus.PAID and attempt.ledger_entry_id == payment.id
    page = await client.get(f"/portal/invoices/{setup.invoice.id}")
    assert paid["payment_intent"] in page.text
    async with uow(world.a) as session:
        kinds = [e.kind for e in (await session.scalars(select(DisputeEvent).where(DisputeEvent.case_id == setup.case_id))).all()]
    assert "payment_received" in kinds
    case_page = await client.get(f"/portal/disputes/{setup.case_id}")
    assert "Your card payment received" in case_page.text
    # The team sees it on the console's invoice page: the ledger's payment and the card payment behind it.
    await sign_in(client, world.a.finance)
    console = await client.get(f"/console/invoices/{setup.invoice.id}")
    assert "Card payments from the buyer portal" in console.text and console.text.count(paid["payment_intent"]) == 2


async def test_the_same_payment_told_three_times_is_recorded_once(client, world, stripe_fake, mail_dir):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)})
    [attempt] = await attempts(world.a)
    paid = stripe_fake.pay(attempt.checkout_session_id)
    event_id, first = await deliver(client, "checkout.session.completed", paid, account=account)
    _same, again = await deliver(client, "checkout.session.completed", paid, account=account, event_id=event_id)
    assert (first["status"], again["status"]) == ("stored", "duplicate")
    await deliver(client, "payment_intent.succeeded", payment_intent(paid, attempt), account=account)
    await apply_events()
    payments = [e for e in await entries(world.a, setup.buyer_id) if e.kind is EntryKind.PAYMENT]
    assert len(payments) == 1
    assert (await invoice_now(world.a, setup.invoice.id)).open_amount == Decimal("300.00")


async def test_payment_intent_succeeded_before_the_session_completes_applies_once(client, world, stripe_fake, mail_dir):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)})
    [attempt] = await attempts(world.a)
    paid = stripe_fake.pay(attempt.checkout_session_id)
    await deliver(client, "payment_intent.succeeded", payment_intent(paid, attempt), account=account)
    await apply_events()
    [attempt] = await attempts(world.a)
    assert attempt.status is AttemptStatus.PAID and attempt.payment_intent_id == paid["payment_intent"]
    await deliver(client, "checkout.session.completed", paid, account=account)
    # A decline Stripe reported earlier but delivered late does not undo the payment.
    failed = {**payment_intent(paid, attempt), "status": "requires_payment_method", "last_payment_error": {"message": "declined"}}
    await deliver(client, "payment_intent.payment_failed", failed, account=account, created=1)
    await apply_events()
    [attempt] = await attempts(world.a)
    assert attempt.status is AttemptStatus.PAID
    assert len([e for e in await entries(world.a, setup.buyer_id) if e.kind is EntryKind.PAYMENT]) == 1


async def test_a_refund_that_arrives_before_its_payment_is_recorded_after_it(client, world, stripe_fake, mail_dir):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)})
    [attempt] = await attempts(world.a)
    paid = stripe_fake.pay(attempt.checkout_session_id)
    charge = {
        "id": "ch_refunded",
        "object": "charge",
        "payment_intent": paid["payment_intent"],
        "amount": 83000,
        "amount_refunded": 20000,
        "currency": "cny",
        "refunded": False,
        "metadata": {"accord_tenant_id": str(world.a.tenant_id), "accord_attempt_id": str(attempt.id)},
    }
    await deliver(client, "charge.refunded", charge, account=account)
    await apply_events()
    assert (await invoice_now(world.a, setup.invoice.id)).open_amount == Decimal("1130.00")
    await deliver(client, "checkout.session.completed", paid, account=account)
    await apply_events()
    invoice = await invoice_now(world.a, setup.invoice.id)
    # 830.00 paid, 200.00 of it given back: the invoice owes that again, beside the disputed 300.00.
    assert invoice.open_amount == Decimal("500.00") and invoice.status is InvoiceStatus.DISPUTED
    refund = [e for e in await entries(world.a, setup.buyer_id) if e.kind is EntryKind.ADJUSTMENT]
    assert [(e.amount, e.document_number) for e in refund] == [(Decimal("200.00"), f"{paid['payment_intent']}-refund-20000")]
    # The rest refunded later, and an older refund event arriving after it changes nothing.
    await deliver(client, "charge.refunded", {**charge, "amount_refunded": 83000, "refunded": True}, account=account)
    await deliver(client, "charge.refunded", {**charge, "amount_refunded": 10000}, account=account, created=1)
    await apply_events()
    invoice = await invoice_now(world.a, setup.invoice.id)
    assert invoice.open_amount == Decimal("1130.00")
    [attempt] = await attempts(world.a)
    assert attempt.status is AttemptStatus.REFUNDED and attempt.refunded_amount == Decimal("830.00")


async def test_a_buyer_cannot_pay_another_buyers_or_another_suppliers_invoice(client, world, stripe_fake, mail_dir):
    await connect_account(world.a, stripe_fake)
    await connect_account(world.b, stripe_fake)
    setup = await disputed_invoice(world.a)
    other_buyer = await make_buyer(world.a, "Other Buyer")
    theirs = await make_invoice(world.a, other_buyer)
    elsewhere = await make_invoice(world.b, await make_buyer(world.b))
    await signed_in(client, world.a, setup)
    for invoice in (theirs, elsewhere):
        assert (await client.get(f"/portal/invoices/{invoice.id}")).status_code == 404
        for fields in (
            {"purpose": "invoice", "invoice": str(invoice.id)},
            {"purpose": "invoices", "invoice": [str(setup.invoice.id), str(invoice.id)]},
        ):
            response = await press_pay(client, "/portal/invoices", fields)
            assert response.status_code == 404
    bad = await press_pay(client, "/portal/invoices", {"purpose": "invoice", "invoice": "not-a-uuid"})
    assert bad.status_code == 404
    assert await attempts(world.a) == [] and await attempts(world.b) == []
    assert stripe_fake.sent("POST", "/v1/checkout/sessions") == []


async def test_a_second_press_reuses_the_open_payment_and_a_retried_create_gets_the_same_session(
    client, world, stripe_fake, mail_dir
):
    await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    fields = {"purpose": "invoice", "invoice": str(setup.invoice.id)}
    first = await press_pay(client, f"/portal/invoices/{setup.invoice.id}", fields)
    second = await press_pay(client, f"/portal/invoices/{setup.invoice.id}", fields)
    assert first.headers["location"] == second.headers["location"]
    [attempt] = await attempts(world.a)
    assert len(stripe_fake.sent("POST", "/v1/checkout/sessions")) == 1
    # Stripe's answer lost and the create sent again: the same key brings back the same session.
    again = await service.create_checkout(world.a.tenant_id, attempt, "retry", None)
    assert again.id == attempt.checkout_session_id and len(stripe_fake.sessions) == 1


async def test_several_invoices_are_paid_each_for_its_payable_part_in_minor_units(client, world, stripe_fake, mail_dir):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a, currency="JPY", disputed="300")
    second = await make_invoice(world.a, setup.buyer_id, currency="JPY", lines=(("Gear", "3", "1000", "0"),))
    await signed_in(client, world.a, setup)
    listed = await client.get("/portal/invoices")
    assert f'value="{second.id}"' in listed.text and "Pay the chosen invoices" in listed.text
    response = await press_pay(
        client, "/portal/invoices", {"purpose": "invoices", "invoice": [str(setup.invoice.id), str(second.id)]}
    )
    assert response.status_code == 303
    [sent] = stripe_fake.sent("POST", "/v1/checkout/sessions")
    # JPY has no minor unit at Stripe: 830 + 3,000 yen is 3830, not 383000.
    assert sent.params["line_items"][0]["price_data"]["unit_amount"] == "3830"
    assert sent.params["line_items"][0]["price_data"]["currency"] == "jpy"
    [attempt] = await attempts(world.a)
    assert {a["number"]: a["amount"] for a in attempt.allocations} == {setup.invoice.number: "830", second.number: "3000"}
    paid = stripe_fake.pay(attempt.checkout_session_id)
    await deliver(client, "checkout.session.completed", paid, account=account)
    await apply_events()
    assert (await invoice_now(world.a, second.id)).status is InvoiceStatus.PAID
    assert (await invoice_now(world.a, setup.invoice.id)).open_amount == Decimal("300")


async def test_paying_what_a_rejected_dispute_leaves_closes_the_case(client, world, stripe_fake, mail_dir):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    _proposal, [option] = await propose(
        world.a, setup.case_id, OptionInput(kind="rejection", description="The bearings met spec")
    )
    await accept(world.a, _proposal.id, option.id)
    await signed_in(client, world.a, setup)
    page = await client.get(f"/portal/disputes/{setup.case_id}")
    assert "Pay the agreed amount" in page.text and "1,130.00" in page.text
    response = await press_pay(client, f"/portal/disputes/{setup.case_id}", {"purpose": "agreed", "case": str(setup.case_id)})
    assert response.status_code == 303
    [attempt] = await attempts(world.a)
    assert attempt.purpose is PaymentPurpose.AGREED and attempt.amount == Decimal("1130.00")
    await deliver(client, "checkout.session.completed", stripe_fake.pay(attempt.checkout_session_id), account=account)
    await run_jobs()
    await run_jobs()
    assert (await _case(world.a, setup.case_id)).state is DisputeState.RESOLVED
    assert (await invoice_now(world.a, setup.invoice.id)).status is InvoiceStatus.PAID


async def test_a_declined_card_is_explained_on_the_return_page(client, world, stripe_fake, mail_dir):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)})
    [attempt] = await attempts(world.a)
    failed = {
        "id": "pi_declined",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "currency": "cny",
        "last_payment_error": {"message": "Your card was declined."},
        "metadata": {"accord_tenant_id": str(world.a.tenant_id), "accord_attempt_id": str(attempt.id)},
    }
    await deliver(client, "payment_intent.payment_failed", failed, account=account)
    await apply_events()
    page = await client.get(f"/portal/payments/{attempt.id}/done")
    assert "Your card was declined." in page.text
    cancelled = await client.get(f"/portal/payments/{attempt.id}/cancelled")
    assert "nothing was charged" in cancelled.text
    await deliver(
        client,
        "checkout.session.expired",
        {**stripe_fake.sessions[attempt.checkout_session_id], "status": "expired"},
        account=account,
    )
    await apply_events()
    [attempt] = await attempts(world.a)
    assert attempt.status is AttemptStatus.EXPIRED
    assert await entries(world.a, setup.buyer_id) == []


async def test_without_stripe_the_buttons_say_so_and_paying_is_refused_clearly(client, world, stripe_fake, mail_dir, monkeypatch):
    await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "")
    get_settings.cache_clear()
    page = await client.get(f"/portal/invoices/{setup.invoice.id}")
    assert page.status_code == 200
    assert "Online payment is not set up on this Accord installation." in page.text
    assert 'action="/portal/payments"' not in page.text
    response = await press_pay(
        client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)}
    )
    assert response.status_code == 503 and "not set up" in response.text
    assert await attempts(world.a) == []


async def test_a_supplier_without_a_connected_account_takes_no_payment(client, world, stripe_fake, mail_dir):
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    page = await client.get(f"/portal/invoices/{setup.invoice.id}")
    assert "does not take online payments yet" in page.text
    response = await press_pay(
        client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)}
    )
    assert response.status_code == 503
    assert await attempts(world.a) == [] and stripe_fake.sent("POST", "/v1/checkout/sessions") == []


async def test_the_next_instalment_is_paid_and_marked_so_and_the_plan_ends_paid(client, world, stripe_fake, mail_dir):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a, disputed="1130.00")
    plan = [(date.today() + timedelta(days=30), "500.00"), (date.today() + timedelta(days=60), "630.00")]
    proposal, [option] = await propose(world.a, setup.case_id, OptionInput(kind="instalments", schedule=plan))
    await accept(world.a, proposal.id, option.id)
    async with uow(world.a) as session:
        await disputes.resolve_case(
            session, owner_of(world.a), setup.case_id, Resolution(outcome="invalid", root_cause_code="other")
        )
    await signed_in(client, world.a, setup)
    page = await client.get("/portal/instalments")
    assert "Pay next instalment" in page.text and "500.00" in page.text
    for seq, amount in ((1, Decimal("500.00")), (2, Decimal("630.00"))):
        response = await press_pay(client, "/portal/instalments", {"purpose": "instalment", "case": str(setup.case_id)})
        assert response.status_code == 303
        attempt = (await attempts(world.a))[-1]
        assert attempt.purpose is PaymentPurpose.INSTALMENT and attempt.amount == amount
        await deliver(client, "checkout.session.completed", stripe_fake.pay(attempt.checkout_session_id), account=account)
        await apply_events()
        async with uow(world.a) as session:
            instalments = (
                await session.scalars(select(Instalment).where(Instalment.case_id == setup.case_id).order_by(Instalment.seq))
            ).all()
        assert [i.status for i in instalments][:seq] == ["paid"] * seq
    assert (await invoice_now(world.a, setup.invoice.id)).status is InvoiceStatus.PAID
    page = await client.get("/portal/instalments")
    assert "Pay next instalment" not in page.text
    async with uow(world.a) as session:
        events = (await session.scalars(select(DisputeEvent).where(DisputeEvent.case_id == setup.case_id))).all()
    assert [e.data.get("plan_paid") for e in events if e.kind == "instalment_paid"] == [None, True]


async def test_the_agreed_amount_leaves_out_what_the_credit_note_will_take(client, world, stripe_fake, mail_dir):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    proposal, [option] = await propose(world.a, setup.case_id, OptionInput(kind="credit_note", amount=Decimal("100.00")))
    await accept(world.a, proposal.id, option.id)
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/disputes/{setup.case_id}", {"purpose": "agreed", "case": str(setup.case_id)})
    [attempt] = await attempts(world.a)
    assert attempt.amount == Decimal("1030.00")
    await deliver(client, "checkout.session.completed", stripe_fake.pay(attempt.checkout_session_id), account=account)
    await run_jobs()
    await run_jobs()
    # The credit note is the team's to record: the case waits for it, holding what it will credit.
    assert (await _case(world.a, setup.case_id)).state is DisputeState.AGREED
    invoice = await invoice_now(world.a, setup.invoice.id)
    assert invoice.open_amount == Decimal("100.00") and invoice.disputed_amount == Decimal("100.00")


async def test_another_buyer_sees_nothing_of_a_payment(client, world, stripe_fake, mail_dir):
    await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    other = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)})
    [attempt] = await attempts(world.a)
    client.cookies.clear()
    await signed_in(client, world.a, other)
    for path in (f"/portal/payments/{attempt.id}/done", f"/portal/payments/{attempt.id}/cancelled"):
        assert (await client.get(path)).status_code == 404
    # Nor can it pay the other buyer's agreed amount or instalment.
    for purpose in ("agreed", "instalment"):
        response = await press_pay(client, "/portal/invoices", {"purpose": purpose, "case": str(setup.case_id)})
        assert response.status_code == 404
    assert len(await attempts(world.a)) == 1


async def test_when_the_ledger_moved_a_new_press_charges_the_new_amount_and_closes_the_old_checkout(
    client, world, stripe_fake, mail_dir
):
    await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    fields = {"purpose": "invoice", "invoice": str(setup.invoice.id)}
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", fields)
    # Meanwhile the team records a bank transfer of 100.00 on the invoice.
    async with uow(world.a) as session:
        await ledger.record_payment(
            session,
            owner_of(world.a),
            buyer_id=setup.buyer_id,
            amount="100.00",
            currency="CNY",
            allocations=[ledger.PaymentAllocation(setup.invoice.id, "100.00")],
        )
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", fields)
    first, second = await attempts(world.a)
    assert (first.amount, second.amount) == (Decimal("830.00"), Decimal("730.00"))
    assert first.status is AttemptStatus.EXPIRED and second.status is AttemptStatus.OPEN
    assert stripe_fake.sessions[first.checkout_session_id]["status"] == "expired"


async def test_a_create_lost_on_the_network_is_sent_again_with_the_same_key(client, world, stripe_fake, mail_dir, monkeypatch):
    await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    real, keys = service.create_checkout, []

    async def flaky(tenant_id, attempt, label, email):
        keys.append(attempt.idempotency_key)
        if len(keys) == 1:
            raise stripe.APIConnectionError("connection reset by peer")
        return await real(tenant_id, attempt, label, email)

    monkeypatch.setattr(service, "create_checkout", flaky)
    fields = {"purpose": "invoice", "invoice": str(setup.invoice.id)}
    failed = await press_pay(client, f"/portal/invoices/{setup.invoice.id}", fields)
    assert failed.status_code == 502 and "nothing was charged" in failed.text
    [attempt] = await attempts(world.a)
    assert attempt.status is AttemptStatus.OPEN and attempt.checkout_session_id is None
    again = await press_pay(client, f"/portal/invoices/{setup.invoice.id}", fields)
    assert again.status_code == 303
    [attempt] = await attempts(world.a)
    assert keys == [attempt.idempotency_key] * 2 and attempt.checkout_session_id
    [sent] = stripe_fake.sent("POST", "/v1/checkout/sessions")
    assert sent.headers["idempotency-key"] == attempt.idempotency_key


async def test_a_create_stripe_refuses_fails_the_attempt_and_the_next_press_starts_anew(
    client, world, stripe_fake, mail_dir, monkeypatch
):
    await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    real = service.create_checkout

    async def refused_once(tenant_id, attempt, label, email):
        monkeypatch.setattr(service, "create_checkout", real)
        raise stripe.InvalidRequestError("This account cannot currently make live charges.", param=None, http_status=400)

    monkeypatch.setattr(service, "create_checkout", refused_once)
    fields = {"purpose": "invoice", "invoice": str(setup.invoice.id)}
    assert (await press_pay(client, f"/portal/invoices/{setup.invoice.id}", fields)).status_code == 502
    assert (await press_pay(client, f"/portal/invoices/{setup.invoice.id}", fields)).status_code == 303
    first, second = await attempts(world.a)
    assert first.status is AttemptStatus.FAILED and "cannot currently make live charges" in first.failure_message
    assert second.status is AttemptStatus.OPEN and second.checkout_session_id


async def test_paying_an_invoice_again_in_a_chosen_set_closes_its_own_checkout_first(client, world, stripe_fake, mail_dir):
    await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    second = await make_invoice(world.a, setup.buyer_id, currency="CNY")
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)})
    await press_pay(client, "/portal/invoices", {"purpose": "invoices", "invoice": [str(setup.invoice.id), str(second.id)]})
    first, both = await attempts(world.a)
    assert first.purpose is PaymentPurpose.UNDISPUTED and both.purpose is PaymentPurpose.INVOICES
    # The first page would pay the same invoice again: it is closed on Stripe before the second is offered.
    assert stripe_fake.sent("POST", f"/v1/checkout/sessions/{first.checkout_session_id}/expire")
    assert stripe_fake.sessions[first.checkout_session_id]["status"] == "expired"
    assert first.status is AttemptStatus.EXPIRED and both.status is AttemptStatus.OPEN


async def test_a_page_a_declined_card_left_open_is_closed_when_the_buyer_starts_again(client, world, stripe_fake, mail_dir):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    fields = {"purpose": "invoice", "invoice": str(setup.invoice.id)}
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", fields)
    [attempt] = await attempts(world.a)
    failed = {
        "id": "pi_declined_then_again",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "currency": "cny",
        "last_payment_error": {"message": "Your card was declined."},
        "metadata": {"accord_tenant_id": str(world.a.tenant_id), "accord_attempt_id": str(attempt.id)},
    }
    await deliver(client, "payment_intent.payment_failed", failed, account=account)
    await apply_events()
    # Stripe keeps that page open for another card; the buyer starts again from Accord instead.
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", fields)
    declined, again = await attempts(world.a)
    assert declined.id == attempt.id and again.status is AttemptStatus.OPEN
    assert stripe_fake.sent("POST", f"/v1/checkout/sessions/{declined.checkout_session_id}/expire")
    assert stripe_fake.sessions[declined.checkout_session_id]["status"] == "expired"
    assert declined.status is AttemptStatus.EXPIRED


async def _instalment_plan(world, stripe_fake, client):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a, disputed="1130.00")
    plan = [(date.today() + timedelta(days=30), "500.00"), (date.today() + timedelta(days=60), "630.00")]
    proposal, [option] = await propose(world.a, setup.case_id, OptionInput(kind="instalments", schedule=plan))
    await accept(world.a, proposal.id, option.id)
    async with uow(world.a) as session:
        await disputes.resolve_case(
            session, owner_of(world.a), setup.case_id, Resolution(outcome="invalid", root_cause_code="other")
        )
    await signed_in(client, world.a, setup)
    return account, setup


async def test_a_broken_plan_offers_no_instalment_to_pay(client, world, stripe_fake, mail_dir):
    _account, setup = await _instalment_plan(world, stripe_fake, client)
    # The escalation timers break the plan: the case goes back to review and holds its invoice again.
    async with uow(world.a) as session:
        case = await session.get(DisputeCase, (world.a.tenant_id, setup.case_id))
        case.plan_broken_at = utcnow()
        case.state, case.closed_at, case.outcome = DisputeState.UNDER_REVIEW, None, None
        await session.flush()
        await holds.rehold(session, [setup.invoice.id])
    page = await client.get("/portal/instalments")
    assert "Pay next instalment" not in page.text
    response = await press_pay(client, "/portal/invoices", {"purpose": "instalment", "case": str(setup.case_id)})
    assert response.status_code == 409 and "no longer in force" in response.text
    assert stripe_fake.sent("POST", "/v1/checkout/sessions") == [] and await attempts(world.a) == []


async def test_an_instalment_charges_only_what_the_invoices_still_have_open(client, world, stripe_fake, mail_dir):
    _account, setup = await _instalment_plan(world, stripe_fake, client)
    # The buyer paid 1,000.00 by transfer meanwhile: of the first instalment's 500.00, only 130.00 is still open.
    async with uow(world.a) as session:
        await ledger.record_payment(
            session,
            owner_of(world.a),
            buyer_id=setup.buyer_id,
            amount="1000.00",
            currency="CNY",
            allocations=[ledger.PaymentAllocation(setup.invoice.id, "1000.00")],
        )
    response = await press_pay(client, "/portal/instalments", {"purpose": "instalment", "case": str(setup.case_id)})
    assert response.status_code == 303
    [attempt] = await attempts(world.a)
    assert attempt.amount == Decimal("130.00")
    [sent] = stripe_fake.sent("POST", "/v1/checkout/sessions")
    assert sent.params["line_items"][0]["price_data"]["unit_amount"] == "13000"


async def test_an_old_checkout_paid_after_the_invoice_was_settled_by_hand_keeps_the_money_on_account(
    client, world, stripe_fake, mail_dir
):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)})
    [attempt] = await attempts(world.a)
    # Meanwhile the team records the whole invoice paid by bank transfer.
    async with uow(world.a) as session:
        await ledger.record_payment(
            session,
            owner_of(world.a),
            buyer_id=setup.buyer_id,
            amount="1130.00",
            currency="CNY",
            document_number="TRANSFER-1",
            allocations=[ledger.PaymentAllocation(setup.invoice.id, "1130.00")],
        )
    # Then the buyer pays the page still open in another tab: the 830.00 is recorded, all of it on account.
    paid = stripe_fake.pay(attempt.checkout_session_id)
    await deliver(client, "checkout.session.completed", paid, account=account)
    await apply_events()
    [card] = [e for e in await entries(world.a, setup.buyer_id) if e.document_number == paid["payment_intent"]]
    assert card.amount == Decimal("830.00") and card.unallocated_amount == Decimal("830.00")
    [attempt] = await attempts(world.a)
    assert attempt.status is AttemptStatus.PAID and attempt.ledger_entry_id == card.id
    assert (await invoice_now(world.a, setup.invoice.id)).status is InvoiceStatus.PAID


async def test_a_payment_event_without_the_connected_account_is_not_applied(client, world, stripe_fake, mail_dir):
    await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)})
    [attempt] = await attempts(world.a)
    # An event on the platform itself (no account), naming the tenant and the attempt in its metadata.
    paid = stripe_fake.pay(attempt.checkout_session_id)
    await deliver(client, "checkout.session.completed", paid, account=None)
    await apply_events()
    assert await entries(world.a, setup.buyer_id) == []
    [attempt] = await attempts(world.a)
    assert attempt.status is AttemptStatus.OPEN


async def test_an_undisputed_payment_never_lands_on_what_a_later_dispute_holds(client, world, stripe_fake, mail_dir):
    account = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)  # 1,130.00, of which 300.00 disputed: 830.00 payable
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)})
    [attempt] = await attempts(world.a)
    # Before the buyer pays, a second case holds 200.00 more of the invoice.
    await open_case(world.a, setup.buyer_id, [ItemInput(setup.invoice.id, amount="200.00")])
    paid = stripe_fake.pay(attempt.checkout_session_id)
    await deliver(client, "checkout.session.completed", paid, account=account)
    await apply_events()
    [card] = [e for e in await entries(world.a, setup.buyer_id) if e.document_number == paid["payment_intent"]]
    # 630.00 pays what no dispute holds; the 200.00 the buyer now contests is not paid by their card: it waits on account.
    assert card.amount == Decimal("830.00") and card.unallocated_amount == Decimal("200.00")
    invoice = await invoice_now(world.a, setup.invoice.id)
    assert invoice.open_amount == Decimal("500.00") and invoice.disputed_amount == Decimal("500.00")
