"""Tenants' subscriptions to Accord: Checkout and the billing portal, the plan kept from Stripe's webhooks
(once, in order), and limits that refuse growth without touching what is there."""

from __future__ import annotations

import html
import json
import secrets
import time
from dataclasses import replace

import pytest
import stripe
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.auth.principal import PrincipalKind
from backend.buyers import service as buyers
from backend.buyers.service import BuyerInput
from backend.db.tenancy import TenantId
from backend.db.uow import global_unit_of_work, tenant_unit_of_work
from backend.disputes.service import ItemInput
from backend.payments import events, plans, subscriptions
from backend.payments.models import StripeEvent, TenantSubscription
from backend.payments.subscriptions import LimitReached
from backend.tenants.models import Role
from tests.conftest import csrf_token, sign_in
from tests.disputes.helpers import open_case, person, uow
from tests.factories import make_buyer, make_invoice, owner_of
from tests.payments.stripe_fakes import event_payload, signed
from tests.test_team import run_jobs

ENDPOINT = "/stripe/webhook"


def _create_prices(fake) -> dict[str, str]:
    """The operator's Stripe prices, as Accord's plan table names them (lookup key, CNY, monthly)."""
    ids = {}
    for plan in plans.PAID_PLANS:
        price_id = f"price_{plan.code}_{secrets.token_hex(4)}"
        fake.prices[price_id] = {
            "id": price_id,
            "object": "price",
            "active": True,
            "currency": "cny",
            "unit_amount": plan.unit_amount,
            "lookup_key": plan.lookup_key,
            "recurring": {"interval": "month"},
        }
        ids[plan.code] = price_id
    return ids


def _subscription(tenant_id, *, status="active", plan="growth", sub_id=None, customer=None, period_end=None, **extra) -> dict:
    lookup_key = plans.PLANS[plan].lookup_key
    return {
        "id": sub_id or "sub_" + secrets.token_hex(6),
        "object": "subscription",
        "customer": customer or "cus_" + secrets.token_hex(6),
        "status": status,
        "cancel_at_period_end": False,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_" + secrets.token_hex(4),
                    "price": {"id": "price_x", "object": "price", "lookup_key": lookup_key},
                    "current_period_end": period_end or int(time.time()) + 30 * 86400,
                }
            ],
        },
        "metadata": {"accord_tenant_id": str(tenant_id), "accord_plan": plan},
        **extra,
    }


async def _deliver(client, type_: str, obj: dict, *, created: int, account: str | None = None) -> bytes:
    """Stripe sends the event; its job's work is done at once, in the tenant the endpoint routed it to
    (the job is the same call: `workers.payments.handle_event`; the first test runs the real jobs)."""
    payload = event_payload(type_, obj, created=created, account=account)
    response = await client.post(ENDPOINT, content=payload, headers=signed(payload))
    assert response.status_code == 200, response.text
    event_id = json.loads(payload)["id"]
    async with global_unit_of_work() as session:
        tenant_id = (await session.get(StripeEvent, event_id)).routed_tenant_id
    if tenant_id is not None:
        async with tenant_unit_of_work(TenantId(tenant_id)) as session:
            await events.handle(session, event_id)
    return payload


async def _row(supplier) -> TenantSubscription | None:
    async with uow(supplier) as session:
        return (await session.scalars(select(TenantSubscription))).first()


async def _trail(supplier, action: str) -> list[AuditEvent]:
    async with uow(supplier) as session:
        return list((await session.scalars(select(AuditEvent).where(AuditEvent.action == action))).all())


async def _post(client, path: str, data: dict | None = None):
    token = await csrf_token(client, "/console/billing")
    return await client.post(path, data={**(data or {}), "_csrf_token": token}, follow_redirects=False)


