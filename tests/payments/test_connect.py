"""Connecting the supplier's Stripe account: onboarding through Stripe, an existing account checked
with Stripe, one account per organisation, account.updated in order, disconnecting."""

from __future__ import annotations

from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.db.uow import global_unit_of_work
from backend.invoices.models import EntryKind
from backend.payments import connect
from backend.payments.models import AttemptStatus, PaymentAccount
from backend.payments.repository import StripeEventRepository
from tests.conftest import CSRF_INPUT, sign_in
from tests.disputes.helpers import uow
from tests.factories import owner_of
from tests.payments.helpers import (
    apply_events,
    attempts,
    connect_account,
    deliver,
    disputed_invoice,
    entries,
    press_pay,
    signed_in,
)


async def _account(supplier) -> PaymentAccount | None:
    async with uow(supplier) as session:
        return (await session.scalars(select(PaymentAccount))).first()


async def _post(client, path: str, data: dict | None = None):
    page = await client.get("/console/payments")
    token = CSRF_INPUT.search(page.text).group(1)
    return await client.post(path, data={**(data or {}), "_csrf_token": token}, follow_redirects=False)


async def test_an_owner_connects_through_stripe_onboarding_and_comes_back(client, world, stripe_fake):
    await sign_in(client, world.a.finance)
    page = await client.get("/console/payments")
    assert "Connect with Stripe" in page.text
    assert stripe_fake.base in page.headers["content-security-policy"]
    response = await _post(client, "/console/payments/connect")
    assert response.status_code == 303
    [created] = stripe_fake.sent("POST", "/v1/accounts")
    assert created.headers["idempotency-key"] == f"accord-connect-{world.a.tenant_id}"
    assert created.params["metadata"] == {"accord_tenant_id": str(world.a.tenant_id)}
    [link] = stripe_fake.sent("POST", "/v1/account_links")
    account_id = link.params["account"]
    assert response.headers["location"] == f"{stripe_fake.base}/connect/onboarding/{account_id}"
    assert link.params["return_url"].endswith("/console/payments/connect/return")
    assert not (await _account(world.a)).charges_enabled

    # Onboarding done on Stripe: back on the return address, Accord asks Stripe what the account may do.
    stripe_fake.accounts[account_id]["charges_enabled"] = True
    back = await client.get("/console/payments/connect/return", follow_redirects=False)
    assert back.status_code == 303
    assert (await _account(world.a)).charges_enabled
    page = await client.get("/console/payments")
    assert account_id in page.text
    async with uow(world.a) as session:
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert "payments.account_connected" in actions


async def test_an_account_is_checked_with_stripe_and_serves_one_organisation(client, world, stripe_fake):
    account_id = await connect_account(world.a, stripe_fake)
    await sign_in(client, world.b.finance)
    taken = await _post(client, "/console/payments/connect-existing", {"account_id": account_id})
    assert taken.status_code == 409 and "already connected to another organisation" in taken.text
    unknown = await _post(client, "/console/payments/connect-existing", {"account_id": "acct_nobodyknows"})
    assert unknown.status_code == 422 and "Stripe does not know this account" in unknown.text
    garbled = await _post(client, "/console/payments/connect-existing", {"account_id": "not an id"})
    assert garbled.status_code == 422 and 'id="account_id-error"' in garbled.text
    assert await _account(world.b) is None


async def test_a_collaborator_cannot_connect_or_disconnect(client, world, stripe_fake):
    account_id = await connect_account(world.a, stripe_fake)
    await sign_in(client, world.a.collaborator)
    page = await client.get("/console/payments")
    assert page.status_code == 200 and "Disconnect" not in page.text
    for path, data in (
        ("/console/payments/disconnect", {}),
        ("/console/payments/connect-existing", {"account_id": "acct_other1234"}),
    ):
        response = await _post(client, path, data)
        assert response.status_code in (403, 404)
    assert (await _account(world.a)).stripe_account_id == account_id


async def test_account_updated_keeps_charges_enabled_in_stripes_order(client, world, stripe_fake):
    account_id = await connect_account(world.a, stripe_fake)
    await deliver(
        client,
        "account.updated",
        {"id": account_id, "object": "account", "charges_enabled": False},
        account=account_id,
        created=2000,
    )
    await deliver(
        client,
        "account.updated",
        {"id": account_id, "object": "account", "charges_enabled": True},
        account=account_id,
        created=1000,
    )
    await apply_events()
    assert not (await _account(world.a)).charges_enabled  # the older event, delivered last, changed nothing
    await deliver(
        client,
        "account.updated",
        {"id": account_id, "object": "account", "charges_enabled": True},
        account=account_id,
        created=3000,
    )
    await apply_events()
    assert (await _account(world.a)).charges_enabled


