"""The one place Accord talks to Stripe: a client from the settings, or a clear refusal when payments are off.

`STRIPE_API_BASE` points the SDK at another address (the tests' local Stripe-compatible server);
production leaves it unset. Objects Stripe creates are created with an idempotency key by the callers,
so a retried request creates one.
"""

from __future__ import annotations

from decimal import Decimal

import stripe

from backend.config import Settings, get_settings
from backend.errors import DomainError, ValidationFailed
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


# Stripe's own minor units (https://docs.stripe.com/currencies): most currencies have two decimals.
ZERO_DECIMAL = frozenset(
    ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
)
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def stripe_decimals(currency: str) -> int:
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def to_minor(amount: Decimal, currency: str) -> int:
    """Decimal to Stripe's integer minor units (CNY 12.34 → 1234, JPY 1200 → 1200); refuses a fraction Stripe cannot carry."""
    scaled = amount.scaleb(stripe_decimals(currency))
    # Stripe takes three-decimal currencies only in multiples of ten minor units (KWD 1.230, not 1.235).
    if scaled != scaled.to_integral_value() or (stripe_decimals(currency) == 3 and scaled % 10):
        raise ValidationFailed(
            _("%(currency)s cannot be paid by card to this precision."), field="amount", params={"currency": currency}
        )
    return int(scaled)


def from_minor(value: int, currency: str) -> Decimal:
    return Decimal(int(value)).scaleb(-stripe_decimals(currency))
