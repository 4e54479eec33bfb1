"""Case timers: the tenant's service levels turned into dated steps, and the steps taken when they come.

Every case in progress runs a few timers, each started by something on the case (its anchor):

| timer | while | counted | steps |
|---|---|---|---|
| acknowledge | open | business days from the day raised | remind, breach, level 2, level 3 |
| evaluate | open, acknowledged, under review | business days from the day raised (or reopened) | same |
| agree | before agreement | same | same |
| respond | the buyer spoke last | business days from the buyer's message or answer | same |
| phase | before resolution | business days in the phase | remind, move on (early, middle) or breach (late) |
| buyer | a question or offer waits for the buyer | business days | two reminders to the buyer |
| hard_deadline | a calendar deadline is set | calendar time | notice, breach (straight to the team lead) |
| escalation | before agreement | calendar days from the day raised | legal collection or a claim put forward |
| instalment | a resolved case's plan | calendar days, then business days of grace | remind twice, missed, plan broken |

A breach raises the case to level 1 (its owner); two business days later to level 2 (the team lead:
the tenant's administrators, or its owners when it has none); five to level 3 (the credit managers).

The case keeps the time of its next step (`next_timer_at`, recomputed whenever the case changes), the
sweep turns due cases into one job each, and the job takes every step that has come, once: the step
is recorded under a unique key before it acts, so a repeated sweep or a redelivered job does nothing
twice. A reminder whose later step has come as well is passed over (recorded, not sent).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.db.base import utcnow
from backend.disputes import holds
from backend.disputes.calendar import Calendar
from backend.disputes.models import (
    ACTIVE_STATES,
    DisputeCase,
    DisputeEvent,
    DisputePhase,
    DisputeSettings,
    DisputeState,
    Instalment,
)
from backend.disputes.repository import DisputeRepository
from backend.disputes.states import check_move
from backend.disputes.timers_repository import Activity, AllTenantsTimerRepository, TimerRepository
from backend.errors import Conflict
from backend.i18n import _
from backend.notifications.notify import notify
from backend.tenants.models import Role

log = logging.getLogger("accord.disputes")

RUN_ACTOR = "disputes.run_timers"
SWEEP_ACTOR = "disputes.sweep_timers"

S = DisputeState
PRE_AGREEMENT = frozenset({S.OPEN, S.ACKNOWLEDGED, S.UNDER_REVIEW, S.NEGOTIATING})
EVALUATING = frozenset({S.OPEN, S.ACKNOWLEDGED, S.UNDER_REVIEW})
PHASED = PRE_AGREEMENT | {S.AGREED}
NEXT_PHASE = {DisputePhase.EARLY: DisputePhase.MIDDLE, DisputePhase.MIDDLE: DisputePhase.LATE}

LEVEL_TWO_AFTER = 2  # business days past a missed deadline before the team lead hears of it
LEVEL_THREE_AFTER = 5  # ... and the credit managers
REMINDER_HOUR = 9  # reminders go out at this local hour
INSTALMENT_NOTICE_DAYS = 3  # calendar days before an instalment falls due, the buyer is reminded
ROUTES = ("legal", "claim")

# How the console names a timer and an escalation level.
TIMER_LABELS = {
    "acknowledge": _("Acknowledge the case"),
    "evaluate": _("Finish the evaluation"),
    "respond": _("Answer the buyer"),
    "agree": _("Reach agreement"),
    "phase": _("Negotiation phase limit"),
    "buyer": _("The buyer's answer"),
    "hard_deadline": _("Hard deadline"),
    "escalation": _("Escalation day"),
    "instalment": _("Instalment due"),
}
LEVEL_LABELS = {1: _("the owner"), 2: _("the team lead"), 3: _("the credit managers")}
ROUTE_LABELS = {"legal": _("legal collection"), "claim": _("an insurance claim")}


# --- the tenant's service levels ---------------------------------------------------------------


@dataclass(frozen=True)
class ServiceLevels:
    acknowledge_days: int = 2
    evaluate_days: int = 10
    respond_days: int = 3
    agree_days: int = 30
    phase_early_days: int = 10
    phase_middle_days: int = 20
    phase_late_days: int = 30
    escalation_days: int = 90  # calendar days
    escalation_route: str = "legal"
    deadline_notice_days: int = 3  # calendar days
    instalment_grace_days: int = 3

    def phase_days(self, phase: DisputePhase) -> int:
        return {
            DisputePhase.EARLY: self.phase_early_days,
            DisputePhase.MIDDLE: self.phase_middle_days,
            DisputePhase.LATE: self.phase_late_days,
        }[phase]


LEVEL_FIELDS = tuple(name for name in ServiceLevels.__dataclass_fields__ if name not in ("escalation_route",))


def service_levels(settings: DisputeSettings) -> ServiceLevels:
    """The tenant's levels; the defaults for what is not stored yet."""
    defaults = ServiceLevels()
    values = {name: getattr(settings, name, None) or getattr(defaults, name) for name in ServiceLevels.__dataclass_fields__}
    return ServiceLevels(**values)


