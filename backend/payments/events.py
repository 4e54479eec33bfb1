"""Stripe webhook events: verified on the raw body, stored once by their Stripe id, handled once by a job.

Stripe sends an event late, twice, or before the one that logically precedes it. So: the signature is
checked with Stripe's scheme and its default 300-second tolerance; the event is stored with its id as
primary key and a job is recorded for it in the same transaction, only when it is new; the job marks it
handled. Handlers work from the full object in the event and compare Stripe's `created` time with the
last one they applied, so an older event arriving after a newer one changes nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal, PrincipalKind
from backend.config import get_settings
from backend.db.base import utcnow
from backend.db.tenancy import TenantId, current_tenant
from backend.db.uow import all_tenants_unit_of_work, global_unit_of_work, tenant_unit_of_work
from backend.errors import DomainError, NotFound
from backend.i18n import _
from backend.jobs import service as jobs
from backend.payments.repository import RoutingRepository, StripeEventRepository
from backend.tenants.models import Role

log = logging.getLogger("accord.payments")

# Metadata key Accord puts on every object it creates on Stripe, naming the tenant it is for.
TENANT_METADATA = "accord_tenant_id"


class WebhookRefused(DomainError):
    """The request is not a genuine Stripe event (signature missing, wrong, stale, or a body that is not an event)."""

    status_code = 400


@dataclass(frozen=True)
class Received:
    event_id: str
    new: bool
    tenant_id: uuid.UUID | None


def stripe_principal(tenant_id: TenantId) -> Principal:
    """Stripe, acting through a verified webhook event: records payments and refunds, opens card-dispute cases."""
    return Principal(
        kind=PrincipalKind.JOB,
        id=uuid.UUID(int=0),
        tenant_id=tenant_id,
        role=Role.COLLECTOR,
        label="stripe",
        display_name="Stripe",
    )


def webhook_secrets() -> list[str]:
    """The signing secrets this endpoint accepts. Stripe signs the platform's own events (subscriptions)
    and its connected accounts' events (buyers' payments, chargebacks) with the secrets of two endpoint
    registrations, both pointed at this one URL: STRIPE_WEBHOOK_SECRET lists them, comma-separated."""
    return [part.strip() for part in (get_settings().stripe_webhook_secret or "").split(",") if part.strip()]


def _verified(payload: bytes, signature: str | None) -> dict:
    secrets = webhook_secrets()
    if not secrets:
        # An empty signing secret turns the endpoint off; it never means "accept everything".
        raise NotFound(_("Not found."))
    if not signature:
        raise WebhookRefused(_("The Stripe-Signature header is missing."), field="Stripe-Signature")
    try:
        text = payload.decode("utf-8")
        if not any(_signed_with(text, signature, secret) for secret in secrets):
            raise stripe.SignatureVerificationError("no secret matches", signature)
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
        raise WebhookRefused(_("The Stripe signature does not match this payload."), field="Stripe-Signature") from None
    if not isinstance(event, dict) or event.get("object") != "event" or not isinstance(event.get("id"), str):
        raise WebhookRefused(_("The payload is not a Stripe event."), field="body")
    if not isinstance(event.get("data"), dict) or not isinstance(event["data"].get("object"), dict):
        raise WebhookRefused(_("The payload is not a Stripe event."), field="body")
    return event


def _signed_with(text: str, signature: str, secret: str) -> bool:
    try:
        return stripe.WebhookSignature.verify_header(text, signature, secret, tolerance=300)
    except stripe.SignatureVerificationError:
        return False


def event_object(event: dict) -> dict:
    return event["data"]["object"]


async def _tenant_of(event: dict) -> uuid.UUID | None:
    obj = event_object(event)
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    named = metadata.get(TENANT_METADATA)
    async with all_tenants_unit_of_work("route a Stripe webhook event to its tenant") as session:
        routing = RoutingRepository(session)
        if account := event.get("account"):
            # Events of a supplier's connected account: the account decides; metadata must agree if present.
            tenant = await routing.tenant_of_account(account)
            return tenant if tenant is not None and (named is None or str(tenant) == named) else None
        customer = obj.get("customer") if obj.get("object") != "customer" else obj.get("id")
        if isinstance(customer, str) and (tenant := await routing.tenant_of_customer(customer)):
            return tenant
    try:
        return uuid.UUID(named) if named else None
    except ValueError:
        return None


async def receive(payload: bytes, signature: str | None) -> Received:
    """Verify and store one webhook delivery; record its handling job if the event is new."""
    event = _verified(payload, signature)
    tenant_id = await _tenant_of(event)
    row = {
        "id": event["id"],
        "type": str(event.get("type", ""))[:100],
        "account": event.get("account"),
        "created": int(event.get("created") or 0),
        "payload": event,
        "routed_tenant_id": tenant_id,
        "received_at": utcnow(),
    }
    if tenant_id is None:
        # Nothing of ours: kept for the record, handled as "not ours" so it is never retried.
        async with global_unit_of_work() as session:
            new = await StripeEventRepository(session).insert_new({**row, "handled_at": utcnow(), "outcome": "no tenant"})
        log.info("Stripe event %s (%s) names no tenant of ours", event["id"], row["type"])
        return Received(event["id"], new, None)
    async with tenant_unit_of_work(TenantId(tenant_id)) as session:
        new = await StripeEventRepository(session).insert_new(row)
        if new:
            jobs.enqueue(session, "payments.handle_event", {"event_id": event["id"]})
    return Received(event["id"], new, tenant_id)


async def handle(session: AsyncSession, event_id: str) -> str | None:
    """Apply one stored event in its tenant's unit of work; a handled or foreign event does nothing."""
    from backend.payments.handlers import HANDLERS

    tenant_id = current_tenant(session)
    stored = await StripeEventRepository(session).get(event_id, for_update=True)
    if stored is None or stored.routed_tenant_id != tenant_id:
        log.warning("Stripe event %s is not this tenant's; refused", event_id)
        return None
    if stored.handled_at is not None:
        return stored.outcome
    handler = HANDLERS.get(stored.type)
    outcome = "ignored"
    if handler is not None:
        outcome = (await handler(session, stripe_principal(tenant_id), stored.payload)) or "applied"
    stored.handled_at = utcnow()
    stored.outcome = outcome[:200]
    await session.flush()
    return outcome