async def test_subscribing_sends_checkout_with_the_plans_price_the_tenants_customer_and_a_key(client, world, stripe_fake):
    prices = _create_prices(stripe_fake)
    await sign_in(client, world.a.finance)
    page = await client.get("/console/billing")
    assert page.status_code == 200 and "Founding" in page.text and "Choose Growth" in page.text
    assert "https://checkout.stripe.com" in page.headers["content-security-policy"]
    # A founding tenant (no subscription row) has no limits, and no banner.
    assert (await client.get("/console/billing/notice")).status_code == 204

    response = await _post(client, "/console/billing/subscribe", {"plan": "growth"})
    assert response.status_code == 303
    [sent] = stripe_fake.sent("POST", "/v1/checkout/sessions")
    assert response.headers["location"] == stripe_fake.sessions[next(iter(stripe_fake.sessions))]["url"]
    row = await _row(world.a)
    assert row.stripe_customer_id and row.plan == "founding"  # the plan comes from Stripe's events, not the click
    assert sent.params["mode"] == "subscription"
    assert sent.params["customer"] == row.stripe_customer_id
    assert sent.params["line_items"] == [{"price": prices["growth"], "quantity": "1"}]
    assert sent.params["subscription_data"]["metadata"]["accord_tenant_id"] == str(world.a.tenant_id)
    assert sent.params["success_url"].endswith("/console/billing?checkout=done")
    assert sent.headers["idempotency-key"].startswith(f"accord-subscribe-{world.a.tenant_id}-growth")
    assert "stripe-account" not in sent.headers  # Accord's own account, never the supplier's

    # The customer is Accord's, on the platform account, and names the tenant.
    customer = stripe.StripeClient("sk_test_accord", base_addresses={"api": stripe_fake.base}).v1.customers.retrieve(
        row.stripe_customer_id
    )
    assert customer.metadata["accord_tenant_id"] == str(world.a.tenant_id)

    # A second click reuses the same session and the same customer.
    again = await _post(client, "/console/billing/subscribe", {"plan": "growth"})
    assert again.headers["location"] == response.headers["location"]
    assert len(stripe_fake.sessions) == 1 and (await _row(world.a)).stripe_customer_id == row.stripe_customer_id

    # Manage billing: a portal session for that customer, returning to the billing page.
    portal = await _post(client, "/console/billing/portal")
    assert portal.status_code == 303 and "/billing/bps_" in portal.headers["location"]
    [portal_sent] = stripe_fake.sent("POST", "/v1/billing_portal/sessions")
    assert portal_sent.params["customer"] == row.stripe_customer_id
    assert portal_sent.params["return_url"].endswith("/console/billing")

    # Another tenant's owner sees only their own billing, and subscribes as their own customer.
    other = type(client)(app=client.app, base_url="https://testserver.local")
    async with other:
        await sign_in(other, world.b.finance)
        theirs = await other.get("/console/billing")
        assert "Founding" in theirs.text and row.stripe_customer_id not in theirs.text
        await _post(other, "/console/billing/subscribe", {"plan": "starter"})
    b_row = await _row(world.b)
    assert b_row.stripe_customer_id != row.stripe_customer_id
    assert stripe_fake.sent("POST", "/v1/checkout/sessions")[-1].params["customer"] == b_row.stripe_customer_id
    assert (await _row(world.a)).stripe_customer_id == row.stripe_customer_id


async def test_a_bad_plan_or_a_missing_price_is_refused_and_nothing_is_sent(client, world, stripe_fake):
    await sign_in(client, world.a.finance)
    bad = await _post(client, "/console/billing/subscribe", {"plan": "platinum"})
    assert bad.status_code == 422 and "Choose one of the plans offered" in bad.text
    unpriced = await _post(client, "/console/billing/subscribe", {"plan": "scale"})  # no price created on Stripe
    assert unpriced.status_code == 503 and "not set up on Stripe" in unpriced.text
    assert stripe_fake.sent("POST", "/v1/checkout/sessions") == []
    assert await _row(world.a) is None


