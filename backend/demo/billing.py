"""Demo billing: the first supplier pays for Growth (its subscription as Stripe's webhook would have told
it), the second is on the trial with its team at the trial's size, so the console's banner shows."""

from __future__ import annotations

import time

from backend.auth.principal import Principal, job_principal
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.payments import plans, subscriptions
from backend.payments.events import TENANT_METADATA

PLAN_OF = {"huadong-precision": "growth", "nordlicht-components": "trial"}


def _subscription_event(tenant_id: TenantId, slug: str, plan: plans.Plan) -> dict:
    now = int(time.time())
    subscription = {
        "id": f"sub_demo_{slug}",
        "object": "subscription",
        "customer": f"cus_demo_{slug}",
        "status": "active",
        "cancel_at_period_end": False,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_demo_{slug}",
                    "price": {"id": f"price_demo_{plan.code}", "object": "price", "lookup_key": plan.lookup_key},
                    "current_period_end": now + 18 * 86400,
                }
            ],
        },
        "metadata": {TENANT_METADATA: str(tenant_id), subscriptions.PLAN_METADATA: plan.code},
    }
    return {
        "id": f"evt_demo_{slug}",
        "object": "event",
        "type": "customer.subscription.created",
        "created": now,
        "data": {"object": subscription},
    }


async def seed_billing(tenant_id: TenantId, supplier: dict, owner: Principal) -> None:
    """After the rest of the supplier's data, so the trial's limits never stand in the seed's way."""
    plan = plans.PLANS[PLAN_OF.get(supplier["slug"], "trial")]
    async with tenant_unit_of_work(tenant_id) as session:
        if plan.paid:
            event = _subscription_event(tenant_id, supplier["slug"], plan)
            await subscriptions.apply_subscription_event(session, job_principal(tenant_id, "demo"), event)
        else:
            await subscriptions.start_trial(session, owner)
