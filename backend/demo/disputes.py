"""Dispute cases for the demo: each supplier's team at work on its buyers' disputes, case by case.

The stories (`backend.demo.dispute_stories`) are scripts: who registers what, then dated steps —
acknowledge, ask a colleague, answer the checklist, write to the buyer or a note to the team, add
evidence, offer, record the buyer's answer, resolve, approve. Each step goes through the disputes
service as a person would take it, so holds, ledger entries, timeline and audit trail are the real
ones. The invoices come from the ledger the seed just wrote (the buyer's open invoices, chosen by a
rule such as "the oldest"), so amounts and texts name real documents.

The service stamps every change with the present moment and refuses a task due in the past, as it
should for people. A demo that happened over months moves the stamps of each case's timeline
(events, messages, tasks, proposals, approvals, files) back to the day its step happened, so ages
and overdue tasks read as they would. The ledger entries a resolution writes stay dated today, so
the stories resolve money on day 0; the audit trail keeps the true moment of the seed run.
"""

from __future__ import annotations

import bisect
import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

from backend.auth.principal import Principal, job_principal
from backend.buyers.repository import BuyerRepository
from backend.db.base import utcnow
from backend.db.tenancy import TenantId
from backend.db.uow import global_unit_of_work, tenant_unit_of_work
from backend.demo import evidence
from backend.disputes import service as disputes
from backend.disputes import settings as dispute_settings
from backend.disputes.models import ApprovalStatus
from backend.disputes.repository import DisputeRepository
from backend.invoices import service as invoices
from backend.invoices.models import Invoice, InvoiceLine
from backend.invoices.repository import InvoiceRepository
from backend.money import ZERO, round_money
from backend.tenants.models import Role
from backend.tenants.repository import MembershipRepository, UserRepository

# --- what a story is made of ----------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """What the buyer disputes on one of its open invoices that no other demo case uses yet."""

    pick: str = "oldest"  # oldest | newest | largest (open amount) | no_po (an invoice naming no order)
    line: bool = False  # the invoice's largest line rather than the whole invoice
    share: str = "1"  # of what is open on the invoice, or of the line
    units: str | None = None  # a quantity shortfall: this share of the line's quantity, in whole units
    # The kind of product the story's words fit (SKU prefixes such as "HYD"): a leak is a valve's, not a
    # board's. Invoices with such a line come first, and the line named is the largest of them.
    products: tuple[str, ...] = ()


@dataclass(frozen=True)
class Photo:
    name: str
    motif: str  # part | board | carton | label, or auto (part or board, by the disputed product)


@dataclass(frozen=True)
class Pdf:
    name: str
    title: str
    rows: tuple[tuple[str, str], ...]
    body: tuple[str, ...] = ()
    footer: str = ""


File = Photo | Pdf


@dataclass(frozen=True)
class Step:
    ago: int  # days before today
    who: str  # a team key of the supplier's cast


@dataclass(frozen=True)
class Ack(Step):
    note: str | None = None


@dataclass(frozen=True)
class Message(Step):
    """To the buyer, in the buyer's language."""

    text: str
    files: tuple[File, ...] = ()


@dataclass(frozen=True)
class Note(Step):
    """Internal: the buyer never sees it."""

    text: str
    files: tuple[File, ...] = ()


@dataclass(frozen=True)
class Evidence(Step):
    file: File


@dataclass(frozen=True)
class Check(Step):
    item: str
    answer: str
    note: str | None = None


@dataclass(frozen=True)
class Task(Step):
    assignee: str
    team: str
    question: str
    due_in: int  # days after the step


@dataclass(frozen=True)
class Answer(Step):
    """The assignee answers the case's n-th task (1 = the first asked)."""

    text: str
    task: int = 1


@dataclass(frozen=True)
class Option:
    kind: str
    share: str = "0"  # of what the case holds (money options) or of what is open (instalments)
    description: str | None = None
    instalments: int = 0


@dataclass(frozen=True)
class Offer(Step):
    options: tuple[Option, ...]
    message: str | None = None