# Stripe retries a delivery for up to three days; past that an event id is not seen again.
REDRIVE_AFTER = timedelta(minutes=15)
REDRIVE_WITHIN = timedelta(days=3)
KEEP_EVENTS = timedelta(days=30)


async def redrive_unhandled(session: AsyncSession, now: datetime) -> int:
    """Record a new job for each routed event still unhandled a while after it arrived.

    Its first job may have failed for good (dead-letter queue) or been lost with the broker; Stripe's
    redelivery of it is answered "duplicate", so without this the event would never be applied.
    `session` is the periodic job's all-tenants unit of work; each job is recorded in its tenant's.
    """
    stale = await StripeEventRepository(session).unhandled_between(now - REDRIVE_WITHIN, now - REDRIVE_AFTER, limit=500)
    for event in stale:
        async with tenant_unit_of_work(TenantId(event.routed_tenant_id)) as tenant_session:
            jobs.enqueue(tenant_session, "payments.handle_event", {"event_id": event.id})
    if stale:
        log.warning("%d Stripe events were still unhandled after %s; their jobs are recorded again", len(stale), REDRIVE_AFTER)
    return len(stale)


async def forget_old(session: AsyncSession, now: datetime) -> int:
    """Handled events, with the personal data their payloads carry, are kept 30 days, then forgotten."""
    return await StripeEventRepository(session).forget_handled_before(now - KEEP_EVENTS)