# --- planning: the steps a case's timers call for ------------------------------------------------


@dataclass(frozen=True)
class Step:
    timer: str
    anchor: str
    step: str
    due_at: datetime
    reminder: bool = False  # passed over when a later step of the same timer has come too
    deadline: date | None = None  # the day the timer runs out, as told to people
    ref: str | None = None  # the instalment a step is about

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.timer, self.anchor, self.step)


@dataclass
class Facts:
    case: DisputeCase
    calendar: Calendar
    levels: ServiceLevels
    started_on: date  # the day the buyer raised the case, or the day it was last reopened
    activity: Activity | None
    instalments: Sequence[Instalment]


def _service_level(timer: str, anchor: str, since: date, days: int, calendar: Calendar) -> list[Step]:
    deadline = calendar.add_business_days(since, days)
    remind_on = calendar.add_business_days(since, days - 1) if days > 1 else deadline
    return [
        Step(timer, anchor, "remind", calendar.start_of(remind_on, REMINDER_HOUR), reminder=True, deadline=deadline),
        Step(timer, anchor, "breach", calendar.end_of(deadline), deadline=deadline),
        Step(timer, anchor, "level_2", calendar.end_of(calendar.add_business_days(deadline, LEVEL_TWO_AFTER)), deadline=deadline),
        Step(
            timer, anchor, "level_3", calendar.end_of(calendar.add_business_days(deadline, LEVEL_THREE_AFTER)), deadline=deadline
        ),
    ]


