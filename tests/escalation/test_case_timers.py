"""A case walked through its timers with an injected clock: each reminder, breach, escalation level and
phase change happens once, however often the sweep runs and however often a job is delivered."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from backend.disputes import service as disputes
from backend.disputes.calendar import Calendar
from backend.disputes.models import DisputePhase, DisputeState
from backend.disputes.service import ItemInput
from tests.disputes.helpers import open_case, uow
from tests.escalation.helpers import case_of, event_kinds, events, notice_count, notices, tick
from tests.factories import make_buyer, make_invoice, owner_of

SECOND = timedelta(seconds=1)


def shanghai() -> Calendar:
    return Calendar("CN", "Asia/Shanghai")  # a new tenant's calendar


async def _case(supplier):
    buyer_id = await make_buyer(supplier)
    invoice = await make_invoice(supplier, buyer_id)
    return await open_case(supplier, buyer_id, [ItemInput(invoice.id, amount="300.00")])


async def test_a_case_nobody_acknowledges_is_reminded_breached_and_escalated_once_each(world):
    case = await _case(world.a)
    calendar, opened = shanghai(), case.opened_on
    deadline = calendar.add_business_days(opened, 2)
    remind_at = calendar.start_of(calendar.add_business_days(opened, 1), 9)
    breach_at = calendar.end_of(deadline)
    level_2_at = calendar.end_of(calendar.add_business_days(deadline, 2))
    level_3_at = calendar.end_of(calendar.add_business_days(deadline, 5))
    assert (await case_of(world.a, case.id)).next_timer_at == remind_at

    assert await tick(world.a, remind_at - SECOND) == []
    assert await tick(world.a, remind_at) == [("acknowledge", "remind")]
    assert await tick(world.a, remind_at + timedelta(minutes=5)) == []
    owner = world.a.finance.user_id
    [reminder] = [n for n in await notices(world.a, case.id) if n.kind == "case.reminder_owner"]
    assert reminder.recipient_id == owner
    assert reminder.params == {"case_number": case.number, "timer": "acknowledge", "due_on": deadline.isoformat()}

    assert await tick(world.a, breach_at) == [("acknowledge", "breach")]
    breached = await case_of(world.a, case.id)
    assert breached.escalation_level == 1 and breached.state is DisputeState.OPEN
    assert await tick(world.a, level_2_at) == [("acknowledge", "level_2")]
    assert (await case_of(world.a, case.id)).escalation_level == 2
    assert await tick(world.a, level_3_at) == [("acknowledge", "level_3")]
    assert (await case_of(world.a, case.id)).escalation_level == 3
    assert await tick(world.a, level_3_at + timedelta(hours=1)) == []

    kinds = await event_kinds(world.a, case.id)
    assert kinds["timer_reminder"] == 1 and kinds["service_level_breached"] == 1 and kinds["escalated"] == 3
    assert await notice_count(world.a, case.id, "case.breached") == 1
    levels = [n.params["level"] for n in await notices(world.a, case.id) if n.kind == "case.escalated"]
    assert levels == [2, 3]  # level 1 is the owner, told of the breach itself
    [escalated] = await events(world.a, case.id, "service_level_breached")
    assert escalated.actor == "disputes.run_timers" and escalated.data == {"timer": "acknowledge", "due_on": deadline.isoformat()}


async def test_acknowledging_in_time_stops_the_acknowledge_timer(world):
    case = await _case(world.a)
    calendar = shanghai()
    breach_at = calendar.end_of(calendar.add_business_days(case.opened_on, 2))
    async with uow(world.a) as session:
        await disputes.move_case(session, owner_of(world.a), case.id, DisputeState.ACKNOWLEDGED)
    after = await case_of(world.a, case.id)
    # The next step is now the evaluation's reminder, nine business days out.
    assert after.next_timer == "evaluate"
    assert after.next_timer_at == calendar.start_of(calendar.add_business_days(case.opened_on, 9), 9)
    assert await tick(world.a, breach_at) == []
    assert (await case_of(world.a, case.id)).escalation_level == 0


async def test_a_late_sweep_passes_over_the_reminder_it_missed(world):
    case = await _case(world.a)
    calendar = shanghai()
    breach_at = calendar.end_of(calendar.add_business_days(case.opened_on, 2))
    assert await tick(world.a, breach_at) == [("acknowledge", "breach")]
    assert await notice_count(world.a, case.id, "case.reminder_owner") == 0


async def test_the_early_phase_moves_to_the_middle_when_its_limit_passes(world):
    case = await _case(world.a)
    calendar = shanghai()
    phase_day = calendar.add_business_days(calendar.local_date(case.phase_changed_at), 10)
    acted = await tick(world.a, calendar.end_of(phase_day))
    assert ("phase", "advance") in acted
    moved = await case_of(world.a, case.id)
    assert moved.phase is DisputePhase.MIDDLE
    assert await tick(world.a, calendar.end_of(phase_day) + timedelta(minutes=5)) == []
    assert (await event_kinds(world.a, case.id))["phase_changed"] == 1


def test_business_days_skip_weekends_and_the_countrys_public_holidays():
    china, germany, usa = Calendar("CN", "Asia/Shanghai"), Calendar("DE", "Europe/Berlin"), Calendar("US", "America/New_York")
    # Spring Festival 2026: Mon 16 – Mon 23 Feb off; Saturday 14 Feb is a make-up working day.
    assert china.add_business_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert china.add_business_days(date(2026, 2, 14), 1) == date(2026, 2, 24)
    # German Unity Day (Sat 3 Oct 2026 falls on a weekend anyway); Christmas: 24 Dec is a Thursday, 25/26 off.
    assert germany.add_business_days(date(2026, 12, 24), 1) == date(2026, 12, 28)
    # Thanksgiving 2026 is Thursday 26 November.
    assert usa.add_business_days(date(2026, 11, 25), 1) == date(2026, 11, 27)
    assert usa.add_business_days(date(2026, 11, 27), 1) == date(2026, 11, 30)
    # A deadline falls at the end of the local day: midnight in Shanghai is 16:00 UTC the day before.
    assert china.end_of(date(2026, 3, 2)).isoformat() == "2026-03-02T16:00:00+00:00"
    assert Calendar("XX", "Nowhere/City").add_business_days(date(2026, 3, 6), 1) == date(2026, 3, 9)


async def _walk(supplier, case_id, *, limit: int = 60) -> list[tuple[str, str]]:
    """Move the clock from one step of the case's timers to the next until none is left."""
    acted: list[tuple[str, str]] = []
    for _step in range(limit):
        upcoming = (await case_of(supplier, case_id)).next_timer_at
        if upcoming is None:
            break
        acted += await tick(supplier, upcoming)
    return acted


