"""The tenant's service levels: defaults, changed through the API and the console settings page by those
who approve credits, refused beside the named field with nothing changed, audited, and followed by the
cases in progress from the next sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.disputes import settings
from backend.disputes.service import ItemInput
from backend.errors import PermissionDenied
from tests.conftest import bearer, csrf_token, sign_in
from tests.disputes.helpers import open_case, uow
from tests.disputes.test_settings import join
from tests.escalation.helpers import case_of, tick
from tests.escalation.test_case_timers import shanghai
from tests.factories import make_buyer, make_invoice, owner_of

API = "/api/v1/dispute-settings/service-levels"
PAGE = "/console/dispute-settings"
DEFAULTS = {
    "acknowledge_days": 2,
    "evaluate_days": 10,
    "respond_days": 3,
    "agree_days": 30,
    "phase_early_days": 10,
    "phase_middle_days": 20,
    "phase_late_days": 30,
    "deadline_notice_days": 3,
    "instalment_grace_days": 3,
    "escalation_route": "legal",
}


async def _levels(supplier):
    async with uow(supplier) as session:
        return await settings.get_service_levels(session, owner_of(supplier))


async def test_the_api_shows_the_defaults_and_replaces_them_with_an_audit_entry(client, world):
    shown = await client.get(API, headers=bearer(world.a.api_key))
    assert shown.status_code == 200 and shown.json() == {**DEFAULTS, "escalation_days": 90}
    changed = {**DEFAULTS, "acknowledge_days": 1, "agree_days": 20, "escalation_route": "claim"}
    saved = await client.put(API, json=changed, headers=bearer(world.a.api_key))
    assert saved.status_code == 200 and saved.json()["agree_days"] == 20 and saved.json()["escalation_route"] == "claim"
    levels = await _levels(world.a)
    assert (levels.acknowledge_days, levels.agree_days, levels.escalation_route) == (1, 20, "claim")
    async with uow(world.a) as session:
        entry = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "dispute_settings.service_levels_changed"))
        ).one()
    assert entry.before["agree_days"] == 30 and entry.after["agree_days"] == 20
    # Charlie's tenant keeps its own defaults.
    assert (await client.get(API, headers=bearer(world.b.api_key))).json()["agree_days"] == 30


async def test_bad_levels_are_refused_naming_the_field_and_nothing_changes(client, world):
    for field, value in (
        ("acknowledge_days", 0),
        ("agree_days", 400),
        ("deadline_notice_days", 31),
        ("escalation_route", "court"),
    ):
        refused = await client.put(API, json={**DEFAULTS, field: value}, headers=bearer(world.a.api_key))
        assert refused.status_code == 422, (field, refused.text)
        assert field in refused.text
    wrong_type = await client.put(API, json={**DEFAULTS, "respond_days": "three"}, headers=bearer(world.a.api_key))
    assert wrong_type.status_code == 400 and "respond_days" in wrong_type.text
    assert await _levels(world.a) == await _levels(world.b)


async def test_a_collector_reads_the_levels_but_cannot_change_them(world):
    collector = await join(world.a, "Dana")
    async with uow(world.a) as session:
        assert (await settings.get_service_levels(session, collector.principal)).respond_days == 3
    with pytest.raises(PermissionDenied):
        async with uow(world.a) as session:
            await settings.update_service_levels(session, collector.principal, {**DEFAULTS, "respond_days": 5})
    assert (await _levels(world.a)).respond_days == 3


async def test_the_console_form_saves_the_levels_and_keeps_what_was_typed_when_refused(client, world):
    await sign_in(client, world.a.finance)
    page = await client.get(PAGE)
    assert page.status_code == 200 and 'id="levels"' in page.text and 'name="acknowledge_days"' in page.text
    token = await csrf_token(client, PAGE)
    form = {key: str(value) for key, value in DEFAULTS.items()}
    saved = await client.post(
        f"{PAGE}/service-levels", data={**form, "respond_days": "5", "_csrf_token": token}, follow_redirects=False
    )
    assert (saved.status_code, saved.headers["location"]) == (303, f"{PAGE}?saved=levels#levels")
    assert (await _levels(world.a)).respond_days == 5
    refused = await client.post(
        f"{PAGE}/service-levels",
        data={**form, "respond_days": "7", "evaluate_days": "99", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 422 and 'id="level-evaluate_days-error"' in refused.text and 'value="99"' in refused.text
    assert (await _levels(world.a)).respond_days == 5  # nothing of the refused form was kept


async def test_shorter_levels_apply_to_cases_in_progress_at_the_next_sweep(client, world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="100.00")])
    calendar = shanghai()
    one_day = calendar.end_of(calendar.add_business_days(case.opened_on, 1))
    assert ("acknowledge", "breach") not in await tick(world.a, one_day)
    saved = await client.put(API, json={**DEFAULTS, "acknowledge_days": 1}, headers=bearer(world.a.api_key))
    assert saved.status_code == 200
    assert ("acknowledge", "breach") in await tick(world.a, one_day + timedelta(minutes=1))
    assert (await case_of(world.a, case.id)).escalation_level == 1


async def test_a_collaborator_cannot_post_the_service_levels_form_and_nothing_changes(client, world):
    await sign_in(client, world.a.collaborator)
    page = await client.get(PAGE)
    assert page.status_code == 200 and 'action="/console/dispute-settings/service-levels"' not in page.text
    token = await csrf_token(client, PAGE)
    form = {key: str(value) for key, value in DEFAULTS.items()}
    refused = await client.post(f"{PAGE}/service-levels", data={**form, "agree_days": "5", "_csrf_token": token})
    assert refused.status_code in (403, 404)
    assert (await _levels(world.a)).agree_days == 30


async def test_one_session_across_tenants_reads_each_cases_own_service_levels(client, world):
    """The sweep's side runs across tenants: each case's deadlines follow its own tenant's levels."""
    from backend.db.uow import all_tenants_unit_of_work
    from backend.disputes import timers
    from backend.disputes.repository import DisputeRepository

    cases = {}
    for supplier, days in ((world.a, 1), (world.b, 5)):
        saved = await client.put(API, json={**DEFAULTS, "acknowledge_days": days}, headers=bearer(supplier.api_key))
        assert saved.status_code == 200
        buyer_id = await make_buyer(supplier)
        invoice = await make_invoice(supplier, buyer_id)
        cases[days] = await open_case(supplier, buyer_id, [ItemInput(invoice.id, amount="100.00")])
    calendar = shanghai()
    for order in ((1, 5), (5, 1)):  # whichever tenant's case comes first
        async with all_tenants_unit_of_work("test: timers across tenants") as session:
            for days in order:
                case = await DisputeRepository(session).get(cases[days].id)
                steps = await timers.upcoming_steps(session, case)
                breach = next(s for s in steps if (s.timer, s.step) == ("acknowledge", "breach"))
                assert breach.deadline == calendar.add_business_days(case.opened_on, days)
