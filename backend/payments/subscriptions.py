"""Tenants' subscriptions to Accord: subscribing through Stripe Checkout, Stripe's billing portal, the plan
state kept from Stripe's webhooks, and the limits a plan sets (see `backend.payments.plans`).

The subscription lives on Accord's own Stripe account (never a supplier's connected account). Its state
comes only from customer.subscription.* events, which always follow a completed Checkout, so
checkout.session.completed is not needed here (the buyer-payments code owns that event). The Stripe
customer is created by us, before the first Checkout, so its id routes every later event to the tenant.

A limit refuses only growth: nothing kept is hidden, changed or removed when a tenant is over a limit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.policies import Permission, can, require
from backend.auth.principal import Principal, PrincipalKind
from backend.config import get_settings
from backend.db.base import utcnow
from backend.db.tenancy import current_tenant
from backend.errors import Conflict, DomainError, ValidationFailed
from backend.i18n import Translatable, _
from backend.payments import plans
from backend.payments.events import TENANT_METADATA, event_object
from backend.payments.gateway import payments_configured, stripe_client
from backend.payments.models import TenantSubscription
from backend.payments.plans import LIMIT_LABELS, Limit, Plan
from backend.payments.subscriptions_repository import SubscriptionRepository
from backend.tenants.repository import TenantRepository

log = logging.getLogger("accord.payments")

PLAN_METADATA = "accord_plan"
BILLING_PATH = "/console/billing"
# Statuses after which the subscription will not come back by itself.
ENDED_STATUSES = frozenset({"canceled", "unpaid", "incomplete_expired"})


class LimitReached(Conflict):
    """Growth past the plan's limit: 409, field "plan", a message naming the limit and what to do."""


class StripeRefused(DomainError):
    """Stripe answered a billing call with an error (or not at all): nothing was kept of the attempt."""

    status_code = 502


@contextmanager
def _talking_to_stripe() -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as error:
        log.warning("Stripe refused a billing call: %s", error)
        reason = getattr(error, "user_message", None) or type(error).__name__
        raise StripeRefused(
            _("Stripe did not accept the request (%(reason)s). Nothing changed; please try again later."),
            field="plan",
            params={"reason": reason},
        ) from error


class BillingNotSetUp(DomainError):
    """The operator has not created the plan's Stripe Price (or it differs from Accord's table)."""

    status_code = 503


REFUSALS: dict[Limit, str] = {
    Limit.USERS: _(
        "Your %(plan)s plan allows %(limit)s people on the team (members and pending invitations), and you have %(used)s. "
        "Upgrade the plan under Billing, or remove someone from the team first."
    ),
    Limit.BUYERS: _(
        "Your %(plan)s plan allows %(limit)s buyers, and you have %(used)s. "
        "Upgrade the plan under Billing to add another; your buyers stay as they are."
    ),
    Limit.DISPUTES: _(
        "Your %(plan)s plan allows %(limit)s new dispute cases a month, and %(used)s were registered this month. "
        "Upgrade the plan under Billing to register more before next month; open cases stay workable."
    ),
}

AT_LIMIT: dict[Limit, str] = {
    Limit.USERS: _(
        "Your team has reached the %(plan)s plan's limit of %(limit)s people (members and pending invitations). "
        "To invite someone, upgrade the plan or remove someone from the team."
    ),
    Limit.BUYERS: _("You have reached the %(plan)s plan's limit of %(limit)s buyers. To add a buyer, upgrade the plan."),
    Limit.DISPUTES: _(
        "This month's %(limit)s new dispute cases of the %(plan)s plan are used. "
        "To register another before next month, upgrade the plan."
    ),
}

OVER_LIMIT: dict[Limit, str] = {
    Limit.USERS: _(
        "Your team has %(used)s people, more than the %(plan)s plan's %(limit)s. Nobody is removed and everything stays as "
        "it is; to invite someone, upgrade the plan or remove people from the team first."
    ),
    Limit.BUYERS: _(
        "You have %(used)s buyers, more than the %(plan)s plan's %(limit)s. All of them stay readable and editable; "
        "to add another, upgrade the plan."
    ),
    Limit.DISPUTES: _(
        "%(used)s dispute cases were registered this month, more than the %(plan)s plan's %(limit)s. Open cases stay "
        "workable; to register another before next month, upgrade the plan."
    ),
}

