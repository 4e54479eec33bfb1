"""Accord's plans: how far a tenant may grow, and what each plan costs. One table, read by the billing
page, the Stripe Checkout and the limit checks.

Prices are monthly, in CNY (Accord's suppliers invoice mostly in China; Stripe charges CNY cards). Each
paid plan's Stripe Price is found by its lookup key, so the operator creates the prices once on Stripe
(`accord_<plan>_monthly`, with the amount and currency below) and can replace them without a deploy.

Which plan's limits apply (`effective_plan`):
- No subscription row: a *founding* tenant, created before billing existed (or by the operator), with
  no limits. Billing never takes away what such a tenant already had; it applies once the tenant has a
  row (a trial, or a subscription Stripe told us about).
- A paid plan applies while Stripe says the subscription is active, trialing or past_due (Stripe is
  still retrying the card: the banner warns, nothing is refused yet).
- Canceled, unpaid, incomplete or incomplete_expired: the trial's limits (the free tier). Everything
  kept stays readable and editable; only growth past those limits is refused.
- The trial's limits hold during the trial and after it ends (the billing page says it has ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from backend.i18n import Translatable, _

CURRENCY = "CNY"
TRIAL_DAYS = 30
# Share of a limit from which the console warns that the limit is near.
NEAR_SHARE = Decimal("0.8")

# Stripe's subscription statuses under which a paid plan's limits apply.
LIVE_STATUSES = frozenset({"active", "trialing", "past_due"})
# What a subscription row says before Stripe has told us of any subscription.
NO_SUBSCRIPTION = "none"


class Limit(StrEnum):
    USERS = "users"  # people on the team: members and pending invitations
    BUYERS = "buyers"
    DISPUTES = "disputes"  # dispute cases registered in the current calendar month (tenant's time zone)


LIMIT_LABELS: dict[Limit, Translatable] = {
    Limit.USERS: Translatable(_("Users")),
    Limit.BUYERS: Translatable(_("Buyers")),
    Limit.DISPUTES: Translatable(_("Disputes this month")),
}


@dataclass(frozen=True)
class Plan:
    code: str
    name: Translatable
    # None: no limit.
    users: int | None
    buyers: int | None
    disputes: int | None
    monthly_price: Decimal | None = None  # in CURRENCY; None for plans nobody pays for
    lookup_key: str | None = None  # the Stripe Price's lookup key

    @property
    def paid(self) -> bool:
        return self.lookup_key is not None

    def limit(self, which: Limit) -> int | None:
        return getattr(self, which.value)

    @property
    def unit_amount(self) -> int | None:
        """The price in Stripe's minor units (fen)."""
        return None if self.monthly_price is None else int(self.monthly_price * 100)


FOUNDING = Plan("founding", Translatable(_("Founding")), users=None, buyers=None, disputes=None)
TRIAL = Plan("trial", Translatable(_("Trial")), users=10, buyers=15, disputes=20)

PAID_PLANS: tuple[Plan, ...] = (
    Plan(
        "starter",
        Translatable(_("Starter")),
        users=10,
        buyers=100,
        disputes=50,
        monthly_price=Decimal("990"),
        lookup_key="accord_starter_monthly",
    ),
    Plan(
        "growth",
        Translatable(_("Growth")),
        users=25,
        buyers=1000,
        disputes=300,
        monthly_price=Decimal("2990"),
        lookup_key="accord_growth_monthly",
    ),
    Plan(
        "scale",
        Translatable(_("Scale")),
        users=100,
        buyers=None,
        disputes=None,
        monthly_price=Decimal("7990"),
        lookup_key="accord_scale_monthly",
    ),
)

PLANS: dict[str, Plan] = {plan.code: plan for plan in (FOUNDING, TRIAL, *PAID_PLANS)}


def paid_plan(code: str | None) -> Plan | None:
    plan = PLANS.get(code or "")
    return plan if plan is not None and plan.paid else None


def plan_of_lookup_key(lookup_key: str | None) -> Plan | None:
    return next((plan for plan in PAID_PLANS if lookup_key and plan.lookup_key == lookup_key), None)


def effective_plan(row_plan: str | None, status: str | None) -> Plan:
    """The plan whose limits apply to a tenant, from its subscription row (None: no row). See the module."""
    if row_plan is None or row_plan == FOUNDING.code:
        return FOUNDING
    plan = PLANS.get(row_plan, TRIAL)
    if not plan.paid:
        return TRIAL
    return plan if status in LIVE_STATUSES else TRIAL