def plan(facts: Facts) -> list[Step]:
    """Every step the case's running timers call for, taken or not; nothing depends on the clock."""
    case, calendar, levels = facts.case, facts.calendar, facts.levels
    started, anchor = facts.started_on, facts.started_on.isoformat()
    steps: list[Step] = []
    if case.state is S.OPEN:
        steps += _service_level("acknowledge", anchor, started, levels.acknowledge_days, calendar)
    if case.state in EVALUATING:
        steps += _service_level("evaluate", anchor, started, levels.evaluate_days, calendar)
    if case.state in PRE_AGREEMENT:
        steps += _service_level("agree", anchor, started, levels.agree_days, calendar)
        if case.escalation_proposal is None:
            day = started + timedelta(days=levels.escalation_days)
            steps.append(Step("escalation", anchor, "propose", calendar.start_of(day), deadline=day))
    activity = facts.activity
    if case.state in ACTIVE_STATES and activity is not None:
        spoke = activity.buyer_spoke
        if spoke is not None and (activity.team_spoke_at is None or spoke[1] > activity.team_spoke_at):
            steps += _service_level("respond", spoke[0], calendar.local_date(spoke[1]), levels.respond_days, calendar)
        if activity.waits_on_buyer is not None:
            waiting, since = activity.waits_on_buyer[0], calendar.local_date(activity.waits_on_buyer[1])
            days = levels.respond_days
            for number in (1, 2):
                steps.append(
                    Step(
                        "buyer",
                        waiting,
                        f"remind_{number}",
                        calendar.start_of(calendar.add_business_days(since, number * days), REMINDER_HOUR),
                        reminder=number == 1,
                        deadline=calendar.add_business_days(since, (number + 1) * days),
                    )
                )
    if case.state in PHASED:
        since = calendar.local_date(case.phase_changed_at)
        days = levels.phase_days(case.phase)
        phase_anchor = f"{case.phase.value}:{case.phase_changed_at:%Y%m%dT%H%M%S}"
        deadline = calendar.add_business_days(since, days)
        remind_on = calendar.add_business_days(since, days - 1) if days > 1 else deadline
        steps.append(
            Step("phase", phase_anchor, "remind", calendar.start_of(remind_on, REMINDER_HOUR), reminder=True, deadline=deadline)
        )
        last = "breach" if case.phase is DisputePhase.LATE else "advance"
        steps.append(Step("phase", phase_anchor, last, calendar.end_of(deadline), deadline=deadline))
    if case.hard_deadline_at is not None and case.state in ACTIVE_STATES:
        at = case.hard_deadline_at
        day = calendar.local_date(at)
        hard_anchor = f"{at:%Y%m%dT%H%M%S}"
        notice_at = at - timedelta(days=levels.deadline_notice_days)
        steps.append(Step("hard_deadline", hard_anchor, "notice", notice_at, reminder=True, deadline=day))
        steps.append(Step("hard_deadline", hard_anchor, "breach", at, deadline=day))
    if case.state is S.RESOLVED and case.plan_broken_at is None:
        grace = levels.instalment_grace_days
        for instalment in facts.instalments:
            if not _unpaid(instalment):
                continue
            instalment_anchor, ref = f"instalment:{instalment.id}", str(instalment.id)
            due = instalment.due_on
            if instalment.status == "due":
                before = calendar.start_of(due - timedelta(days=INSTALMENT_NOTICE_DAYS), REMINDER_HOUR)
                on_the_day = calendar.start_of(due, REMINDER_HOUR)
                missed_at = calendar.end_of(calendar.add_business_days(due, grace))
                steps += [
                    Step("instalment", instalment_anchor, "remind_before", before, reminder=True, deadline=due, ref=ref),
                    Step("instalment", instalment_anchor, "remind_due", on_the_day, reminder=True, deadline=due, ref=ref),
                    Step("instalment", instalment_anchor, "missed", missed_at, deadline=due, ref=ref),
                ]
            broken_at = calendar.end_of(calendar.add_business_days(due, 2 * grace))
            steps.append(Step("instalment", instalment_anchor, "break", broken_at, deadline=due, ref=ref))
    return steps


def _unpaid(instalment: Instalment) -> bool:
    return instalment.status in ("due", "missed") and instalment.paid_amount < instalment.amount


# --- reading the facts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    calendar: Calendar
    levels: ServiceLevels
    supplier: str


async def _context(session: AsyncSession, tenant_id: uuid.UUID) -> _Context:
    """The case's tenant's calendar and levels, read once per transaction."""
    contexts = session.info.setdefault("timers.context", {})
    if tenant_id in contexts:
        return contexts[tenant_id]
    tenant = await TimerRepository(session).tenant(tenant_id)
    context = _Context(
        Calendar(tenant.country if tenant else "CN", tenant.time_zone if tenant else "UTC"),
        service_levels(await TimerRepository(session).settings(tenant_id) or DisputeSettings()),
        tenant.name if tenant else "",
    )
    contexts[tenant_id] = context
    return context


def forget_context(session: AsyncSession) -> None:
    session.info.pop("timers.context", None)