@dataclass(frozen=True)
class Reply(Step):
    """The buyer's answer to the latest offer, recorded by the supplier's person who received it."""

    response: str  # accept | counter | decline
    option: int = 0  # 1-based, for accept
    note: str | None = None
    counter_share: str | None = None  # of what the case holds
    by: str | None = None  # who at the buyer; default its first contact


@dataclass(frozen=True)
class Resolve(Step):
    outcome: str
    root: str
    note: str | None = None
    approver: str | None = None  # decides at once if resolving asks for an approval


@dataclass(frozen=True)
class Decide(Step):
    approve: bool
    note: str | None = None


@dataclass(frozen=True)
class Move(Step):
    state: str
    note: str | None = None
    root: str | None = None


@dataclass(frozen=True)
class Assign(Step):
    to: str | None


@dataclass(frozen=True)
class Payment(Step):
    """The buyer pays: what the case does not dispute, or the case's invoices in full (which closes it)."""

    what: str  # undisputed | all
    text: str


@dataclass(frozen=True)
class Story:
    buyer: str  # reference
    reason: str
    channel: str
    ago: int
    by: str  # who registers it
    owner: str | None  # a team key; None: the routing rules choose (or nobody)
    description: str
    items: tuple[Item, ...] = (Item(),)
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Colleague:
    key: str
    name: str
    email: str
    role: Role
    language: str


@dataclass(frozen=True)
class Rule:
    name: str
    owner: str | None = None
    pool: tuple[str, ...] = ()
    reason: str | None = None
    buyer: str | None = None
    min_amount: str | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Cast:
    """A supplier's people for the stories, its dispute settings and its routing rules."""

    administrator: str  # who sets the thresholds and rules
    members: dict[str, str]  # team key -> e-mail of a member the seed already made
    colleagues: tuple[Colleague, ...]  # added here: the dispute work needs them
    thresholds: dict[str, str]
    rules: tuple[Rule, ...]
    bank: str
    stories: tuple[Story, ...]


# --- playing the stories --------------------------------------------------------------------------


async def seed_disputes(tenant_id: TenantId, supplier: dict, owner: Principal) -> None:
    from backend.demo.dispute_stories import CASTS

    cast = CASTS[supplier["slug"]]
    people = await _people(tenant_id, cast, owner)
    async with tenant_unit_of_work(tenant_id) as session:
        await _settings_and_rules(session, cast, people)
        director = _Director(session, cast, people, supplier)
        # In the order the buyers raised them, so case numbers follow the dates (ties: as listed).
        for story in sorted(cast.stories, key=lambda story: -story.ago):
            await director.play(story)


async def _people(tenant_id: TenantId, cast: Cast, owner: Principal) -> dict[str, Principal]:
    from backend.demo.seed import _add_active_member, _principal_for

    for colleague in cast.colleagues:
        await _add_active_member(tenant_id, owner, colleague.name, colleague.email, colleague.role, colleague.language)
    emails = {**cast.members, **{c.key: c.email for c in cast.colleagues}}
    people: dict[str, Principal] = {}
    async with global_unit_of_work() as session:
        users = {key: await UserRepository(session).by_email(email) for key, email in emails.items()}
    async with tenant_unit_of_work(tenant_id) as session:
        for key, user in users.items():
            membership = await MembershipRepository(session).of_user(user.id)
            people[key] = _principal_for(tenant_id, user, membership.role)
    return people


async def _settings_and_rules(session, cast: Cast, people: dict[str, Principal]) -> None:
    """Approval thresholds per currency and the routing rules, set by the tenant's administrator."""
    administrator = people[cast.administrator]
    await dispute_settings.update_settings(
        session, administrator, dispute_settings.SettingsInput(approval_thresholds=cast.thresholds, escalation_days=90)
    )
    buyers = BuyerRepository(session)
    for rule in cast.rules:
        buyer = await buyers.by_reference(rule.buyer) if rule.buyer else None
        await dispute_settings.create_rule(
            session,
            administrator,
            dispute_settings.RuleInput(
                name=rule.name,
                reason_code=rule.reason,
                buyer_id=buyer.id if buyer else None,
                min_amount=rule.min_amount,
                currency=rule.currency,
                owner_user_id=people[rule.owner].id if rule.owner else None,
                pool=[people[key].id for key in rule.pool],
            ),
        )


