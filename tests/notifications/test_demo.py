"""The demo leaves unread notifications for the team and the buyers' invited contacts, and no e-mail."""

from __future__ import annotations

from backend.db.tenancy import TenantId
from backend.demo.notifications import seed_notifications
from backend.disputes.service import ItemInput
from tests.buyer_portal.helpers import invited_contact
from tests.disputes.helpers import open_case
from tests.factories import make_buyer, make_invoice, owner_of
from tests.notifications.helpers import mails_of, notices_of


async def test_the_demo_leaves_unread_notices_for_the_owner_and_the_invited_contact(world):
    buyer_id = await make_buyer(world.a)
    contact = await invited_contact(world.a, buyer_id, "demo.reader@buyer.example")
    case = await open_case(world.a, buyer_id, [ItemInput((await make_invoice(world.a, buyer_id)).id, amount="100.00")])
    await seed_notifications(TenantId(world.a.tenant_id), {"name": world.a.name}, owner_of(world.a))
    notices = await notices_of(world.a)
    unread = {(n.recipient_kind, n.recipient_id) for n in notices if n.read_at is None}
    assert ("user", world.a.finance.user_id) in unread and ("contact", contact) in unread
    assert all(n.case_id == case.id and n.params["case_number"] == case.number for n in notices)
    assert await mails_of(world.a) == []