NEAR_LIMIT = _("%(what)s: %(used)s of the %(limit)s your %(plan)s plan allows.")
PAYMENT_FAILED = _(
    "The last payment for your Accord subscription failed. Stripe tries again; update the payment method under Billing "
    "so that the %(plan)s plan continues."
)
SUBSCRIPTION_ENDED = _(
    "Your %(plan)s subscription has ended, so the trial's limits apply. Nothing was removed; choose a plan under Billing "
    "to grow again."
)


# --- what the plan allows and what is used -----------------------------------------------------


@dataclass(frozen=True)
class Meter:
    limit: Limit
    used: int
    allowed: int | None

    @property
    def label(self) -> Translatable:
        return LIMIT_LABELS[self.limit]

    @property
    def state(self) -> str:
        """ok | near | at | over: "at" refuses the next one, "over" follows a downgrade."""
        if self.allowed is None:
            return "ok"
        if self.used > self.allowed:
            return "over"
        if self.used == self.allowed:
            return "at"
        return "near" if Decimal(self.used) >= plans.NEAR_SHARE * self.allowed else "ok"

    @property
    def percent(self) -> int:
        if not self.allowed:
            return 0
        return min(100, round(100 * self.used / self.allowed))


@dataclass(frozen=True)
class Notice:
    level: str  # alert | info
    message: str
    params: dict[str, Any]

    def translated(self, gettext) -> str:
        return gettext(self.message) % {
            key: gettext(value) if isinstance(value, Translatable) else value for key, value in self.params.items()
        }


@dataclass(frozen=True)
class Billing:
    row: TenantSubscription | None
    plan: Plan  # whose limits apply now
    subscribed: Plan | None  # the paid plan Stripe last named, live or not
    meters: list[Meter]
    notices: list[Notice]
    payments_on: bool

    @property
    def status(self) -> str | None:
        return None if self.row is None else self.row.status

    @property
    def live(self) -> bool:
        """A subscription Stripe still runs: plan changes and cancelling go through Stripe's billing portal."""
        return self.row is not None and self.row.stripe_subscription_id is not None and self.row.status not in ENDED_STATUSES

    @property
    def has_customer(self) -> bool:
        return self.row is not None and self.row.stripe_customer_id is not None

    @property
    def trial_ended(self) -> bool:
        row = self.row
        return (
            row is not None
            and self.plan is plans.TRIAL
            and row.stripe_subscription_id is None
            and row.current_period_end is not None
            and row.current_period_end < utcnow()
        )


def _plan_of(row: TenantSubscription | None) -> Plan:
    return plans.effective_plan(row.plan if row else None, row.status if row else None)