class _Clock:
    """Maps the moment a step really ran to the moment the story says it happened."""

    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)
        self.now = utcnow()
        self.marks: list[tuple[datetime, datetime]] = []
        self.per_day: dict[int, int] = {}

    def begin(self, ago: int) -> date:
        turn = self.per_day.get(ago, 0)
        self.per_day[ago] = turn + 1
        day = date.today() - timedelta(days=ago)  # the ledger's today, so dates agree with its entries
        story = datetime.combine(day, time(9, 10), self.zone).astimezone(UTC) + timedelta(minutes=43 * turn)
        if story > self.now - timedelta(minutes=30):
            story = self.now - timedelta(minutes=90) + timedelta(minutes=3 * turn)
        if self.marks:
            story = max(story, self.marks[-1][1] + timedelta(minutes=1))  # a step never precedes the one before
        self.marks.append((utcnow(), story))
        return day

    def story_time(self, real: datetime) -> datetime:
        index = bisect.bisect_right([mark for mark, _story in self.marks], real) - 1
        if index < 0:
            return real
        mark, story = self.marks[index]
        return story + (real - mark)


@dataclass
class _Case:
    story: Story
    case_id: uuid.UUID
    invoices: list[Invoice]
    facts: dict
    tasks: list = field(default_factory=list)
    proposal_id: uuid.UUID | None = None