async def test_updated_before_created_ends_in_the_updated_state_and_a_duplicate_is_applied_once(client, world, stripe_fake):
    now = int(time.time())
    subscription = _subscription(world.a.tenant_id, status="incomplete")
    active = {**subscription, "status": "active"}
    # The first through the real job (webhook → outbox → worker), the rest the same call made at once.
    updated = event_payload("customer.subscription.updated", active, created=now)
    assert (await client.post(ENDPOINT, content=updated, headers=signed(updated))).json()["status"] == "stored"
    await run_jobs()
    await _deliver(client, "customer.subscription.created", subscription, created=now - 5)
    row = await _row(world.a)
    assert (row.plan, row.status, row.stripe_subscription_id) == ("growth", "active", subscription["id"])
    assert row.stripe_customer_id == subscription["customer"]
    assert row.current_period_end is not None
    assert plans.effective_plan(row.plan, row.status) is plans.PLANS["growth"]

    again = await client.post(ENDPOINT, content=updated, headers=signed(updated))
    assert again.json()["status"] == "duplicate"
    changes = await _trail(world.a, "subscription.changed")
    assert len(changes) == 1 and changes[0].actor_label == "stripe" and changes[0].after["status"] == "active"

    # Later events now route by the customer alone; cancelling at the period's end is kept.
    later = {**active, "metadata": {}, "cancel_at_period_end": True}
    await _deliver(client, "customer.subscription.updated", later, created=now + 10)
    assert (await _row(world.a)).cancel_at_period_end is True
    # The other tenant has heard nothing.
    assert await _row(world.b) is None


async def test_invoice_events_record_the_last_outcome_in_order_and_a_failure_is_told(client, world, stripe_fake):
    now = int(time.time())
    subscription = _subscription(world.a.tenant_id, status="active")
    await _deliver(client, "customer.subscription.created", subscription, created=now - 100)
    invoice = {"id": "in_1", "object": "invoice", "customer": subscription["customer"], "amount_due": 299000, "currency": "cny"}
    await _deliver(client, "invoice.payment_failed", invoice, created=now)
    await _deliver(client, "customer.subscription.updated", {**subscription, "status": "past_due"}, created=now + 1)
    await sign_in(client, world.a.finance)
    banner = await client.get("/console/billing/notice")
    assert banner.status_code == 200 and "The last payment for your Accord subscription failed" in banner.text
    assert "Growth" in banner.text

    await _deliver(client, "invoice.paid", {**invoice, "amount_paid": 299000}, created=now + 20)
    await _deliver(client, "invoice.payment_failed", invoice, created=now + 10)  # late: older than the payment
    row = await _row(world.a)
    assert row.last_invoice_status == "paid"
    assert [e.after["last_invoice_status"] for e in await _trail(world.a, "subscription.invoice_paid")] == ["paid"]


async def test_a_supplier_accounts_own_subscription_events_change_nothing(client, world, stripe_fake):
    from backend.payments.models import PaymentAccount

    async with tenant_unit_of_work(world.a.tenant_id) as session:
        session.add(PaymentAccount(stripe_account_id="acct_supplier_a", charges_enabled=True, connected_by="test"))
    subscription = _subscription(world.a.tenant_id, plan="scale")
    await _deliver(client, "customer.subscription.created", subscription, created=int(time.time()), account="acct_supplier_a")
    assert await _row(world.a) is None