async def _facts(session: AsyncSession, case: DisputeCase) -> Facts:
    context = await _context(session, case.tenant_id)
    disputes = DisputeRepository(session)
    started = case.opened_on
    activity = None
    instalments: Sequence[Instalment] = ()
    if case.state in ACTIVE_STATES:
        reopened = await disputes.last_reopened_at(case.id)
        if reopened is not None:
            started = max(started, context.calendar.local_date(reopened))
        activity = await TimerRepository(session).activity(case.id, offer_open=case.state is S.NEGOTIATING)
    elif case.state is S.RESOLVED and case.plan_broken_at is None:
        instalments = await disputes.instalments(case.id)
    return Facts(case, context.calendar, context.levels, started, activity, instalments)


async def refresh(session: AsyncSession, case: DisputeCase) -> Step | None:
    """Store the case's next step to come (none: nothing to watch); called whenever the case changes."""
    facts = await _facts(session, case)
    taken = await TimerRepository(session).taken(case.id) if case.state in ACTIVE_STATES or facts.instalments else set()
    upcoming = [step for step in plan(facts) if step.key not in taken]
    following = min(upcoming, key=lambda step: step.due_at) if upcoming else None
    at, timer = (following.due_at, following.timer) if following else (None, None)
    if (case.next_timer_at, case.next_timer) != (at, timer):
        await TimerRepository(session).set_next(case.id, at, timer)
    return following


async def refresh_case(session: AsyncSession, case_id: uuid.UUID) -> None:
    """The hook the disputes service leaves for the end of a transaction that changed the case."""
    case = await DisputeRepository(session).get(case_id)
    if case is not None:
        await refresh(session, case)


def refresh_at_commit(session: AsyncSession, case_id: uuid.UUID) -> None:
    """Recompute the case's next step once, just before this transaction commits (after all its changes)."""
    from backend.db.uow import before_commit

    async def hook(session: AsyncSession) -> None:
        await refresh_case(session, case_id)

    before_commit(session, f"timers:{case_id}", hook)


async def upcoming_steps(session: AsyncSession, case: DisputeCase) -> list[Step]:
    """The steps still to come on the case, soonest first (what the case page shows)."""
    facts = await _facts(session, case)
    taken = await TimerRepository(session).taken(case.id)
    return sorted((step for step in plan(facts) if step.key not in taken), key=lambda step: step.due_at)


# --- the sweep and the per-case job ---------------------------------------------------------------


# A case's job queued this long ago that has not run (lost, or failing) is queued again by the sweep,
# up to MAX_JOB_ATTEMPTS times in a row; then the case is given up on and the error said loudly.
JOB_LEASE = timedelta(minutes=30)
MAX_JOB_ATTEMPTS = 5


async def sweep(session: AsyncSession, now: datetime) -> int:
    """Across tenants (an all-tenants unit of work): one job per case whose next step has come and that
    has no job queued already."""
    repository = AllTenantsTimerRepository(session)
    for tenant_id, case_id, number in await repository.give_up(now, MAX_JOB_ATTEMPTS):
        log.error(
            "case %s (%s, tenant %s): its timer job was queued %d times and never finished; the sweep gives up on it "
            "until the case changes",
            number,
            case_id,
            tenant_id,
            MAX_JOB_ATTEMPTS,
        )
    return await repository.enqueue_due(now, RUN_ACTOR, until=now + JOB_LEASE, max_attempts=MAX_JOB_ATTEMPTS)