async def test_walking_a_case_through_every_timer_takes_each_step_once(world):
    from backend.buyers import service as buyers
    from backend.disputes.service import OptionInput
    from tests.disputes.helpers import propose

    left_alone = await _case(world.a)
    # The other on Charlie's side, so each walk's clock moves one case only.
    talked = await _case(world.b)
    proposal, _options = await propose(world.b, talked.id, OptionInput(kind="credit_note", amount="100.00", description="x"))
    async with uow(world.b) as session:
        await buyers.add_contact(session, owner_of(world.b), talked.buyer_id, name="Li Na", email="li.na@example.com")
        await disputes.respond_to_proposal(session, owner_of(world.b), proposal.id, "counter", note="More", on_behalf_of="Li Na")
        await disputes.post_message(session, owner_of(world.b), talked.id, body="Which batch?", internal=False, question=True)

    alone = await _walk(world.a, left_alone.id)
    # Each phase has its own limit: a reminder in each, two moves on, and the late phase's breach.
    assert Counter(alone) == {
        **{
            (timer, step): 1
            for timer in ("acknowledge", "evaluate", "agree")
            for step in ("remind", "breach", "level_2", "level_3")
        },
        ("phase", "remind"): 3,
        ("phase", "advance"): 2,
        ("phase", "breach"): 1,
        ("escalation", "propose"): 1,
    }
    assert {timer for timer, _step in alone} == {"acknowledge", "evaluate", "agree", "phase", "escalation"}
    assert ("phase", "advance") in alone and ("phase", "breach") in alone and ("escalation", "propose") in alone
    after = await case_of(world.a, left_alone.id)
    assert after.phase is DisputePhase.LATE and after.escalation_level == 3 and after.escalation_proposal == "legal"
    assert after.state is DisputeState.OPEN and after.next_timer_at is None  # nothing left to watch, nothing moved

    both = await _walk(world.b, talked.id)
    # Offered, so in the middle phase: its reminder, the move to late, the late phase's reminder and breach.
    assert Counter(both) == {
        ("buyer", "remind_1"): 1,
        ("buyer", "remind_2"): 1,
        **{("agree", step): 1 for step in ("remind", "breach", "level_2", "level_3")},
        ("phase", "remind"): 2,
        ("phase", "advance"): 1,
        ("phase", "breach"): 1,
        ("escalation", "propose"): 1,
    }
    # The question came after the counter: the team spoke last, so no time to answer runs.
    assert "respond" not in {timer for timer, _step in both}
    kinds = await event_kinds(world.b, talked.id)
    assert kinds["buyer_reminded"] == 2 and kinds["escalation_proposed"] == 1
