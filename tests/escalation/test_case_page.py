"""The console case page shows where a case stands on its timers: the next deadline, the escalation level,
the escalation Accord proposes, and each timer step on the timeline in words; another supplier finds none of it."""

from __future__ import annotations

from datetime import timedelta

from backend.disputes.service import ItemInput
from tests.conftest import sign_in
from tests.disputes.helpers import open_case
from tests.escalation.helpers import tick
from tests.escalation.test_case_timers import shanghai
from tests.factories import make_buyer, make_invoice


async def test_the_case_page_shows_the_next_deadline_the_level_and_the_proposed_escalation(client, world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    calendar = shanghai()
    await sign_in(client, world.a.finance)
    page = await client.get(f"/console/disputes/{case.id}")
    assert page.status_code == 200 and 'id="next-deadline"' in page.text and "Acknowledge the case" in page.text
    assert 'id="escalation-level"' not in page.text

    await tick(world.a, calendar.start_of(case.opened_on + timedelta(days=90)))
    page = await client.get(f"/console/disputes/{case.id}")
    assert 'id="escalation-level"' in page.text and "Escalation level 3: the credit managers" in page.text
    assert 'id="escalation-proposal"' in page.text and "legal collection" in page.text
    assert "Service level missed" in page.text and "Escalation proposed" in page.text and "Level 2: the team lead" in page.text

    chinese = await client.get(f"/console/disputes/{case.id}", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 200

    await sign_in(client, world.b.finance)
    foreign = await client.get(f"/console/disputes/{case.id}")
    assert foreign.status_code == 404 and case.number not in foreign.text