class _Director:
    def __init__(self, session, cast: Cast, people: dict[str, Principal], supplier: dict) -> None:
        self.session, self.cast, self.people, self.supplier = session, cast, people, supplier
        self.used: set[uuid.UUID] = set()
        self.payments = 0
        from backend.demo.seed import LEDGER

        self.contacts = {b["reference"]: b["contacts"][0] for b in LEDGER[supplier["slug"]]["buyers"]}

    async def play(self, story: Story) -> None:
        clock = _Clock(self.supplier["time_zone"])
        day = clock.begin(story.ago)
        buyer = await BuyerRepository(self.session).by_reference(story.buyer)
        items, chosen, facts = await self._items(story, buyer, day)
        registrar = self.people[story.by]
        case = await disputes.register_case(
            self.session,
            registrar,
            disputes.NewCase(
                buyer_id=buyer.id,
                reason_code=story.reason,
                description=story.description.format_map(facts),
                channel=story.channel,
                items=items,
                opened_on=day,
                owner_user_id=self.people[story.owner].id if story.owner else None,
            ),
        )
        await self.session.flush()
        self.last_case_id = case.id  # what a later seed (escalation) adds to the story's case
        facts["amount"] = _money(case.disputed_amount)
        facts["case"] = case.number
        current = _Case(story, case.id, chosen, facts)
        previous = story.ago
        for step in story.steps:
            if step.ago > previous:
                raise ValueError(f"{story.buyer} {story.reason}: steps go forward in time ({step})")
            previous = step.ago
            day = clock.begin(step.ago)
            await self._take(current, step, day)
            await self.session.flush()
        await self._backdate(current, clock)

    async def _items(self, story: Story, buyer, day: date) -> tuple[list[disputes.ItemInput], list[Invoice], dict]:
        repository = InvoiceRepository(self.session)
        inputs: list[disputes.ItemInput] = []
        chosen: list[Invoice] = []
        name, _email, language, _role = self.contacts[story.buyer]
        facts: dict = {"contact": name, "buyer": buyer.legal_name, "currency": buyer.currency}
        for item in story.items:
            # Invoiced (and delivered) before the day the buyer raised it, and not yet in another demo case.
            candidates = [
                invoice
                for invoice in await repository.open_of_buyer(buyer.id, buyer.currency)
                if invoice.id not in self.used and invoice.issue_date < day
            ]
            if item.pick == "no_po":
                candidates = [invoice for invoice in candidates if not invoice.po_reference]
            lines = {invoice.id: await repository.lines(invoice.id) for invoice in candidates}
            fitting = [i for i in candidates if any((line.sku or "").startswith(item.products) for line in lines[i.id])]
            if item.products and fitting:
                candidates = fitting
            if not candidates:
                raise ValueError(f"no open invoice of {story.buyer} for the {story.reason} case opened {day}")
            invoice = {
                "oldest": candidates[0],
                "newest": candidates[-1],
                "largest": max(candidates, key=lambda i: i.open_amount),
                "no_po": candidates[0],
            }[item.pick]
            self.used.add(invoice.id)
            chosen.append(invoice)
            named = [each for each in lines[invoice.id] if item.products and (each.sku or "").startswith(item.products)]
            line = max(named or lines[invoice.id], key=lambda each: each.gross_amount)
            amount = None
            if item.units:
                short = max(Decimal(1), (line.quantity * Decimal(item.units)).quantize(Decimal(1), ROUND_DOWN))
                amount = round_money(line.gross_amount * short / line.quantity, invoice.currency)
                facts["short"] = f"{short:,.0f}"
            elif item.line and item.share != "1":
                amount = round_money(line.gross_amount * Decimal(item.share), invoice.currency)
            elif not item.line and item.share != "1":
                amount = round_money(invoice.open_amount * Decimal(item.share), invoice.currency)
            if item.line:
                # A line of a partly paid invoice is disputed for at most what is open on the invoice.
                amount = min(amount if amount is not None else line.gross_amount, invoice.open_amount)
            inputs.append(disputes.ItemInput(invoice.id, line.id if item.line else None, amount))
            facts.setdefault("invoice", invoice.number)
            facts.setdefault("po", invoice.po_reference or "—")
            facts.setdefault("delivered", (invoice.delivery_date or invoice.issue_date).isoformat())
            facts.setdefault("issued", invoice.issue_date.isoformat())
            facts.setdefault("invoice_total", _money(invoice.gross_amount))
            facts.setdefault("open", _money(invoice.open_amount))
            self._line_facts(facts, line, language)
        facts["invoices"] = (
            "、".join(i.number for i in chosen) if language.startswith("zh") else ", ".join(i.number for i in chosen)
        )
        return inputs, chosen, facts

    @staticmethod
    def _line_facts(facts: dict, line: InvoiceLine, language: str) -> None:
        description = line.description
        if language.startswith("zh") and not description.split(" ")[0].isascii():
            product = description.split(" ")[0]
        elif "(" in description:
            product = description[description.index("(") + 1 : description.rindex(")")]
        else:
            product = " ".join(word for word in description.split(" ") if word.isascii())
        facts.setdefault("line_no", line.line_no)
        facts.setdefault("sku", line.sku or "")
        facts.setdefault("product", product)
        facts.setdefault("qty", f"{line.quantity:,.0f}")
        facts.setdefault("unit", line.unit or "")
        facts.setdefault("unit_price", _money(line.unit_price))
        facts.setdefault("line_total", _money(line.gross_amount))

    async def _take(self, case: _Case, step: Step, day: date) -> None:
        session, who = self.session, self.people[step.who]
        text = _Formatter(case.facts)
        if isinstance(step, Ack):
            await disputes.move_case(session, who, case.case_id, "acknowledged", note=text(step.note))
        elif isinstance(step, Message | Note):
            await disputes.post_message(
                session,
                who,
                case.case_id,
                body=text(step.text),
                internal=isinstance(step, Note),
                attachments=[disputes.Attachment(name, io.BytesIO(content)) for name, content in self._files(step.files, case)],
            )
        elif isinstance(step, Evidence):
            ((name, content),) = self._files((step.file,), case)
            await disputes.add_evidence(session, who, case.case_id, filename=name, source=io.BytesIO(content))
        elif isinstance(step, Check):
            await disputes.answer_checklist(session, who, case.case_id, step.item, step.answer, text(step.note))
        elif isinstance(step, Task):
            task = await disputes.create_task(
                session,
                who,
                case.case_id,
                disputes.NewTask(
                    assignee_user_id=self.people[step.assignee].id,
                    team=step.team,
                    question=text(step.question),
                    due_on=date.today() + timedelta(days=step.due_in),
                ),
            )
            # The day the story asked it, plus its time to answer: in the past for the overdue ones.
            task.due_on = day + timedelta(days=step.due_in)
            case.tasks.append(task)
        elif isinstance(step, Answer):
            await disputes.answer_task(session, who, case.tasks[step.task - 1].id, text(step.text))
        elif isinstance(step, Offer):
            await self._offer(case, who, step, text)
        elif isinstance(step, Reply):
            await self._reply(case, who, step, text)
        elif isinstance(step, Resolve):
            result = await disputes.resolve_case(
                session, who, case.case_id, disputes.Resolution(step.outcome, step.root, text(step.note))
            )
            if result.approval is not None and step.approver:
                await disputes.decide_approval(session, self.people[step.approver], result.approval.id, approve=True)
        elif isinstance(step, Decide):
            (pending,) = [
                a for a in await DisputeRepository(session).approvals(case.case_id) if a.status is ApprovalStatus.PENDING
            ]
            await disputes.decide_approval(session, who, pending.id, approve=step.approve, note=text(step.note))
        elif isinstance(step, Move):
            await disputes.move_case(session, who, case.case_id, step.state, note=text(step.note), root_cause_code=step.root)
        elif isinstance(step, Assign):
            await disputes.assign_case(session, who, case.case_id, self.people[step.to].id if step.to else None)
        elif isinstance(step, Payment):
            await self._payment(case, who, step, day, text)
        else:
            raise TypeError(step)

    async def _held(self, case: _Case) -> tuple[Decimal, Decimal]:
        """(held by the case, open on its invoices) as the service computes them for an offer."""
        details = await disputes.case_details(self.session, self.people[case.story.by], case.case_id)
        held = sum((entry.held for entry in details.invoices), ZERO)
        open_total = sum((entry.invoice.open_amount for entry in details.invoices), ZERO)
        return held, open_total

    async def _offer(self, case: _Case, who: Principal, step: Offer, text) -> None:
        held, open_total = await self._held(case)
        options = []
        for number, option in enumerate(step.options, start=1):
            if option.kind == "instalments":
                total = _whole(open_total * Decimal(option.share))
                part = _whole(total / option.instalments)
                first = date.today() + timedelta(days=14)
                schedule = [
                    (first + timedelta(days=30 * k), part if k < option.instalments - 1 else total - part * k)
                    for k in range(option.instalments)
                ]
                case.facts[f"o{number}"] = _money(total)
                case.facts[f"o{number}_each"] = _money(part)
                case.facts["first_due"] = first.isoformat()
                options.append(disputes.OptionInput(kind="instalments", description=text(option.description), schedule=schedule))
            else:
                amount = (
                    _whole(held * Decimal(option.share)) if option.kind != "redelivery" and option.kind != "rejection" else None
                )
                case.facts[f"o{number}"] = _money(amount or ZERO)
                options.append(disputes.OptionInput(kind=option.kind, amount=amount, description=text(option.description)))
        proposal = await disputes.create_proposal(self.session, who, case.case_id, options, message=text(step.message))
        case.proposal_id = proposal.id

    async def _reply(self, case: _Case, who: Principal, step: Reply, text) -> None:
        option_id = None
        if step.response == "accept":
            offered = await DisputeRepository(self.session).options([case.proposal_id])
            option_id = next(o.id for o in offered if o.position == step.option)
        counter = None
        if step.counter_share:
            held, _open = await self._held(case)
            counter = _whole(held * Decimal(step.counter_share))
            case.facts["counter"] = _money(counter)
        name, _email, _language, role = self.contacts[case.story.buyer]
        await disputes.respond_to_proposal(
            self.session,
            who,
            case.proposal_id,
            step.response,
            option_id=option_id,
            note=text(step.note),
            counter_amount=counter,
            on_behalf_of=step.by or f"{name} ({role})",
        )

    async def _payment(self, case: _Case, who: Principal, step: Payment, day: date, text) -> None:
        repository = InvoiceRepository(self.session)
        allocations = []
        for invoice in case.invoices:
            current = await repository.get(invoice.id)
            amount = current.open_amount - (current.disputed_amount if step.what == "undisputed" else ZERO)
            if amount > 0:
                allocations.append(invoices.PaymentAllocation(current.id, amount))
        self.payments += 1
        total = sum((Decimal(a.amount) for a in allocations), ZERO)
        case.facts["paid"] = _money(total)
        await invoices.record_payment(
            self.session,
            who,
            buyer_id=case.invoices[0].buyer_id,
            amount=total,
            currency=case.invoices[0].currency,
            entry_date=day,
            document_number=f"{self.cast.bank}-{day:%Y%m%d}-D{self.payments:02d}",
            allocations=allocations,
            reason=text(step.text),
        )
        if step.what == "all":
            # What the job after a ledger entry does: a case with nothing left to dispute closes by itself.
            job = job_principal(who.tenant_id, "disputes.check_settled")
            await disputes.check_settled(self.session, job, case.case_id)

    def _files(self, files: tuple[File, ...], case: _Case) -> list[tuple[str, bytes]]:
        text = _Formatter(case.facts)
        made = []
        for file in files:
            if isinstance(file, Photo):
                motif = file.motif
                if motif == "auto":  # what the disputed product looks like: electronics or a mechanical part
                    motif = "board" if case.facts.get("sku", "").startswith(("PCB", "SNS")) else "part"
                made.append((text(file.name), evidence.photo(motif, f"{case.facts['case']}:{file.name}")))
            else:
                rows = tuple((text(label), text(value)) for label, value in file.rows)
                body = tuple(text(paragraph) for paragraph in file.body)
                made.append((text(file.name), evidence.document(text(file.title), rows, body, footer=text(file.footer))))
        return made

    async def _backdate(self, case: _Case, clock: _Clock) -> None:
        repository = DisputeRepository(self.session)
        stamped: list[tuple[object, tuple[str, ...]]] = [
            (await repository.get(case.case_id), ("created_at", "state_changed_at", "phase_changed_at", "closed_at"))
        ]
        messages = await repository.messages(case.case_id)
        stamped += [(event, ("at",)) for event in await repository.events(case.case_id)]
        stamped += [(message, ("created_at",)) for message in messages]
        stamped += [(answer, ("answered_at",)) for answer in await repository.checklist(case.case_id)]
        stamped += [(task, ("created_at", "answered_at")) for task in await repository.tasks(case.case_id)]
        stamped += [(proposal, ("created_at", "responded_at")) for proposal in await repository.proposals(case.case_id)]
        stamped += [(approval, ("requested_at", "decided_at")) for approval in await repository.approvals(case.case_id)]
        stamped += [(stored, ("created_at",)) for stored in await repository.files_of(disputes.EVIDENCE_FILE, [case.case_id])]
        stamped += [
            (stored, ("created_at",)) for stored in await repository.files_of(disputes.MESSAGE_FILE, [m.id for m in messages])
        ]
        for row, names in stamped:
            for name in names:
                value = getattr(row, name)
                if value is not None:
                    setattr(row, name, clock.story_time(value))
        # The timeline names the due date the task was given: the story's, not the one the service was passed.
        due = {str(task.id): task.due_on.isoformat() for task in case.tasks}
        for event, _names in stamped:
            if getattr(event, "kind", None) == "task_created" and event.data.get("task_id") in due:
                event.data = {**event.data, "due_on": due[event.data["task_id"]]}
        await self.session.flush()


class _Formatter:
    """Fills a story's text with the facts of its case (invoice number, product, amounts offered)."""

    def __init__(self, facts: dict) -> None:
        self.facts = facts

    def __call__(self, value: str | None) -> str | None:
        return value.format_map(self.facts) if value else value


def _whole(amount: Decimal) -> Decimal:
    """Offers are made in whole currency units, never above the figure they are worked out from."""
    whole = amount.quantize(Decimal(1), ROUND_DOWN)
    return whole if whole > 0 else amount.quantize(Decimal("0.01"), ROUND_DOWN)


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"