async def test_a_deleted_subscription_falls_back_to_the_trials_limits_and_nothing_is_lost(client, world, stripe_fake):
    now = int(time.time())
    subscription = _subscription(world.a.tenant_id, status="active", plan="starter")
    await _deliver(client, "customer.subscription.created", subscription, created=now - 50)
    kept = [await make_buyer(world.a, f"Buyer {n}") for n in range(plans.TRIAL.buyers + 1)]
    await _deliver(client, "customer.subscription.deleted", {**subscription, "status": "canceled"}, created=now)
    row = await _row(world.a)
    assert (row.plan, row.status) == ("starter", "canceled")
    assert plans.effective_plan(row.plan, row.status) is plans.TRIAL

    await sign_in(client, world.a.finance)
    listed = await client.get("/api/v1/buyers", params={"limit": 100}, headers={"Authorization": f"Bearer {world.a.api_key}"})
    assert listed.status_code == 200, listed.text
    # Every buyer is still there, readable and editable.
    async with uow(world.a) as session:
        edited = await buyers.update_buyer(
            session,
            owner_of(world.a),
            kept[0],
            BuyerInput(reference="KEEP-1", legal_name="Still editable Ltd", country="CN", currency="CNY", payment_terms_days=45),
        )
    assert edited.legal_name == "Still editable Ltd"
    page = await client.get(f"/console/buyers/{kept[-1]}")
    assert page.status_code == 200

    # Only growth is refused: in the API (409 naming the limit) and on the page, in place.
    refused = await client.post(
        "/api/v1/buyers",
        json={"reference": "NEW-1", "legal_name": "One Too Many Ltd", "country": "CN", "currency": "CNY"},
        headers={"Authorization": f"Bearer {world.a.api_key}"},
    )
    assert refused.status_code == 409 and refused.json()["field"] == "plan"
    assert "allows 15 buyers" in refused.json()["detail"] and "Upgrade" in refused.json()["detail"]
    form = await client.post(
        "/console/buyers",
        data={
            "reference": "NEW-2",
            "legal_name": "One Too Many Ltd",
            "country": "CN",
            "currency": "CNY",
            "payment_terms_days": "30",
            "_csrf_token": await csrf_token(client, "/console/buyers"),
        },
    )
    assert form.status_code == 422 and "allows 15 buyers" in form.text
    async with uow(world.a) as session:
        total, _rows = await buyers.list_buyers(session, owner_of(world.a), limit=1)
    assert total == len(kept)

    # The banner names the limit and what to do; the billing page shows the ended subscription.
    banner = await client.get("/console/billing/notice")
    told = html.unescape(banner.text)
    assert "You have 16 buyers, more than the Trial plan's 15" in told and "upgrade the plan" in told
    assert "Your Starter subscription has ended" in told
    home = await client.get("/console")
    assert 'hx-get="/console/billing/notice"' in home.text
    billing = await client.get("/console/billing")
    assert "Cancelled" in billing.text and "over the limit" in billing.text


async def test_on_the_trial_the_team_cannot_register_more_cases_a_month_than_it_allows(client, world):
    async with uow(world.a) as session:
        await subscriptions.start_trial(session, owner_of(world.a))
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    for _n in range(plans.TRIAL.disputes):
        await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="10.00")])
    with pytest.raises(LimitReached) as refused:
        await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="10.00")])
    assert refused.value.field == "plan" and refused.value.status_code == 409
    # On the page the refusal is shown in place, and no case is kept.
    await sign_in(client, world.a.finance)
    form = await client.post(
        "/console/disputes/new",
        files={
            "_csrf_token": (None, await csrf_token(client, f"/console/disputes/new?buyer_id={buyer_id}")),
            "buyer_id": (None, str(buyer_id)),
            "reason_code": (None, "quality"),
            "description": (None, "One case too many this month"),
            "channel": (None, "email"),
            f"whole.{invoice.id}": (None, "1"),
            f"amount.{invoice.id}": (None, "10.00"),
        },
    )
    assert form.status_code == 422 and "allows 20 new dispute cases a month" in form.text
    # A buyer's own dispute and Stripe's chargeback are never refused (they count all the same).
    async with uow(world.a) as session:
        contact = replace(owner_of(world.a), kind=PrincipalKind.BUYER_CONTACT, role=Role.VIEWER, buyer_id=buyer_id)
        await subscriptions.check_room(session, contact, "disputes")
        meters = {m.limit: m for m in (await subscriptions.billing(session)).meters}
    assert meters[plans.Limit.DISPUTES].used == plans.TRIAL.disputes and meters[plans.Limit.DISPUTES].state == "at"

    # Inviting is refused at the trial's team size too (members and pending invitations count).
    invited = 0
    async with uow(world.a) as session:
        while (await subscriptions.billing(session)).meters[0].state != "at":
            await _invite(session, world.a, f"colleague{invited}@example.com")
            invited += 1
    async with uow(world.a) as session:
        with pytest.raises(LimitReached):
            await _invite(session, world.a, "one.more@example.com")


