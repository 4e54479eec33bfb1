"""What the case timers read and write: the steps taken, the case's activity that starts a timer, the
next step's time; and, across tenants, the sweep that turns due cases into jobs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db.base import new_id
from backend.disputes.models import DisputeCase, DisputeItem, DisputeMessage, DisputeSettings, Proposal, ProposalStatus, TimerStep
from backend.invoices.models import Allocation, EntryKind, LedgerEntry
from backend.jobs.models import OutboxJob
from backend.tenants.models import Membership, MembershipStatus, Role, Tenant

TEAM_AUTHORS = ("user", "api_key")
BUYER_AUTHOR = "buyer_contact"


@dataclass(frozen=True)
class Activity:
    """Who spoke last on the case, and what waits for the buyer's answer."""

    buyer_spoke: tuple[str, datetime] | None  # (anchor, when): the buyer's latest message or answer to a proposal
    team_spoke_at: datetime | None  # the team's latest message to the buyer or proposal
    waits_on_buyer: tuple[str, datetime] | None  # (anchor, since): the oldest open question, or the open offer


class TimerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def tenant(self, tenant_id: uuid.UUID) -> Tenant | None:
        return (await self.session.scalars(select(Tenant).where(Tenant.id == tenant_id))).first()

    async def settings(self, tenant_id: uuid.UUID) -> DisputeSettings | None:
        """The tenant's own settings row, named: a session across tenants sees every tenant's."""
        return (await self.session.scalars(select(DisputeSettings).where(DisputeSettings.tenant_id == tenant_id))).first()

    async def taken(self, case_id: uuid.UUID) -> set[tuple[str, str, str]]:
        statement = select(TimerStep.timer, TimerStep.anchor, TimerStep.step).where(TimerStep.case_id == case_id)
        return {tuple(row) for row in (await self.session.execute(statement)).all()}

    async def take(
        self, case_id: uuid.UUID, timer: str, anchor: str, step: str, *, due_at: datetime, now: datetime, skipped: bool
    ) -> bool:
        """Record the step; False when it was already taken (the unique key decides, whoever comes second)."""
        insert = pg_insert if self.session.bind.dialect.name == "postgresql" else sqlite_insert
        statement = (
            insert(TimerStep)
            .values(
                tenant_id=self._tenant_id(),
                id=new_id(),
                case_id=case_id,
                timer=timer,
                anchor=anchor,
                step=step,
                due_at=due_at,
                taken_at=now,
                skipped=skipped,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "case_id", "timer", "anchor", "step"])
        )
        return (await self.session.execute(statement)).rowcount == 1

    def _tenant_id(self) -> uuid.UUID:
        from backend.db.tenancy import current_tenant

        return current_tenant(self.session)

    async def steps(self, case_id: uuid.UUID) -> Sequence[TimerStep]:
        statement = select(TimerStep).where(TimerStep.case_id == case_id).order_by(TimerStep.due_at, TimerStep.taken_at)
        return (await self.session.scalars(statement)).all()

    async def set_next(self, case_id: uuid.UUID, at: datetime | None, timer: str | None) -> None:
        """A derived value, not a change of the case: written without moving its version, so a form the
        person holds stays valid."""
        await self.session.execute(
            update(DisputeCase)
            .where(DisputeCase.id == case_id)
            .values(next_timer_at=at, next_timer=timer, timer_attempts=0)  # a changed case: the sweep tries afresh
            .execution_options(synchronize_session="fetch")
        )

    async def job_ran(self, case_id: uuid.UUID) -> None:
        """The case's timer job ran: the sweep may queue the next one as soon as a step is due."""
        await self.session.execute(
            update(DisputeCase)
            .where(DisputeCase.id == case_id)
            .values(timer_queued_until=None, timer_attempts=0)
            .execution_options(synchronize_session="fetch")
        )

    async def watch_again(self, now: datetime) -> int:
        """Every case with a timer looked at by the next sweep (the service levels changed)."""
        result = await self.session.execute(
            update(DisputeCase)
            .where(DisputeCase.next_timer_at.is_not(None), DisputeCase.next_timer_at > now)
            .values(next_timer_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount or 0

    async def activity(self, case_id: uuid.UUID, *, offer_open: bool) -> Activity:
        messages = select(DisputeMessage).where(DisputeMessage.case_id == case_id, DisputeMessage.internal.is_(False))
        buyer_message = (
            await self.session.scalars(
                messages.where(DisputeMessage.author_kind == BUYER_AUTHOR).order_by(DisputeMessage.created_at.desc()).limit(1)
            )
        ).first()
        team_message_at = await self.session.scalar(
            select(func.max(DisputeMessage.created_at)).where(
                DisputeMessage.case_id == case_id,
                DisputeMessage.internal.is_(False),
                DisputeMessage.author_kind.in_(TEAM_AUTHORS),
            )
        )
        question = (
            await self.session.scalars(
                messages.where(DisputeMessage.question.is_(True), DisputeMessage.answered_at.is_(None))
                .order_by(DisputeMessage.created_at)
                .limit(1)
            )
        ).first()
        proposals = (await self.session.scalars(select(Proposal).where(Proposal.case_id == case_id).order_by(Proposal.seq))).all()
        buyer_spoke = (f"message:{buyer_message.id}", buyer_message.created_at) if buyer_message else None
        answers = [
            p for p in proposals if p.status in (ProposalStatus.COUNTERED, ProposalStatus.DECLINED) and p.responded_at is not None
        ]
        for proposal in answers:
            if buyer_spoke is None or proposal.responded_at > buyer_spoke[1]:
                buyer_spoke = (f"answer:{proposal.id}", proposal.responded_at)
        team_spoke_at = max([t for t in [team_message_at, *(p.created_at for p in proposals)] if t is not None], default=None)
        waits: list[tuple[str, datetime]] = []
        if question is not None:
            waits.append((f"question:{question.id}", question.created_at))
        offered = next((p for p in proposals if p.status is ProposalStatus.OFFERED), None)
        if offered is not None and offer_open:
            waits.append((f"proposal:{offered.id}", offered.created_at))
        return Activity(buyer_spoke, team_spoke_at, min(waits, key=lambda w: w[1]) if waits else None)

    async def paid_towards_plan(self, case_id: uuid.UUID, agreed_option_id: uuid.UUID | None) -> Decimal:
        """What the buyer has paid to the case's invoices since the plan was agreed, however it was recorded
        (a card payment through Checkout, a bank transfer entered by hand, an import)."""
        agreed_at = (
            select(func.min(Proposal.responded_at))
            .where(Proposal.case_id == case_id, Proposal.accepted_option_id == agreed_option_id)
            .scalar_subquery()
        )
        invoices = select(DisputeItem.invoice_id).where(DisputeItem.case_id == case_id)
        statement = (
            select(func.coalesce(func.sum(Allocation.amount), 0))
            .select_from(Allocation)
            .join(LedgerEntry, (LedgerEntry.tenant_id == Allocation.tenant_id) & (LedgerEntry.id == Allocation.entry_id))
            .where(
                LedgerEntry.kind == EntryKind.PAYMENT,
                Allocation.invoice_id.in_(invoices),
                LedgerEntry.created_at >= agreed_at,
            )
        )
        return Decimal(str(await self.session.scalar(statement) or 0))

    async def watched_cases(self) -> list[uuid.UUID]:
        """The tenant's cases with a timer step to come, soonest first."""
        statement = select(DisputeCase.id).where(DisputeCase.next_timer_at.is_not(None)).order_by(DisputeCase.next_timer_at)
        return list((await self.session.scalars(statement)).all())

    async def members_in_roles(self, roles: Iterable[Role]) -> list[uuid.UUID]:
        statement = (
            select(Membership.user_id)
            .where(Membership.status == MembershipStatus.ACTIVE, Membership.role.in_(list(roles)))
            .order_by(Membership.created_at)
        )
        return list((await self.session.scalars(statement)).all())


# --- across tenants: the sweep ---------------------------------------------------------------------

# One statement: the due cases not queued already (or whose job's lease ran out) are marked queued,
# and one job each goes into the outbox.
_ENQUEUE_DUE_POSTGRESQL = text(
    """
    WITH due AS (
        UPDATE dispute_cases AS c
        SET timer_queued_until = CAST(:until AS timestamptz), timer_attempts = c.timer_attempts + 1
        WHERE c.next_timer_at IS NOT NULL AND c.next_timer_at <= CAST(:now AS timestamptz)
          AND (c.timer_queued_until IS NULL OR c.timer_queued_until <= CAST(:now AS timestamptz))
          AND c.timer_attempts < :max_attempts
        RETURNING c.tenant_id, c.id
    )
    INSERT INTO outbox (tenant_id, id, actor, payload, created_at, available_at, publish_attempts)
    SELECT due.tenant_id, gen_random_uuid(), CAST(:actor AS varchar), json_build_object('case_id', due.id::text),
           CAST(:now AS timestamptz), CAST(:now AS timestamptz), 0
    FROM due
    """
)
_DUE_POSTGRESQL = text(
    """
    INSERT INTO outbox (tenant_id, id, actor, payload, created_at, available_at, publish_attempts)
    SELECT c.tenant_id, gen_random_uuid(), CAST(:actor AS varchar), json_build_object('case_id', c.id::text),
           CAST(:now AS timestamptz), CAST(:now AS timestamptz), 0
    FROM dispute_cases AS c
    WHERE c.next_timer_at IS NOT NULL AND c.next_timer_at <= CAST(:now AS timestamptz)
    """
)
_DUE_POSTGRESQL = text(
    "SELECT c.tenant_id, c.id FROM dispute_cases AS c WHERE c.next_timer_at IS NOT NULL AND c.next_timer_at <= CAST(:now AS timestamptz)"
)


class AllTenantsTimerRepository:
    """The escalation sweep's reads and writes across every tenant (an all-tenants unit of work)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def due_cases(self, now: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(tenant, case) of every case whose next timer step has come: the bare SELECT of the sweep."""
        if self.session.bind.dialect.name == "postgresql":
            return [tuple(row) for row in (await self.session.execute(_DUE_POSTGRESQL, {"now": now})).all()]
        statement = select(DisputeCase.tenant_id, DisputeCase.id).where(
            DisputeCase.next_timer_at.is_not(None), DisputeCase.next_timer_at <= now
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]

    async def enqueue_due(self, now: datetime, actor: str, *, until: datetime, max_attempts: int) -> int:
        """One job per due case not queued already into the outbox, the case marked queued `until`: on
        PostgreSQL one statement, never a row through Python."""
        if self.session.bind.dialect.name == "postgresql":
            result = await self.session.execute(
                _ENQUEUE_DUE_POSTGRESQL, {"actor": actor, "now": now, "until": until, "max_attempts": max_attempts}
            )
            return result.rowcount or 0
        statement = select(DisputeCase.tenant_id, DisputeCase.id).where(
            *self._due(now), DisputeCase.timer_attempts < max_attempts
        )
        due = [tuple(row) for row in (await self.session.execute(statement)).all()]
        if due:
            await self.session.execute(
                update(DisputeCase)
                .where(DisputeCase.id.in_([case_id for _tenant, case_id in due]))
                .values(timer_queued_until=until, timer_attempts=DisputeCase.timer_attempts + 1)
                .execution_options(synchronize_session=False)
            )
        self.session.add_all(
            OutboxJob(
                tenant_id=tenant_id,
                id=new_id(),
                actor=actor,
                payload={"case_id": str(case_id)},
                created_at=now,
                available_at=now,
                publish_attempts=0,
            )
            for tenant_id, case_id in due
        )
        await self.session.flush()
        return len(due)

    async def give_up(self, now: datetime, max_attempts: int) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
        """(tenant, case, number) of the due cases whose last allowed job's lease ran out without the job
        running: marked past the limit, so each is given up (and reported) once."""
        statement = (
            update(DisputeCase)
            .where(*self._due(now), DisputeCase.timer_attempts == max_attempts)
            .values(timer_attempts=max_attempts + 1)
            .returning(DisputeCase.tenant_id, DisputeCase.id, DisputeCase.number)
            .execution_options(synchronize_session=False)
        )
        return [tuple(row) for row in (await self.session.execute(statement)).all()]

    @staticmethod
    def _due(now: datetime) -> tuple:
        return (
            DisputeCase.next_timer_at.is_not(None),
            DisputeCase.next_timer_at <= now,
            (DisputeCase.timer_queued_until.is_(None)) | (DisputeCase.timer_queued_until <= now),
        )