async def run_case(session: AsyncSession, principal: Principal, case_id: uuid.UUID, now: datetime) -> list[tuple[str, str]]:
    """Take every step of the case's timers that has come by `now`, each once; (timer, step) of those acted on."""
    case = await DisputeRepository(session).get(case_id, for_update=True)
    if case is None:
        return []
    timers = TimerRepository(session)
    await timers.job_ran(case.id)
    if case.next_timer_at is None or case.next_timer_at > now:
        return []  # a repeated job, or the case moved on since the sweep
    acted: list[tuple[str, str]] = []
    # An action can start a timer (a phase entered, a plan broken and the case reopened): look again.
    for _round in range(5):
        facts = await _facts(session, case)
        if facts.instalments:
            await _cover_from_ledger(session, principal, facts, now)
        taken = await timers.taken(case.id)
        due = sorted((s for s in plan(facts) if s.key not in taken and s.due_at <= now), key=lambda s: s.due_at)
        if not due:
            break
        for step in due:
            superseded = step.reminder and any(
                other.timer == step.timer and other.anchor == step.anchor and other.due_at > step.due_at for other in due
            )
            if not await timers.take(
                case.id, step.timer, step.anchor, step.step, due_at=step.due_at, now=now, skipped=superseded
            ):
                continue
            if not superseded:
                await _act(session, principal, facts, step, now)
                acted.append((step.timer, step.step))
        await session.flush()
    await refresh(session, case)
    return acted


# --- the actions ------------------------------------------------------------------------------------


def _record(
    session: AsyncSession,
    principal: Principal,
    case: DisputeCase,
    kind: str,
    now: datetime,
    *,
    before: dict | None = None,
    after: dict | None = None,
    **data,
) -> None:
    """The action on the case's timeline (for the team, at the job's clock) and in the audit trail."""
    data = {key: value for key, value in data.items() if value is not None}
    session.add(DisputeEvent(case_id=case.id, kind=kind, actor=principal.label, external=False, data=data, at=now))
    audit.record(session, principal.actor(), f"dispute.{kind}", "dispute", case.id, before=before, after=after or data)


async def _owner_side(session: AsyncSession, case: DisputeCase) -> list[uuid.UUID]:
    """The case's owner while an active member; otherwise the team lead hears in their place."""
    if case.owner_user_id and await DisputeRepository(session).active_member_ids([case.owner_user_id]):
        return [case.owner_user_id]
    return await _team_leads(session)


async def _team_leads(session: AsyncSession) -> list[uuid.UUID]:
    timers = TimerRepository(session)
    return await timers.members_in_roles([Role.ADMIN]) or await timers.members_in_roles([Role.OWNER])


async def _credit_managers(session: AsyncSession) -> list[uuid.UUID]:
    timers = TimerRepository(session)
    return await timers.members_in_roles([Role.CREDIT_MANAGER]) or await timers.members_in_roles([Role.OWNER])


async def _buyer_contacts(session: AsyncSession, case: DisputeCase) -> list[uuid.UUID]:
    from backend.buyers.repository import BuyerRepository

    return [contact.id for contact in await BuyerRepository(session).contacts(case.buyer_id)]


async def _raise_level(
    session: AsyncSession, principal: Principal, case: DisputeCase, level: int, timer: str, now: datetime
) -> bool:
    """Raise the case to `level` and tell who it now rests with (1: its owner, 2: the team lead,
    3: the credit managers); nothing when it is there already."""
    if case.escalation_level >= level:
        return False
    before = {"escalation_level": case.escalation_level}
    case.escalation_level = level
    _record(
        session, principal, case, "escalated", now, before=before, after={"escalation_level": level}, level=level, timer=timer
    )
    if level == 1:
        return True  # the owner, just told of the breach that raised it
    people = await _team_leads(session) if level == 2 else await _credit_managers(session)
    await notify(
        session, kind="case.escalated", case_id=case.id, user_ids=people, params={"case_number": case.number, "level": level}
    )
    return True


