"""Dispute test data: cases registered, proposed and answered through the service, as people would."""

from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal

from backend.auth.principal import Principal
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.disputes import service as disputes
from backend.disputes.service import ItemInput, NewCase, OptionInput
from backend.tenants.models import Role
from tests.conftest import Supplier
from tests.factories import owner_of


def uow(supplier: Supplier):
    return tenant_unit_of_work(TenantId(supplier.tenant_id))


def person(
    supplier: Supplier, role: Role = Role.OWNER, *, user_id: uuid.UUID | None = None, label: str | None = None
) -> Principal:
    """A principal of the supplier with `role`; by default the supplier's owner."""
    owner = owner_of(supplier)
    return replace(owner, role=role, id=user_id or owner.id, label=label or owner.label)


async def open_case(
    supplier: Supplier,
    buyer_id: uuid.UUID,
    items: list[ItemInput],
    *,
    reason: str = "quality",
    description: str = "Bearings arrived scratched; see photos.",
    channel: str = "email",
    principal: Principal | None = None,
):
    async with uow(supplier) as session:
        return await disputes.register_case(
            session,
            principal or owner_of(supplier),
            NewCase(buyer_id=buyer_id, reason_code=reason, description=description, channel=channel, items=items),
        )


async def propose(supplier: Supplier, case_id: uuid.UUID, *options: OptionInput, principal: Principal | None = None):
    async with uow(supplier) as session:
        proposal = await disputes.create_proposal(session, principal or owner_of(supplier), case_id, list(options))
        details = await disputes.case_details(session, principal or owner_of(supplier), case_id)
        options = next(options for offered, options in details.proposals if offered.id == proposal.id)
        return proposal, list(options)


async def accept(supplier: Supplier, proposal_id: uuid.UUID, option_id: uuid.UUID, *, principal: Principal | None = None):
    async with uow(supplier) as session:
        return await disputes.respond_to_proposal(
            session, principal or owner_of(supplier), proposal_id, "accept", option_id=option_id, on_behalf_of="Li Na (AP)"
        )


def credit(amount: str) -> OptionInput:
    return OptionInput(kind="credit_note", amount=Decimal(amount), description="Credit for the scratched bearings")
