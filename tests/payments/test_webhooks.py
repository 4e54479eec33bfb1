"""The webhook endpoint: only genuine Stripe events are stored, each once, and handled once by a job."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from backend.config import get_settings
from backend.db.tenancy import TenantId
from backend.db.uow import global_unit_of_work, tenant_unit_of_work
from backend.jobs.models import OutboxJob
from backend.payments import events
from backend.payments.models import PaymentAccount, StripeEvent
from tests.disputes.helpers import uow
from tests.payments.helpers import connect_account, deliver
from tests.payments.stripe_fakes import WEBHOOK_SECRET, event_payload, signed

ENDPOINT = "/stripe/webhook"


async def _stored() -> int:
    async with global_unit_of_work() as session:
        return (await session.execute(select(func.count()).select_from(StripeEvent))).scalar_one()


async def test_a_forged_signature_is_refused_and_nothing_is_stored(client, stripe_fake):
    before = await _stored()
    payload = event_payload("payment_intent.succeeded", {"id": "pi_forged", "object": "payment_intent"})
    forged = await client.post(ENDPOINT, content=payload, headers=signed(payload, "whsec_someone_else"))
    missing = await client.post(ENDPOINT, content=payload, headers={"Content-Type": "application/json"})
    garbled = await client.post(ENDPOINT, content=payload, headers={"Stripe-Signature": "t=1,v1=abc"})
    # A genuine signature over another body does not carry over to this one.
    other = event_payload("payment_intent.succeeded", {"id": "pi_other", "object": "payment_intent"})
    swapped = await client.post(ENDPOINT, content=payload, headers=signed(other))
    for response in (forged, missing, garbled, swapped):
        assert response.status_code == 400, response.text
        assert "Stripe-Signature" in response.json()["field"]
    assert await _stored() == before


async def test_a_signature_older_than_five_minutes_is_refused(client, stripe_fake):
    before = await _stored()
    payload = event_payload("payment_intent.succeeded", {"id": "pi_old", "object": "payment_intent"})
    stale = await client.post(ENDPOINT, content=payload, headers=signed(payload, timestamp=int(time.time()) - 600))
    assert stale.status_code == 400
    assert await _stored() == before


async def test_without_a_signing_secret_the_endpoint_is_off(client, stripe_fake, monkeypatch):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "")
    get_settings.cache_clear()
    before = await _stored()
    payload = event_payload("payment_intent.succeeded", {"id": "pi_any", "object": "payment_intent"})
    response = await client.post(ENDPOINT, content=payload, headers=signed(payload))
    assert response.status_code == 404
    assert await _stored() == before


async def test_an_event_of_no_tenant_is_kept_as_handled_and_enqueues_nothing(client, stripe_fake):
    payload = event_payload("payment_intent.succeeded", {"id": "pi_stranger", "object": "payment_intent"}, account="acct_nobody")
    response = await client.post(ENDPOINT, content=payload, headers=signed(payload))
    assert response.status_code == 200 and response.json()["status"] == "stored"
    again = await client.post(ENDPOINT, content=payload, headers=signed(payload))
    assert again.json()["status"] == "duplicate"
    event_id = json.loads(payload)["id"]
    async with global_unit_of_work() as session:
        event = await session.get(StripeEvent, event_id)
        assert event.routed_tenant_id is None and event.outcome == "no tenant" and event.handled_at is not None


@pytest.mark.parametrize("body", [b"not json", b'{"object": "event"}', b'{"id": "evt_1", "object": "charge"}'])
async def test_a_signed_body_that_is_not_an_event_is_refused(client, stripe_fake, body):
    response = await client.post(ENDPOINT, content=body, headers=signed(body))
    assert response.status_code == 400


async def test_the_platforms_and_the_connected_accounts_secrets_are_both_accepted(client, stripe_fake, monkeypatch):
    # Stripe signs account events and Connect events with the secrets of two registrations of this URL.
    connect_secret = "whsec_connect_" + "b" * 30
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"{WEBHOOK_SECRET}, {connect_secret}")
    get_settings.cache_clear()
    for secret in (WEBHOOK_SECRET, connect_secret):
        payload = event_payload("payment_intent.succeeded", {"id": "pi_x", "object": "payment_intent"}, account="acct_nobody")
        response = await client.post(ENDPOINT, content=payload, headers=signed(payload, secret))
        assert response.status_code == 200, response.text
    payload = event_payload("payment_intent.succeeded", {"id": "pi_y", "object": "payment_intent"})
    refused = await client.post(ENDPOINT, content=payload, headers=signed(payload, "whsec_third_" + "c" * 30))
    assert refused.status_code == 400


async def test_an_event_whose_job_was_lost_is_handled_when_the_sweep_records_it_again(client, stripe_fake, world):
    from datetime import timedelta

    from sqlalchemy import delete

    from backend.db.base import utcnow
    from backend.db.uow import all_tenants_unit_of_work
    from tests.payments.helpers import connect_account, deliver
    from tests.test_team import run_jobs

    account = await connect_account(world.a, stripe_fake)
    event_id, answer = await deliver(
        client, "account.updated", {"id": account, "object": "account", "charges_enabled": False}, account=account
    )
    assert answer["status"] == "stored"
    # The job is lost (the broker dropped it, or it failed for good); Stripe's redelivery is a duplicate.
    async with all_tenants_unit_of_work("test: lose the event's job") as session:
        await session.execute(delete(OutboxJob).where(OutboxJob.actor == "payments.handle_event"))
    async with all_tenants_unit_of_work("test: too early to record again") as session:
        assert await events.redrive_unhandled(session, utcnow()) == 0
    async with all_tenants_unit_of_work("test: the sweep") as session:
        assert await events.redrive_unhandled(session, utcnow() + timedelta(minutes=20)) == 1
    await run_jobs()
    async with global_unit_of_work() as session:
        event = await session.get(StripeEvent, event_id)
        assert event.handled_at is not None and event.outcome != "ignored"
    async with all_tenants_unit_of_work("test: nothing left to record") as session:
        assert await events.redrive_unhandled(session, utcnow() + timedelta(minutes=20)) == 0


async def test_a_job_in_another_tenants_unit_of_work_leaves_the_event_alone(client, stripe_fake, world):
    account = await connect_account(world.a, stripe_fake, charges_enabled=False)
    event_id, _answer = await deliver(
        client, "account.updated", {"id": account, "object": "account", "charges_enabled": True}, account=account
    )
    async with tenant_unit_of_work(TenantId(world.b.tenant_id)) as session:
        assert await events.handle(session, event_id) is None
    async with global_unit_of_work() as session:
        stored = await session.get(StripeEvent, event_id)
    assert stored.routed_tenant_id == world.a.tenant_id and stored.handled_at is None and stored.outcome is None
    async with uow(world.a) as session:
        assert not (await session.scalars(select(PaymentAccount))).one().charges_enabled


async def test_a_connected_accounts_event_naming_another_tenant_is_not_routed(client, stripe_fake, world):
    account = await connect_account(world.a, stripe_fake)
    obj = {"id": "pi_someone_elses", "object": "payment_intent", "metadata": {"accord_tenant_id": str(world.b.tenant_id)}}
    event_id, answer = await deliver(client, "payment_intent.succeeded", obj, account=account)
    assert answer["status"] == "stored"
    async with global_unit_of_work() as session:
        stored = await session.get(StripeEvent, event_id)
    assert stored.routed_tenant_id is None and stored.outcome == "no tenant" and stored.handled_at is not None