async def _act(session: AsyncSession, principal: Principal, facts: Facts, step: Step, now: datetime) -> None:
    case = facts.case
    deadline = step.deadline.isoformat() if step.deadline else None
    if step.timer == "buyer":
        await _remind_buyer(session, principal, facts, step, now)
    elif step.timer == "escalation":
        await _propose_escalation(session, principal, facts, now)
    elif step.timer == "instalment":
        await _instalment_step(session, principal, facts, step, now)
    elif step.step == "remind":
        _record(session, principal, case, "timer_reminder", now, timer=step.timer, due_on=deadline)
        await notify(
            session,
            kind="case.reminder_owner",
            case_id=case.id,
            user_ids=await _owner_side(session, case),
            params={"case_number": case.number, "timer": step.timer, "due_on": deadline},
        )
    elif step.step == "notice":  # a hard deadline coming
        _record(session, principal, case, "deadline_near", now, deadline=deadline)
        await notify(
            session,
            kind="case.deadline_near",
            case_id=case.id,
            user_ids=await _owner_side(session, case),
            params={"case_number": case.number, "deadline": deadline},
        )
    elif step.step == "breach":
        _record(session, principal, case, "service_level_breached", now, timer=step.timer, due_on=deadline)
        await notify(
            session,
            kind="case.breached",
            case_id=case.id,
            user_ids=await _owner_side(session, case),
            params={"case_number": case.number, "timer": step.timer},
        )
        await _raise_level(session, principal, case, 1, step.timer, now)
        if step.timer == "hard_deadline":
            # A deadline that is not the tenant's to move goes straight to the team lead.
            await _raise_level(session, principal, case, 2, step.timer, now)
    elif step.step in ("level_2", "level_3"):
        await _raise_level(session, principal, case, int(step.step[-1]), step.timer, now)
    elif step.step == "advance":
        before = {"phase": case.phase.value}
        case.phase = NEXT_PHASE[case.phase]
        case.phase_changed_at = now
        _record(
            session,
            principal,
            case,
            "phase_changed",
            now,
            before=before,
            after={"phase": case.phase.value},
            phase=case.phase.value,
        )
    else:  # pragma: no cover - plan() makes no other step
        raise ValueError(f"no action for {step.key}")


async def _remind_buyer(session: AsyncSession, principal: Principal, facts: Facts, step: Step, now: datetime) -> None:
    case = facts.case
    context = await _context(session, case.tenant_id)
    _record(session, principal, case, "buyer_reminded", now, about=step.anchor.split(":", 1)[0], due_on=step.deadline.isoformat())
    await notify(
        session,
        kind="case.reminder_buyer",
        case_id=case.id,
        contact_ids=await _buyer_contacts(session, case),
        params={"case_number": case.number, "supplier": context.supplier, "due_on": step.deadline.isoformat()},
    )


async def _propose_escalation(session: AsyncSession, principal: Principal, facts: Facts, now: datetime) -> None:
    """Put legal collection or a claim (the tenant's choice) before the team; the case stays where it is."""
    case, levels = facts.case, facts.levels
    route = levels.escalation_route if levels.escalation_route in ROUTES else "legal"
    before = {"escalation_proposal": case.escalation_proposal}
    case.escalation_proposal = route
    _record(
        session,
        principal,
        case,
        "escalation_proposed",
        now,
        before=before,
        after={"escalation_proposal": route},
        route=route,
        days=levels.escalation_days,
    )
    people = list(dict.fromkeys([*await _owner_side(session, case), *await _credit_managers(session)]))
    await notify(
        session,
        kind="case.escalation_proposed",
        case_id=case.id,
        user_ids=people,
        params={"case_number": case.number, "days": levels.escalation_days, "route": route},
    )


async def _instalment_step(session: AsyncSession, principal: Principal, facts: Facts, step: Step, now: datetime) -> None:
    case = facts.case
    instalment = next((i for i in facts.instalments if str(i.id) == step.ref), None)
    if instalment is None or not _unpaid(instalment):
        return
    params = {
        "case_number": case.number,
        "seq": instalment.seq,
        "amount": str(_minor(instalment.amount, case.currency)),
        "currency": case.currency,
        "due_on": instalment.due_on.isoformat(),
    }
    if step.step in ("remind_before", "remind_due"):
        _record(session, principal, case, "instalment_reminded", now, seq=instalment.seq, due_on=params["due_on"])
        await notify(
            session, kind="instalment.reminder", case_id=case.id, contact_ids=await _buyer_contacts(session, case), params=params
        )
        return
    if step.step == "missed" and instalment.status == "due":
        instalment.status = "missed"
        _record(
            session,
            principal,
            case,
            "instalment_missed",
            now,
            before={"seq": instalment.seq, "status": "due"},
            after={"seq": instalment.seq, "status": "missed"},
            seq=instalment.seq,
            amount=params["amount"],
            due_on=params["due_on"],
        )
        await notify(session, kind="instalment.missed", case_id=case.id, user_ids=await _owner_side(session, case), params=params)
        if sum(1 for i in facts.instalments if i.status == "missed") >= 2:
            await _break_plan(session, principal, facts, now, reason="second_miss")
        return
    if step.step == "break":
        await _break_plan(session, principal, facts, now, reason="unpaid_past_grace")


