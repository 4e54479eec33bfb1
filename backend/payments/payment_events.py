"""Webhook handlers for buyers' payments: Stripe's objects read, the payments service applies them.

Each handler finds the attempt (by the attempt id Accord put in the metadata, else the payment
intent) under its row lock, so two events of one payment handled at once apply it once.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.payments import service
from backend.payments.events import event_object


def _id(value) -> str | None:
    """An expandable field: the id itself, or the expanded object's id."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


async def checkout_session_completed(session: AsyncSession, principal: Principal, event: dict) -> str:
    obj = event_object(event)
    if obj.get("mode") not in (None, "payment"):
        return "ignored"  # subscriptions' sessions are another part's
    payment_intent = _id(obj.get("payment_intent"))
    attempt = await service.find_attempt(session, obj, payment_intent_id=payment_intent)
    if attempt is None:
        return "unknown payment"
    if obj.get("payment_status") != "paid" or not payment_intent:
        if payment_intent and attempt.payment_intent_id is None:
            attempt.payment_intent_id = payment_intent
        return "not paid yet"
    return await service.apply_paid(
        session,
        principal,
        attempt,
        event,
        payment_intent_id=payment_intent,
        amount_minor=int(obj.get("amount_total") or 0),
        currency=str(obj.get("currency") or ""),
    )


async def checkout_session_expired(session: AsyncSession, principal: Principal, event: dict) -> str:
    obj = event_object(event)
    attempt = await service.find_attempt(session, obj, payment_intent_id=None)
    if attempt is None or attempt.checkout_session_id not in (None, obj.get("id")):
        return "unknown payment"
    return await service.apply_expired(session, principal, attempt, event)


async def payment_intent_succeeded(session: AsyncSession, principal: Principal, event: dict) -> str:
    obj = event_object(event)
    attempt = await service.find_attempt(session, obj, payment_intent_id=obj.get("id"))
    if attempt is None:
        return "unknown payment"
    return await service.apply_paid(
        session,
        principal,
        attempt,
        event,
        payment_intent_id=str(obj["id"]),
        amount_minor=int(obj.get("amount_received") or obj.get("amount") or 0),
        currency=str(obj.get("currency") or ""),
    )


async def payment_intent_payment_failed(session: AsyncSession, principal: Principal, event: dict) -> str:
    obj = event_object(event)
    attempt = await service.find_attempt(session, obj, payment_intent_id=obj.get("id"))
    if attempt is None:
        return "unknown payment"
    error = obj.get("last_payment_error") if isinstance(obj.get("last_payment_error"), dict) else {}
    if attempt.payment_intent_id is None:
        attempt.payment_intent_id = obj.get("id")
    return await service.apply_failed(session, principal, attempt, event, error.get("message"))


async def charge_refunded(session: AsyncSession, principal: Principal, event: dict) -> str:
    obj = event_object(event)
    attempt = await service.find_attempt(session, obj, payment_intent_id=_id(obj.get("payment_intent")))
    if attempt is None:
        return "unknown payment"
    if attempt.payment_intent_id is None and _id(obj.get("payment_intent")):
        attempt.payment_intent_id = _id(obj.get("payment_intent"))
    return await service.apply_refunded(
        session,
        principal,
        attempt,
        event,
        refunded_minor=int(obj.get("amount_refunded") or 0),
        currency=str(obj.get("currency") or ""),
    )
