"""What the portal's pages offer to pay, read for the signed-in contact's own buyer (404 for anyone else's),
and the buyers' card payments as the team's console lists them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.errors import Conflict
from backend.payments import service
from backend.payments.attempts_repository import AttemptRepository
from backend.payments.models import PaymentAttempt
from backend.payments.service import Availability, Payable


@dataclass(frozen=True)
class Offer:
    """A pay button: whether payments are possible here, and what the server would charge now."""

    availability: Availability
    payable: Payable | None = None
    attempts: list[PaymentAttempt] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.availability.ready and self.payable is not None


async def _payable(decide) -> Payable | None:
    try:
        return await decide
    except Conflict:
        return None


async def invoice_offer(session: AsyncSession, contact: Principal, invoice_id: uuid.UUID) -> Offer:
    buyer_id = service.buyer_of(contact)
    payable = await _payable(service.for_invoice(session, buyer_id, invoice_id))
    mine = [a for a in await AttemptRepository(session).latest(buyer_id=buyer_id) if _names(a, invoice_id)]
    return Offer(await service.availability(session), payable, mine)


def _names(attempt: PaymentAttempt, invoice_id: uuid.UUID) -> bool:
    return any(a.get("invoice_id") == str(invoice_id) for a in attempt.allocations)


async def case_offer(session: AsyncSession, contact: Principal, case_id: uuid.UUID) -> Offer:
    buyer_id = service.buyer_of(contact)
    payable = await _payable(service.for_agreed_case(session, buyer_id, case_id))
    return Offer(await service.availability(session), payable)


async def instalment_offers(session: AsyncSession, contact: Principal, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, Offer]:
    buyer_id = service.buyer_of(contact)
    available = await service.availability(session)
    return {
        case_id: Offer(available, await _payable(service.for_next_instalment(session, buyer_id, case_id))) for case_id in case_ids
    }


async def list_availability(session: AsyncSession) -> Availability:
    return await service.availability(session)


async def team_card_payments(session: AsyncSession, principal: Principal, *, limit: int = 50) -> list[tuple[PaymentAttempt, str]]:
    """The tenant's latest card payments from the portal, with their buyer's name (Console › Online payments)."""
    require(principal, Permission.READ_LEDGER)
    return list(await AttemptRepository(session).latest_with_buyers(limit=limit))


async def attempt_page(session: AsyncSession, contact: Principal, attempt_id: uuid.UUID) -> PaymentAttempt:
    return await service.attempt_of_contact(session, contact, attempt_id)