async def _month_start(session: AsyncSession) -> datetime:
    """The first moment of the calendar month in the tenant's time zone, in UTC."""
    tenant = await TenantRepository(session).get(current_tenant(session))
    try:
        zone = ZoneInfo(tenant.time_zone if tenant else "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = utcnow().astimezone(zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


async def _used(session: AsyncSession, repository: SubscriptionRepository, which: Limit) -> int:
    if which is Limit.USERS:
        return await repository.team_size()
    if which is Limit.BUYERS:
        return await repository.buyer_count()
    return await repository.cases_registered_since(await _month_start(session))


async def check_room(session: AsyncSession, principal: Principal, which: Limit | str) -> None:
    """Refuse one more user, buyer or case this month when the plan's limit is reached (LimitReached, 409).

    Only the team's own growth is refused. A buyer raising a dispute in the portal and a chargeback
    opened from Stripe's webhook are always accepted (they count all the same): refusing them would
    lose a claim the supplier must answer. A tenant without a subscription row has no limits (see
    `plans`), so tenants made before billing, and the test suite's, grow freely.
    """
    if principal.kind in (PrincipalKind.BUYER_CONTACT, PrincipalKind.JOB):
        return
    which = Limit(which)
    repository = SubscriptionRepository(session)
    # Locked, so two additions at once cannot both take the last place.
    row = await repository.get(for_update=True)
    plan = _plan_of(row)
    allowed = plan.limit(which)
    if allowed is None:
        return
    used = await _used(session, repository, which)
    if used >= allowed:
        raise LimitReached(REFUSALS[which], field="plan", params={"plan": plan.name, "limit": allowed, "used": used})


def _notices(row: TenantSubscription | None, plan: Plan, subscribed: Plan | None, meters: list[Meter]) -> list[Notice]:
    found: list[Notice] = []
    payment_failed = row is not None and (row.status == "past_due" or row.last_invoice_status == "failed")
    if payment_failed and subscribed is not None and row.status not in ENDED_STATUSES:
        found.append(Notice("alert", PAYMENT_FAILED, {"plan": subscribed.name}))
    if row is not None and subscribed is not None and row.status in ENDED_STATUSES:
        found.append(Notice("alert", SUBSCRIPTION_ENDED, {"plan": subscribed.name}))
    for meter in meters:
        params = {"plan": plan.name, "limit": meter.allowed, "used": meter.used, "what": meter.label}
        if meter.state == "over":
            found.append(Notice("alert", OVER_LIMIT[meter.limit], params))
        elif meter.state == "at":
            found.append(Notice("alert", AT_LIMIT[meter.limit], params))
        elif meter.state == "near":
            found.append(Notice("info", NEAR_LIMIT, params))
    return found


async def billing(session: AsyncSession) -> Billing:
    """The plan that applies, what is used against its limits, and what the team should be told."""
    repository = SubscriptionRepository(session)
    row = await repository.get()
    plan = _plan_of(row)
    subscribed = plans.paid_plan(row.plan) if row else None
    meters = [Meter(which, await _used(session, repository, which), plan.limit(which)) for which in Limit]
    return Billing(
        row=row,
        plan=plan,
        subscribed=subscribed,
        meters=meters,
        notices=_notices(row, plan, subscribed, meters),
        payments_on=payments_configured(),
    )


async def notices(session: AsyncSession) -> list[Notice]:
    """What the console's banner says (nothing for a tenant without limits and without a subscription)."""
    if await SubscriptionRepository(session).get() is None:
        return []
    return (await billing(session)).notices


# --- subscribing ---------------------------------------------------------------------------


def subscription_view(row: TenantSubscription) -> dict[str, Any]:
    return {
        "plan": row.plan,
        "status": row.status,
        "stripe_customer_id": row.stripe_customer_id,
        "stripe_subscription_id": row.stripe_subscription_id,
        "current_period_end": row.current_period_end.isoformat() if row.current_period_end else None,
        "cancel_at_period_end": row.cancel_at_period_end,
        "last_invoice_status": row.last_invoice_status,
    }


async def _row_for_update(session: AsyncSession) -> TenantSubscription:
    repository = SubscriptionRepository(session)
    row = await repository.get(for_update=True)
    if row is None:
        # A founding tenant keeps its (absent) limits until Stripe tells of a subscription.
        row = TenantSubscription(plan=plans.FOUNDING.code, status=plans.NO_SUBSCRIPTION, last_event_created=0)
        session.add(row)
        await session.flush()
    return row


async def _customer_id(session: AsyncSession, principal: Principal, client, row: TenantSubscription) -> str:
    """The tenant's customer on Accord's Stripe account, created once (the idempotency key is the tenant's)."""
    if row.stripe_customer_id:
        return row.stripe_customer_id
    tenant = await TenantRepository(session).get(row.tenant_id)
    params: dict[str, Any] = {"name": tenant.name, "metadata": {TENANT_METADATA: str(row.tenant_id)}}
    if "@" in principal.label:
        params["email"] = principal.label
    customer = await client.v1.customers.create_async(params, options={"idempotency_key": f"accord-customer-{row.tenant_id}"})
    row.stripe_customer_id = customer.id
    row.updated_at = utcnow()
    audit.record(
        session,
        principal.actor(),
        "subscription.customer_created",
        "tenant_subscription",
        row.tenant_id,
        after={"stripe_customer_id": customer.id},
    )
    return customer.id


async def _price_id(client, plan: Plan) -> str:
    found = await client.v1.prices.list_async({"lookup_keys": [plan.lookup_key], "active": True, "limit": 1})
    price = found.data[0] if found.data else None
    # The page shows the table's price: a Stripe price that says otherwise is refused, never charged.
    if price is None or str(price.currency).upper() != plans.CURRENCY or int(price.unit_amount or 0) != plan.unit_amount:
        log.error("Stripe price %s is missing or differs from the %s plan", plan.lookup_key, plan.code)
        raise BillingNotSetUp(
            _("The %(plan)s plan cannot be subscribed to yet: its price is not set up on Stripe. Please contact Accord."),
            field="plan",
            params={"plan": plan.name},
        )
    return price.id


def _manager(principal: Principal) -> None:
    require(principal, Permission.MANAGE_TEAM)


async def start_checkout(session: AsyncSession, principal: Principal, plan_code: str) -> str:
    """A Stripe Checkout Session (mode subscription) for a paid plan; returns the page to send the admin to."""
    _manager(principal)
    plan = plans.paid_plan(plan_code)
    if plan is None:
        raise ValidationFailed(_("Choose one of the plans offered."), field="plan")
    client = stripe_client()  # Stripe off: PaymentsOff (503), nothing changed
    row = await _row_for_update(session)
    if row.stripe_subscription_id and row.status not in ENDED_STATUSES:
        raise Conflict(
            _("You already have a subscription. Change its plan in Stripe's billing portal (Manage billing)."), field="plan"
        )
    with _talking_to_stripe():
        return await _checkout(session, principal, client, row, plan)


async def _checkout(session: AsyncSession, principal: Principal, client, row: TenantSubscription, plan: Plan) -> str:
    price_id = await _price_id(client, plan)
    customer_id = await _customer_id(session, principal, client, row)
    base = get_settings().base_url
    metadata = {TENANT_METADATA: str(row.tenant_id), PLAN_METADATA: plan.code}
    params = {
        "mode": "subscription",
        "customer": customer_id,
        "line_items": [{"price": price_id, "quantity": 1}],
        "client_reference_id": str(row.tenant_id),
        "success_url": f"{base}{BILLING_PATH}?checkout=done",
        "cancel_url": f"{base}{BILLING_PATH}?checkout=cancelled",
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
    }
    # One session per plan, subscription state and parameters: a second click reuses it; after Stripe's
    # next word on the subscription, or once the Price or Accord's address changed (Stripe refuses a key
    # reused with other parameters for 24 hours), a new one is made.
    fingerprint = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    checkout = await client.v1.checkout.sessions.create_async(
        params,
        options={"idempotency_key": f"accord-subscribe-{row.tenant_id}-{plan.code}-{row.last_event_created}-{fingerprint}"},
    )
    audit.record(
        session,
        principal.actor(),
        "subscription.checkout_started",
        "tenant_subscription",
        row.tenant_id,
        after={"plan": plan.code, "checkout_session_id": checkout.id},
    )
    return checkout.url


async def open_billing_portal(session: AsyncSession, principal: Principal) -> str:
    """A Stripe billing portal session for the tenant's customer: card, invoices, plan changes, cancelling."""
    _manager(principal)
    client = stripe_client()
    row = await SubscriptionRepository(session).get()
    if row is None or not row.stripe_customer_id:
        raise Conflict(_("Choose a plan first: the billing portal opens once you have subscribed."), field="plan")
    with _talking_to_stripe():
        portal = await client.v1.billing_portal.sessions.create_async(
            {"customer": row.stripe_customer_id, "return_url": f"{get_settings().base_url}{BILLING_PATH}"},
            # A portal session is a short-lived link: each visit gets its own, a network retry the same one.
            options={"idempotency_key": f"accord-portal-{row.tenant_id}-{uuid.uuid4()}"},
        )
    return portal.url


async def start_trial(session: AsyncSession, principal: Principal) -> TenantSubscription:
    """Put a tenant without a subscription on the trial (its limits, TRIAL_DAYS long)."""
    _manager(principal)
    row = await _row_for_update(session)
    if row.stripe_subscription_id or row.plan not in (plans.FOUNDING.code, plans.TRIAL.code):
        raise Conflict(_("This organisation already has a subscription."), field="plan")
    before = subscription_view(row)
    row.plan, row.status = plans.TRIAL.code, "trialing"
    row.current_period_end = utcnow() + timedelta(days=plans.TRIAL_DAYS)
    row.updated_at = utcnow()
    audit.record(
        session,
        principal.actor(),
        "subscription.trial_started",
        "tenant_subscription",
        row.tenant_id,
        before=before,
        after=subscription_view(row),
    )
    return row


# --- Stripe's word: webhook handlers ---------------------------------------------------------


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _plan_named_by(subscription: dict) -> Plan | None:
    items = (subscription.get("items") or {}).get("data") or []
    for item in items:
        price = item.get("price") if isinstance(item, dict) else None
        if isinstance(price, dict) and (plan := plans.plan_of_lookup_key(price.get("lookup_key"))):
            return plan
    metadata = subscription.get("metadata") if isinstance(subscription.get("metadata"), dict) else {}
    return plans.paid_plan(metadata.get(PLAN_METADATA))


def _period_end(subscription: dict) -> datetime | None:
    # Since Stripe's 2025 API versions the period sits on each item; older ones carry it on the subscription.
    items = (subscription.get("items") or {}).get("data") or []
    ends = [item.get("current_period_end") for item in items if isinstance(item, dict) and item.get("current_period_end")]
    end = max(ends) if ends else subscription.get("current_period_end") or subscription.get("trial_end")
    return datetime.fromtimestamp(int(end), UTC) if end else None


async def apply_subscription_event(session: AsyncSession, principal: Principal, event: dict) -> str:
    """customer.subscription.created / updated / deleted: the row takes the state of the event's full
    object, unless a newer event was applied already (so "updated" before "created" ends right)."""
    if event.get("account"):
        return "not a subscription to Accord"  # a subscription on a supplier's own Stripe account
    subscription = event_object(event)
    created = int(event.get("created") or 0)
    row = await SubscriptionRepository(session).get(for_update=True)
    customer = _id_of(subscription.get("customer"))
    if row is not None and row.stripe_customer_id and customer and customer != row.stripe_customer_id:
        return "another customer"
    if row is not None and (
        created < row.last_event_created
        # Same second: "created" is the earliest word on a subscription, so it never overrides another.
        or (created == row.last_event_created and event.get("type") == "customer.subscription.created")
    ):
        return "stale"
    deleted = event.get("type") == "customer.subscription.deleted"
    status = "canceled" if deleted else str(subscription.get("status") or "incomplete")
    if (
        row is not None
        and row.stripe_subscription_id
        and row.stripe_subscription_id != subscription.get("id")
        and row.status in plans.LIVE_STATUSES
        and status not in plans.LIVE_STATUSES
    ):
        return "another subscription ended"  # the live one stays
    before = None
    if row is None:
        row = TenantSubscription(plan=plans.FOUNDING.code, status=plans.NO_SUBSCRIPTION, last_event_created=0)
        session.add(row)
    else:
        before = subscription_view(row)
    plan = _plan_named_by(subscription)
    if plan is not None:
        row.plan = plan.code
    row.status = status[:32]
    row.stripe_subscription_id = _id_of(subscription.get("id"))
    row.stripe_customer_id = row.stripe_customer_id or customer
    row.current_period_end = _period_end(subscription)
    row.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    row.last_event_created = created
    row.updated_at = utcnow()
    await session.flush()
    after = subscription_view(row)
    if after == before:
        return "unchanged"
    audit.record(
        session,
        principal.actor(),
        "subscription.changed",
        "tenant_subscription",
        row.tenant_id,
        before=before,
        after={**after, "stripe_event_id": event.get("id")},
    )
    return "applied" if plan is not None else "applied (price names no plan)"


async def apply_invoice_event(session: AsyncSession, principal: Principal, event: dict) -> str:
    """invoice.paid / invoice.payment_failed of the tenant's subscription: the last invoice's outcome."""
    if event.get("account"):
        return "not a subscription to Accord"
    invoice = event_object(event)
    created = int(event.get("created") or 0)
    row = await SubscriptionRepository(session).get(for_update=True)
    if row is None or not row.stripe_customer_id or _id_of(invoice.get("customer")) != row.stripe_customer_id:
        return "not our customer"
    if created < row.last_invoice_event_created:
        return "stale"
    outcome = "paid" if event.get("type") == "invoice.paid" else "failed"
    before = row.last_invoice_status
    row.last_invoice_status = outcome
    row.last_invoice_event_created = created
    row.updated_at = utcnow()
    amount = invoice.get("amount_paid") if outcome == "paid" else invoice.get("amount_due")
    audit.record(
        session,
        principal.actor(),
        f"subscription.invoice_{outcome}",
        "tenant_subscription",
        row.tenant_id,
        before={"last_invoice_status": before},
        after={
            "last_invoice_status": outcome,
            "stripe_invoice_id": _id_of(invoice.get("id")),
            "amount_minor_units": amount,
            "currency": invoice.get("currency"),
            "stripe_event_id": event.get("id"),
        },
    )
    return "applied"


def may_manage_billing(principal: Principal) -> bool:
    return can(principal, Permission.MANAGE_TEAM)
