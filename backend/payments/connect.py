"""Connecting the supplier's own Stripe account (Stripe Connect): buyers' payments go there, not to Accord.

Two ways in, both for an owner or administrator: Stripe's hosted onboarding (Accord creates the
connected account and sends the person to an Account Link; Stripe sends them back), or an account
already connected to Accord's platform, named by its `acct_…` id and checked with Stripe. One account
serves one tenant. `account.updated` events keep whether it may take charges.
"""

from __future__ import annotations

import contextlib
import re

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.config import get_settings
from backend.db.base import utcnow
from backend.db.tenancy import TenantId, current_tenant
from backend.db.uow import all_tenants_unit_of_work, tenant_unit_of_work
from backend.errors import Conflict, DomainError, ValidationFailed
from backend.i18n import _
from backend.payments.attempts_repository import AttemptRepository
from backend.payments.events import TENANT_METADATA, event_object
from backend.payments.gateway import stripe_client
from backend.payments.models import AttemptStatus, PaymentAccount
from backend.payments.repository import AccountOwnerRepository, PaymentRepository, RoutingRepository
from backend.payments.service import attempt_view

ACCOUNT_ID = re.compile(r"acct_[A-Za-z0-9]{6,60}")


class StripeUnavailable(DomainError):
    status_code = 502


def account_view(account: PaymentAccount | None) -> dict | None:
    if account is None:
        return None
    return {"stripe_account_id": account.stripe_account_id, "charges_enabled": account.charges_enabled}


def _urls() -> tuple[str, str]:
    base = get_settings().base_url
    return f"{base}/console/payments/connect/return", f"{base}/console/payments/connect/refresh"


async def connected_account(session: AsyncSession, principal: Principal) -> PaymentAccount | None:
    require(principal, Permission.READ_LEDGER)
    return await PaymentRepository(session).account()


_ELSEWHERE = _("This Stripe account is already connected to another organisation in Accord; one account serves one organisation.")


async def _refuse_if_elsewhere(session: AsyncSession, stripe_account_id: str) -> None:
    tenant_id = current_tenant(session)
    async with all_tenants_unit_of_work("check a Stripe account is not another tenant's") as everyone:
        owner = await RoutingRepository(everyone).tenant_of_account(stripe_account_id)
    if owner is not None and owner != tenant_id:
        raise Conflict(_ELSEWHERE, field="account_id")


async def _store(session: AsyncSession, principal: Principal, stripe_account_id: str, charges_enabled: bool) -> PaymentAccount:
    repository = PaymentRepository(session)
    account = await repository.account()
    before = account_view(account)
    if account is None:
        # The global register keeps one organisation per account, even for two claiming it at the same moment.
        owner = await AccountOwnerRepository(session).claim(stripe_account_id, current_tenant(session), utcnow())
        if owner != current_tenant(session):
            raise Conflict(_ELSEWHERE, field="account_id")
        account = PaymentAccount(stripe_account_id=stripe_account_id, connected_by=principal.label)
        session.add(account)
    elif account.stripe_account_id != stripe_account_id:
        raise Conflict(_("Disconnect the current Stripe account first."), field="account_id")
    account.charges_enabled = charges_enabled
    account.updated_at = utcnow()
    await session.flush()
    if before != account_view(account):
        audit.record(
            session,
            principal.actor(),
            "payments.account_connected",
            "payment_account",
            current_tenant(session),
            before=before,
            after=account_view(account),
        )
    return account


async def start_onboarding(session: AsyncSession, principal: Principal, *, create: bool = True) -> str | None:
    """Create (once) the supplier's connected account and return the Stripe onboarding address to send them to.

    The account's id is committed in its own transaction as soon as Stripe made it, before the link is
    asked for: a link that fails cannot roll the id back and leave an account on Stripe Accord forgets
    (its idempotency key lasts 24 hours; the next press would make a second one). With `create=False`
    (a GET, which a cross-site navigation can trigger) only an existing account gets a new link; None
    when there is none."""
    require(principal, Permission.MANAGE_TEAM)
    client = stripe_client()
    account = await PaymentRepository(session).account()
    tenant_id = current_tenant(session)
    if account is None and not create:
        return None
    try:
        if account is None:
            created = await client.v1.accounts.create_async(
                {
                    "controller": {
                        "stripe_dashboard": {"type": "full"},
                        "fees": {"payer": "account"},
                        "losses": {"payments": "stripe"},
                    },
                    "metadata": {TENANT_METADATA: str(tenant_id)},
                },
                # One account per organisation: a double click or a retry gets the same one back.
                options={"idempotency_key": f"accord-connect-{tenant_id}"},
            )
            async with tenant_unit_of_work(TenantId(tenant_id)) as own:
                stored = await _store(own, principal, created.id, bool(getattr(created, "charges_enabled", False)))
                stripe_account_id = stored.stripe_account_id
        else:
            stripe_account_id = account.stripe_account_id
        return_url, refresh_url = _urls()
        link = await client.v1.account_links.create_async(
            {
                "account": stripe_account_id,
                "return_url": return_url,
                "refresh_url": refresh_url,
                "type": "account_onboarding",
            }
        )
    except stripe.StripeError as error:
        raise StripeUnavailable(
            _("Stripe did not answer as expected (%(error)s). Try again in a moment."), params={"error": str(error)[:200]}
        ) from None
    return link.url