async def test_an_owner_disconnects_and_open_checkouts_are_closed(client, world, stripe_fake):
    await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)})
    await sign_in(client, world.a.finance)
    response = await _post(client, "/console/payments/disconnect")
    assert response.status_code == 303
    assert await _account(world.a) is None
    [attempt] = await attempts(world.a)
    assert attempt.status is AttemptStatus.EXPIRED
    assert stripe_fake.sessions[attempt.checkout_session_id]["status"] == "expired"
    page = await client.get("/console/payments")
    assert "Connect with Stripe" in page.text
    # The buyer is told payments are not available, and nothing can be started.
    invoice_page = await client.get(f"/portal/invoices/{setup.invoice.id}")
    assert "does not take online payments yet" in invoice_page.text


async def test_another_organisation_cannot_take_an_account_over_even_after_a_disconnect(client, world, stripe_fake):
    # A's account, made outside Accord (no organisation in its metadata), connected then disconnected by A.
    account_id = await connect_account(world.a, stripe_fake)
    async with uow(world.a) as session:
        await connect.disconnect(session, owner_of(world.a))
    # An account Accord made for A names A: B is refused it too.
    made_for_a = "acct_madeforaaa1"
    stripe_fake.add_account(made_for_a, metadata={"accord_tenant_id": str(world.a.tenant_id)})
    await sign_in(client, world.b.finance)
    for typed in (account_id, made_for_a):
        taken = await _post(client, "/console/payments/connect-existing", {"account_id": typed})
        assert taken.status_code == 409 and "already connected to another organisation" in taken.text, typed
    assert await _account(world.b) is None
    async with uow(world.b) as session:
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert "payments.account_connected" not in actions
    # A may connect its own account again.
    async with uow(world.a) as session:
        await connect.connect_existing(session, owner_of(world.a), account_id)
    assert (await _account(world.a)).stripe_account_id == account_id


async def test_a_payment_completed_after_the_disconnect_still_reaches_its_organisation(client, world, stripe_fake, mail_dir):
    account_id = await connect_account(world.a, stripe_fake)
    setup = await disputed_invoice(world.a)
    await signed_in(client, world.a, setup)
    await press_pay(client, f"/portal/invoices/{setup.invoice.id}", {"purpose": "invoice", "invoice": str(setup.invoice.id)})
    [attempt] = await attempts(world.a)
    paid = stripe_fake.pay(attempt.checkout_session_id)  # the buyer pays a moment before the owner disconnects
    async with uow(world.a) as session:
        await connect.disconnect(session, owner_of(world.a))
    event_id, answer = await deliver(client, "checkout.session.completed", paid, account=account_id)
    assert answer["status"] == "stored"
    async with global_unit_of_work() as session:
        stored = await StripeEventRepository(session).get(event_id)
    assert stored.routed_tenant_id == world.a.tenant_id
    await apply_events()
    payments = [e for e in await entries(world.a, setup.buyer_id) if e.kind is EntryKind.PAYMENT]
    assert [p.document_number for p in payments] == [paid["payment_intent"]]


async def test_the_account_is_kept_when_stripe_fails_the_onboarding_link(client, world, stripe_fake, monkeypatch):
    await sign_in(client, world.a.finance)
    real = stripe_fake._own

    def link_refused_once(request, raw):
        if request.path == "/v1/account_links":
            monkeypatch.setattr(stripe_fake, "_own", real)
            return 400, {"error": {"type": "invalid_request_error", "message": "Stripe is having a moment."}}
        return real(request, raw)

    monkeypatch.setattr(stripe_fake, "_own", link_refused_once)
    failed = await _post(client, "/console/payments/connect")
    assert failed.status_code == 502
    assert len(stripe_fake.sent("POST", "/v1/accounts")) == 1
    account_id = (await _account(world.a)).stripe_account_id  # kept, though the link failed
    again = await _post(client, "/console/payments/connect")
    assert again.status_code == 303 and again.headers["location"].endswith(f"/connect/onboarding/{account_id}")
    assert len(stripe_fake.sent("POST", "/v1/accounts")) == 1


async def test_the_refresh_address_creates_no_account_on_a_get(client, world, stripe_fake):
    await sign_in(client, world.a.finance)
    response = await client.get("/console/payments/connect/refresh", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("/console/payments")
    assert stripe_fake.sent("POST", "/v1/accounts") == [] and await _account(world.a) is None
    # With an account already made, it gives a new onboarding link for that account.
    await _post(client, "/console/payments/connect")
    account_id = (await _account(world.a)).stripe_account_id
    response = await client.get("/console/payments/connect/refresh", follow_redirects=False)
    assert response.headers["location"] == f"{stripe_fake.base}/connect/onboarding/{account_id}"
    assert len(stripe_fake.sent("POST", "/v1/accounts")) == 1
