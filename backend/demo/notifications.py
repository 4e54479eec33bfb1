"""Notifications in the demo: a few unread notices for the team and for the buyers' invited contacts.

They are what the escalation sweep would have told people about the demo's open cases in the last
two days. They are written as notices only, with no e-mail queued: `make run` should not fill var/mail.
"""

from __future__ import annotations

from datetime import timedelta

from backend.auth.principal import Principal
from backend.buyers.repository import BuyerRepository
from backend.db.base import utcnow
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.disputes import service as disputes
from backend.disputes.models import ACTIVE_STATES
from backend.disputes.repository import CaseFilter
from backend.notifications import kinds
from backend.notifications.models import Notice, RecipientKind


async def seed_notifications(tenant_id: TenantId, supplier: dict, principal: Principal) -> None:
    now = utcnow()
    async with tenant_unit_of_work(tenant_id) as session:
        _total, rows = await disputes.list_cases(session, principal, CaseFilter(), limit=50)
        cases = [case for case, _buyer in rows if case.state in ACTIVE_STATES][:5]
        notices: list[tuple[str, str, object, object, dict]] = []
        for position, case in enumerate(cases):
            due = (now + timedelta(days=2 + position)).date().isoformat()
            team = {principal.id, *([case.owner_user_id] if case.owner_user_id else [])}
            for user_id in team:
                notices.append(
                    (RecipientKind.USER.value, "case.reminder_owner", user_id, case, {"timer": "respond", "due_on": due})
                )
                if position == 0:
                    notices.append((RecipientKind.USER.value, "case.escalated", user_id, case, {"level": 1}))
                if position == 1:
                    notices.append((RecipientKind.USER.value, "case.breached", user_id, case, {"timer": "acknowledge"}))
            for contact in await BuyerRepository(session).contacts(case.buyer_id):
                if contact.portal_open:
                    notices.append(
                        (
                            RecipientKind.CONTACT.value,
                            "case.reminder_buyer",
                            contact.id,
                            case,
                            {"supplier": supplier["name"], "due_on": due},
                        )
                    )
        for age, (recipient_kind, kind, recipient_id, case, params) in enumerate(notices):
            session.add(
                Notice(
                    recipient_kind=recipient_kind,
                    recipient_id=recipient_id,
                    kind=kind,
                    case_id=case.id,
                    params=kinds.check(kind, {"case_number": case.number, **params}),
                    created_at=now - timedelta(hours=2 * age + 1),
                    # The two oldest were read already (in a full demo); the rest wait in the bell.
                    read_at=now if len(notices) > 5 and age >= len(notices) - 2 else None,
                )
            )