async def _cover_from_ledger(session: AsyncSession, principal: Principal, facts: Facts, now: datetime) -> None:
    """What the ledger holds as paid towards the plan since the agreement covers the instalments in the
    order they fall due: only the Checkout path marks an instalment paid, and a transfer entered by hand
    must not be reminded, missed or break the plan. Each instalment it newly covers is recorded."""
    case = facts.case
    paid = await TimerRepository(session).paid_towards_plan(case.id, case.agreed_option_id)
    # What is already counted on an instalment (a card payment names its instalment) came through the ledger too.
    left = paid - sum((i.paid_amount for i in facts.instalments), Decimal(0))
    for instalment in sorted(facts.instalments, key=lambda i: (i.due_on, i.seq)):
        if left <= 0:
            break
        covered = min(instalment.amount, instalment.paid_amount + left)
        if covered <= instalment.paid_amount:
            continue
        left -= covered - instalment.paid_amount
        before = {"seq": instalment.seq, "paid_amount": str(instalment.paid_amount), "status": instalment.status}
        instalment.paid_amount = covered
        if covered >= instalment.amount:
            instalment.status = "paid"
        after = {"seq": instalment.seq, "paid_amount": str(instalment.paid_amount), "status": instalment.status}
        _record(session, principal, case, "instalment_paid", now, before=before, after=after, seq=instalment.seq, source="ledger")
    await session.flush()


def _minor(amount, currency: str):
    from backend.money import round_money

    return round_money(amount, currency)


async def _break_plan(session: AsyncSession, principal: Principal, facts: Facts, now: datetime, *, reason: str) -> None:
    """The plan is broken: the owner hears, and the case reopens for review (states.py: a resolved case
    goes back to review), holding its invoices again, unless what it disputed is no longer open."""
    from backend.disputes import service as disputes

    case = facts.case
    if case.plan_broken_at is not None:
        return
    case.plan_broken_at = now
    before = disputes.case_view(case)
    reopened = False
    if case.state is S.RESOLVED:
        try:
            await disputes._check_still_disputable(session, case)
        except Conflict:
            pass  # paid, credited or disputed by another case since: nothing is left to reopen
        else:
            check_move(case.state, S.UNDER_REVIEW)
            case.state, case.state_changed_at = S.UNDER_REVIEW, now
            case.outcome, case.closed_at, case.agreed_option_id = None, None, None
            case.phase, case.phase_changed_at = DisputePhase.MIDDLE, now
            reopened = True
    await session.flush()
    _record(session, principal, case, "plan_broken", now, reason=reason, reopened=reopened)
    if reopened:
        await holds.rehold(session, await disputes._invoice_ids(session, case))
        _record(session, principal, case, "reopened", now, before=before, after=disputes.case_view(case), state=case.state.value)
    people = list(dict.fromkeys([*await _owner_side(session, case), *await _team_leads(session)]))
    await notify(session, kind="plan.broken", case_id=case.id, user_ids=people, params={"case_number": case.number})


# --- the tenant's settings changed ------------------------------------------------------------------


async def levels_changed(session: AsyncSession, now: datetime | None = None) -> int:
    """New service levels apply to every case at the next sweep, which looks at each case again."""
    forget_context(session)
    return await TimerRepository(session).watch_again(now or utcnow())
