"""Which code applies which Stripe event type. One table, so a reader sees every event Accord acts on.

A handler takes (session, principal, event) in the event's tenant's unit of work, applies the event's
object idempotently and order-safely, and returns a short outcome for the event log ("applied",
"stale", "unknown payment", ...). Event types not listed are stored and marked "ignored".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.payments import chargebacks, connect, payment_events, subscriptions

Handler = Callable[[AsyncSession, Principal, dict], Awaitable[str | None]]

HANDLERS: dict[str, Handler] = {
    # Buyers' payments from the portal: paid once whichever of the two comes first; failures, expiry, refunds.
    "checkout.session.completed": payment_events.checkout_session_completed,
    "checkout.session.expired": payment_events.checkout_session_expired,
    "payment_intent.succeeded": payment_events.payment_intent_succeeded,
    "payment_intent.payment_failed": payment_events.payment_intent_payment_failed,
    "charge.refunded": payment_events.charge_refunded,
    # The supplier's connected account: whether it may take charges.
    "account.updated": connect.account_updated,
    # Tenants' subscriptions to Accord (state from the subscription; Checkout's completion is not needed).
    "customer.subscription.created": subscriptions.apply_subscription_event,
    "customer.subscription.updated": subscriptions.apply_subscription_event,
    "customer.subscription.deleted": subscriptions.apply_subscription_event,
    "invoice.paid": subscriptions.apply_invoice_event,
    "invoice.payment_failed": subscriptions.apply_invoice_event,
    # Card disputes (chargebacks): each event carries the whole dispute and is applied the same way.
    "charge.dispute.created": chargebacks.apply_event,
    "charge.dispute.updated": chargebacks.apply_event,
    "charge.dispute.closed": chargebacks.apply_event,
    "charge.dispute.funds_withdrawn": chargebacks.apply_event,
    "charge.dispute.funds_reinstated": chargebacks.apply_event,
}