async def connect_existing(session: AsyncSession, principal: Principal, stripe_account_id: str) -> PaymentAccount:
    """An account already connected to Accord's platform on Stripe, named by its id and checked there."""
    require(principal, Permission.MANAGE_TEAM)
    stripe_account_id = (stripe_account_id or "").strip()
    if not ACCOUNT_ID.fullmatch(stripe_account_id):
        raise ValidationFailed(_("Enter the Stripe account id, which starts with acct_."), field="account_id")
    await _refuse_if_elsewhere(session, stripe_account_id)
    try:
        found = await stripe_client().v1.accounts.retrieve_async(stripe_account_id)
    except stripe.InvalidRequestError:
        raise ValidationFailed(
            _("Stripe does not know this account, or it is not connected to Accord's platform."), field="account_id"
        ) from None
    except stripe.StripeError as error:
        raise StripeUnavailable(
            _("Stripe did not answer as expected (%(error)s). Try again in a moment."), params={"error": str(error)[:200]}
        ) from None
    # An account Accord created names its organisation; one made for another organisation is refused.
    # One made outside Accord names none: it is accepted only if no organisation ever connected it (the
    # register, checked above and again when storing).
    metadata = found.to_dict().get("metadata") or {}
    named = metadata.get(TENANT_METADATA)
    if named is not None and named != str(current_tenant(session)):
        raise Conflict(_ELSEWHERE, field="account_id")
    return await _store(session, principal, found.id, bool(getattr(found, "charges_enabled", False)))


async def refresh_account(session: AsyncSession, principal: Principal) -> PaymentAccount | None:
    """Back from Stripe's onboarding: read whether the account may take charges now."""
    require(principal, Permission.MANAGE_TEAM)
    account = await PaymentRepository(session).account()
    if account is None:
        return None
    try:
        found = await stripe_client().v1.accounts.retrieve_async(account.stripe_account_id)
    except stripe.StripeError as error:
        raise StripeUnavailable(
            _("Stripe did not answer as expected (%(error)s). Try again in a moment."), params={"error": str(error)[:200]}
        ) from None
    return await _store(session, principal, account.stripe_account_id, bool(getattr(found, "charges_enabled", False)))


async def disconnect(session: AsyncSession, principal: Principal) -> None:
    """Buyers can no longer start a payment; Checkout pages still open are closed on Stripe so no one pays into an account Accord no longer hears from."""
    require(principal, Permission.MANAGE_TEAM)
    repository = PaymentRepository(session)
    account = await repository.account()
    if account is None:
        return
    for attempt in await AttemptRepository(session).open_with_session():
        with contextlib.suppress(stripe.StripeError):  # already complete or expired: its own event says so
            await stripe_client().v1.checkout.sessions.expire_async(
                attempt.checkout_session_id, options={"stripe_account": attempt.stripe_account_id}
            )
        before = attempt_view(attempt)
        attempt.status = AttemptStatus.EXPIRED
        attempt.updated_at = utcnow()
        audit.record(
            session,
            principal.actor(),
            "payment.expired",
            "payment_attempt",
            attempt.id,
            before=before,
            after=attempt_view(attempt),
        )
    before = account_view(account)
    # The account stays this organisation's in the register: its late events still come here.
    await AccountOwnerRepository(session).mark_disconnected(account.stripe_account_id, current_tenant(session), utcnow())
    await session.delete(account)
    await session.flush()
    audit.record(
        session,
        principal.actor(),
        "payments.account_disconnected",
        "payment_account",
        current_tenant(session),
        before=before,
        after=None,
    )


async def account_updated(session: AsyncSession, principal: Principal, event: dict) -> str:
    """Stripe says what the connected account may do now; an older event arriving later changes nothing."""
    obj = event_object(event)
    account = await PaymentRepository(session).account()
    if account is None or account.stripe_account_id != obj.get("id"):
        return "unknown account"
    created = int(event.get("created") or 0)
    if created < account.last_event_created:
        return "stale"
    before = account_view(account)
    account.charges_enabled = bool(obj.get("charges_enabled"))
    account.last_event_created = created
    account.updated_at = utcnow()
    if before != account_view(account):
        audit.record(
            session,
            principal.actor(),
            "payments.account_updated",
            "payment_account",
            current_tenant(session),
            before=before,
            after=account_view(account),
        )
    return "applied"