async def _invite(session, supplier, address: str):
    from backend.tenants import service as tenants

    return await tenants.invite_member(session, owner_of(supplier), email=address, role="viewer")


async def test_only_owners_and_administrators_see_billing_or_subscribe(client, world, stripe_fake):
    _create_prices(stripe_fake)
    await sign_in(client, world.a.collaborator)
    page = await client.get("/console/billing")
    assert page.status_code == 403
    home = await client.get("/console")
    assert 'href="/console/billing"' not in home.text
    token = await csrf_token(client, "/console")
    for path, data in (("/console/billing/subscribe", {"plan": "growth"}), ("/console/billing/portal", {})):
        response = await client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403
    assert stripe_fake.sent("POST", "/v1/checkout/sessions") == [] and await _row(world.a) is None
    async with uow(world.a) as session:
        with pytest.raises(Exception) as denied:
            await subscriptions.start_checkout(session, person(world.a, Role.COLLECTOR), "growth")
    assert getattr(denied.value, "status_code", None) == 403


async def test_without_stripe_subscribing_is_refused_clearly(client, world, monkeypatch):
    from backend.config import get_settings

    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    await sign_in(client, world.a.finance)
    page = await client.get("/console/billing")
    assert "Online billing is not set up" in page.text and "disabled" in page.text
    response = await _post(client, "/console/billing/subscribe", {"plan": "growth"})
    assert response.status_code == 503 and "Online payments are not set up" in response.text
    assert await _row(world.a) is None


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_the_billing_page_reads_in_both_languages(client, world, language):
    await sign_in(client, world.a.finance)
    await client.post("/language", data={"language": language, "_csrf_token": await csrf_token(client, "/console")})
    page = await client.get("/console/billing")
    assert page.status_code == 200 and f'lang="{language}"' in page.text
    assert "¥2,990.00" in page.text  # the plans' prices, in yuan, written the reader's way


async def test_when_stripe_cannot_be_reached_subscribing_is_refused_and_nothing_is_kept(client, world, stripe_fake):
    _create_prices(stripe_fake)
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/billing")
    stripe_fake.stop()
    response = await client.post(
        "/console/billing/subscribe", data={"plan": "growth", "_csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 502 and "Stripe did not accept the request" in html.unescape(response.text)
    assert await _row(world.a) is None


async def test_a_changed_address_gets_a_new_subscribe_key_so_stripe_does_not_refuse_it(client, world, stripe_fake, monkeypatch):
    from backend.config import get_settings

    _create_prices(stripe_fake)
    await sign_in(client, world.a.finance)
    await _post(client, "/console/billing/subscribe", {"plan": "growth"})
    [first] = stripe_fake.sent("POST", "/v1/checkout/sessions")
    # Accord moved to another address: Stripe would refuse the old key with new parameters for a day.
    monkeypatch.setenv("ACCORD_BASE_URL", "https://accord.example.net")
    get_settings.cache_clear()
    moved = await _post(client, "/console/billing/subscribe", {"plan": "growth"})
    assert moved.status_code == 303
    first, second = stripe_fake.sent("POST", "/v1/checkout/sessions")
    assert second.params["success_url"].startswith("https://accord.example.net/")
    assert second.headers["idempotency-key"] != first.headers["idempotency-key"]
    assert second.headers["idempotency-key"].startswith(f"accord-subscribe-{world.a.tenant_id}-growth")
