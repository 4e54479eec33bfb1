"""The one place Accord talks to Stripe: a client from the settings, or a clear refusal when payments are off.

`STRIPE_API_BASE` points the SDK at another address (the tests' local Stripe-compatible server);
production leaves it unset. Objects Stripe creates are created with an idempotency key by the callers,
so a retried request creates one.
"""

from __future__ import annotations

import stripe

from backend.config import Settings, get_settings
from backend.errors import DomainError
from backend.i18n import _


class PaymentsOff(DomainError):
    """Stripe is not configured for this installation (no secret key): nothing can be paid or subscribed."""

    status_code = 503


def payments_configured(settings: Settings | None = None) -> bool:
    return bool((settings or get_settings()).stripe_secret_key)


def stripe_client(settings: Settings | None = None) -> stripe.StripeClient:
    settings = settings or get_settings()
    if not settings.stripe_secret_key:
        raise PaymentsOff(_("Online payments are not set up on this Accord installation."))
    base = {"api": settings.stripe_api_base, "files": settings.stripe_api_base} if settings.stripe_api_base else None
    return stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses=base or {},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
        max_network_retries=2,
    )
