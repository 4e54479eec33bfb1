"""Demo: the escalation timers at work on each supplier's cases.

Four more stories, dated on the supplier's own business calendar so each lands where it should on any
day the demo is seeded: a case nobody acknowledged (its service level missed, raised to its owner), a
buyer's counter-offer left unanswered for six business days (raised to the team lead), a case stuck
without agreement past the escalation day (legal collection put forward), and an instalment plan
whose first instalment went unpaid (the plan broken, the case back in review).

Then every case's timers are replayed from its past to now, step by step, with the job's own service
call at each step's moment: the reminders, breaches, escalation levels and phase changes the stories'
cases would have met land on their timelines on the day they fell due, each once, as the sweep makes
them.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta

from backend.auth.principal import Principal, job_principal
from backend.buyers.repository import BuyerRepository
from backend.db.base import utcnow
from backend.db.tenancy import TenantId
from backend.db.uow import global_unit_of_work, tenant_unit_of_work
from backend.demo.disputes import Ack, Item, Message, Offer, Option, Reply, Resolve, Story, _Director
from backend.disputes import timers
from backend.disputes.calendar import Calendar
from backend.disputes.repository import DisputeRepository
from backend.disputes.timers_repository import TimerRepository
from backend.invoices.repository import InvoiceRepository
from backend.tenants.repository import MembershipRepository, UserRepository

# Steps one case may take in one replay: far more than any demo case needs.
REPLAY_LIMIT = 60


def _stories(chinese: bool, calendar: Calendar, today: date) -> dict[str, Story]:
    """The four stories, each with a placeholder buyer (the seed picks one with an invoice to spare)."""

    def ago(day: date) -> int:
        return (today - day).days

    unacknowledged = calendar.subtract_business_days(today, 3)  # 2 business days to acknowledge: missed yesterday
    countered = calendar.subtract_business_days(today, 6)  # 3 to answer, then 2 more: the team lead's since yesterday
    opened_b = calendar.subtract_business_days(countered, 6)
    if chinese:
        texts = {
            "a": "周一来电：发票 {invoice} 对应批次的轴承有异响，要求全部退货，暂扣该发票。",
            "b": "邮件：发票 {invoice} 单价高于框架协议价 8%，要求按协议价开具贷项。",
            "b_offer": "您好：经核对，差价确有部分属实，我们可以就发票 {invoice} 开具 {currency} {o1} 的贷项。",
            "b_counter": "我们要求按全部差价开具贷项，否则不付款。",
            "c": "邮件：发票 {invoice} 对应货物的包装破损，要求降价 30%。",
            "c_offer": "您好：破损仅涉及外包装，产品无损。我们可以给予 {currency} {o1} 的折扣，或按原价付款。",
            "c_counter": "30% 以下我们不接受。",
            "c_message": "您好：我们已提供完整的签收单和开箱照片，请贵司尽快确认方案。",
            "d": "来电：发票 {invoice} 的货物晚到一周，要求延期付款。",
            "d_offer": "您好：交期异议不成立，但考虑到贵司资金安排，我们同意分 3 期支付，首期于 {first_due} 支付。",
            "d_accept": "同意分 3 期。",
            "d_note": "交期异议不成立；同意分 3 期付款。",
        }
    else:
        texts = {
            "a": "Phone call: the bearings of the batch on invoice {invoice} are noisy; the buyer wants to return all of them "
            "and holds the invoice.",
            "b": "E-mail: the unit prices on invoice {invoice} are 8% above the framework agreement; a credit note is asked for.",
            "b_offer": "Part of the difference is right: we can issue a credit note of {currency} {o1} on invoice {invoice}.",
            "b_counter": "We want the full difference credited, or we will not pay.",
            "c": "E-mail: the packaging of the goods on invoice {invoice} was damaged; a 30% price cut is asked for.",
            "c_offer": "Only the outer packaging was damaged; the products are fine. We offer a discount of {currency} {o1}, or "
            "the invoice stands.",
            "c_counter": "Nothing below 30% is acceptable to us.",
            "c_message": "We sent the signed delivery note and unpacking photos; please confirm one of the options.",
            "d": "Phone call: the goods on invoice {invoice} arrived a week late; the buyer asks to pay later.",
            "d_offer": "The delay claim does not hold, but we can accept three monthly instalments, the first on {first_due}.",
            "d_accept": "Agreed, three instalments.",
            "d_note": "Delay claim unfounded; three instalments agreed.",
        }
    return {
        "unacknowledged": Story(
            "?", "quality", "phone", ago=ago(unacknowledged), by="collector", owner="collector", description=texts["a"],
            items=(Item(pick="newest", share="0.5"),),
        ),
        "unanswered": Story(
            "?", "price", "email", ago=ago(opened_b), by="collector", owner="collector", description=texts["b"],
            items=(Item(pick="newest", share="0.5"),),
            steps=(
                Ack(ago(calendar.add_business_days(opened_b, 1)), "collector"),
                Offer(ago(calendar.add_business_days(opened_b, 3)), "collector",
                      (Option("credit_note", "0.4"), Option("rejection", description=texts["b_offer"])),
                      message=texts["b_offer"]),
                Reply(ago(countered), "collector", "counter", note=texts["b_counter"], counter_share="1"),
            ),
        ),
        "stuck": Story(
            "?", "quality", "email", ago=100, by="collector", owner="collector", description=texts["c"],
            items=(Item(pick="oldest", share="0.5"),),
            steps=(
                Ack(99, "collector"),
                Offer(80, "collector", (Option("discount", "0.1"), Option("rejection", description=texts["c_offer"])),
                      message=texts["c_offer"]),
                Reply(75, "collector", "counter", note=texts["c_counter"], counter_share="0.3"),
                Message(70, "collector", texts["c_message"]),
            ),
        ),
        "plan": Story(
            "?", "late_delivery", "phone", ago=80, by="collector", owner="collector", description=texts["d"],
            items=(Item(pick="oldest", share="1"),),
            steps=(
                Ack(79, "collector"),
                Offer(72, "collector", (Option("instalments", "1", description=texts["d_offer"], instalments=3),),
                      message=texts["d_offer"]),
                Reply(70, "collector", "accept", option=1, note=texts["d_accept"]),
                Resolve(69, "collector", "invalid", "buyer_liquidity", note=texts["d_note"]),
            ),
        ),
    }  # fmt: skip


async def seed_escalation(tenant_id: TenantId, supplier: dict, owner: Principal) -> None:
    from backend.demo.dispute_stories import CASTS

    cast = CASTS[supplier["slug"]]
    calendar = Calendar(supplier["country"], supplier["time_zone"])
    people = await _team(tenant_id, cast)
    stories = _stories(supplier["language"].startswith("zh"), calendar, date.today())
    async with tenant_unit_of_work(tenant_id) as session:
        director = _Director(session, cast, people, supplier)
        buyers = [buyer["reference"] for buyer in _ledger_buyers(supplier)]
        for key, story in stories.items():
            chosen = await _buyer_with_room(session, director, buyers, date.today() - timedelta(days=story.ago), story)
            if chosen is None:
                continue  # a ledger without an invoice to spare: the demo goes without this story
            await director.play(replace(story, buyer=chosen))
            if key == "plan":
                await _first_instalments_unpaid(session, director)
    await replay(tenant_id)


def _ledger_buyers(supplier: dict) -> list[dict]:
    from backend.demo.seed import LEDGER

    return LEDGER[supplier["slug"]]["buyers"]


async def _buyer_with_room(session, director: _Director, references: list[str], day: date, story: Story) -> str | None:
    """The first buyer (in the ledger's order) with an open invoice, issued before `day`, that no case holds."""
    invoices = InvoiceRepository(session)
    buyers = BuyerRepository(session)
    for reference in references:
        buyer = await buyers.by_reference(reference)
        if buyer is None or reference not in director.contacts:
            continue
        spare = []
        for invoice in await invoices.open_of_buyer(buyer.id, buyer.currency):
            if invoice.disputed_amount > 0:
                director.used.add(invoice.id)  # held by one of the stories' cases
            elif invoice.id not in director.used and invoice.issue_date < day:
                spare.append(invoice)
        if spare:
            return reference
    return None


async def _first_instalments_unpaid(session, director: _Director) -> None:
    """The plan agreed ten weeks ago: its first instalment fell due forty days ago, the second ten days ago."""
    disputes = DisputeRepository(session)
    case_id = director.last_case_id
    today = date.today()
    new_dates = [today - timedelta(days=40), today - timedelta(days=10), today + timedelta(days=20)]
    instalments = await disputes.instalments(case_id)
    for instalment, due_on in zip(instalments, new_dates, strict=False):
        instalment.due_on = due_on
    case = await disputes.get(case_id)
    if case.agreed_option_id:
        option = await disputes.option(case.agreed_option_id)
        option.schedule = [
            {**entry, "due_on": due_on.isoformat()} for entry, due_on in zip(option.schedule, new_dates, strict=False)
        ]
    await session.flush()
    timers.refresh_at_commit(session, case_id)


async def _team(tenant_id: TenantId, cast) -> dict[str, Principal]:
    """The cast's people, as the disputes seed left them."""
    from backend.demo.seed import _principal_for

    emails = {**cast.members, **{colleague.key: colleague.email for colleague in cast.colleagues}}
    async with global_unit_of_work() as session:
        users = {key: await UserRepository(session).by_email(email) for key, email in emails.items()}
    people: dict[str, Principal] = {}
    async with tenant_unit_of_work(tenant_id) as session:
        for key, user in users.items():
            membership = await MembershipRepository(session).of_user(user.id)
            people[key] = _principal_for(tenant_id, user, membership.role)
    return people


async def replay(tenant_id: TenantId) -> int:
    """Take every timer step of the tenant's cases that has come by now, at the moment it came; steps taken."""
    job = job_principal(tenant_id, timers.RUN_ACTOR)
    taken = 0
    async with tenant_unit_of_work(tenant_id) as session:
        case_ids = await TimerRepository(session).watched_cases()
    for case_id in case_ids:
        async with tenant_unit_of_work(tenant_id) as session:
            taken += await _replay_case(session, job, case_id)
    return taken


async def _replay_case(session, job: Principal, case_id: uuid.UUID) -> int:
    now = utcnow()
    taken = 0
    disputes = DisputeRepository(session)
    for _step in range(REPLAY_LIMIT):
        case = await disputes.get(case_id)
        if case is None or case.next_timer_at is None or case.next_timer_at > now:
            break
        taken += len(await timers.run_case(session, job, case_id, case.next_timer_at))
    return taken
