from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import portal
from backend.auth.principal import Principal
from backend.buyers import service
from backend.buyers.schemas import (
    BuyerBalanceOut,
    BuyerDetailOut,
    BuyerIn,
    BuyerOut,
    BuyerPage,
    BuyerPatch,
    ContactIn,
    ContactList,
    ContactOut,
)
from backend.http.pagination import MAX_LIMIT
from backend.invoices.service import buyer_balances

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="At most this many items")]
Offset = Annotated[int, Parameter(ge=0, description="Skip this many items")]


async def _detail(db: AsyncSession, principal: Principal, buyer_id: uuid.UUID) -> BuyerDetailOut:
    buyer = await service.get_buyer(db, principal, buyer_id)
    balances = await buyer_balances(db, principal, buyer.id)
    return BuyerDetailOut(**vars(BuyerOut.of(buyer)), balances=[BuyerBalanceOut.of_buyer(b) for b in balances])


class BuyerController(Controller):
    path = "/buyers"
    tags = ["buyers"]

    @get("/", summary="List buyers", description="Search by name, customer number, VAT or registration number.")
    async def list_buyers(
        self,
        db: AsyncSession,
        principal: Principal,
        limit: Limit = 50,
        offset: Offset = 0,
        q: Annotated[str | None, Parameter(max_length=200, description="Part of a name or number")] = None,
        country: Annotated[str | None, Parameter(min_length=2, max_length=2, description="ISO code, such as CN")] = None,
        tag: Annotated[str | None, Parameter(max_length=40)] = None,
    ) -> BuyerPage:
        total, rows = await service.list_buyers(
            db, principal, limit=limit, offset=offset, query=q, country=country and country.upper(), tag=tag
        )
        return BuyerPage(items=[BuyerOut.of(b) for b in rows], total=total, limit=limit, offset=offset)

    @post("/", summary="Create a buyer", description="Setting a credit limit needs a role that approves credit.")
    async def create_buyer(self, db: AsyncSession, principal: Principal, data: BuyerIn) -> BuyerDetailOut:
        buyer = await service.create_buyer(db, principal, data.to_input())
        return await _detail(db, principal, buyer.id)

    @get("/{buyer_id:uuid}", summary="Get a buyer with its balances per currency")
    async def get_buyer(self, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID) -> BuyerDetailOut:
        return await _detail(db, principal, buyer_id)

    @put("/{buyer_id:uuid}", summary="Replace a buyer's details")
    async def replace_buyer(self, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, data: BuyerIn) -> BuyerDetailOut:
        await service.update_buyer(db, principal, buyer_id, data.to_input())
        return await _detail(db, principal, buyer_id)

    @patch("/{buyer_id:uuid}", summary="Change some of a buyer's details")
    async def change_buyer(self, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, data: BuyerPatch) -> BuyerDetailOut:
        buyer = await service.get_buyer(db, principal, buyer_id, for_update=True)
        await service.update_buyer(db, principal, buyer.id, data.onto(buyer))
        return await _detail(db, principal, buyer_id)

    @get("/{buyer_id:uuid}/contacts", summary="List a buyer's contacts")
    async def list_contacts(self, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID) -> ContactList:
        return ContactList(items=[ContactOut.of(c) for c in await service.list_contacts(db, principal, buyer_id)])

    @post("/{buyer_id:uuid}/contacts", summary="Add a contact at a buyer")
    async def add_contact(self, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, data: ContactIn) -> ContactOut:
        contact = await service.add_contact(
            db, principal, buyer_id, name=data.name, email=data.email, language=data.language, role=data.role
        )
        return ContactOut.of(contact)

    @delete("/{buyer_id:uuid}/contacts/{contact_id:uuid}", summary="Remove a contact")
    async def remove_contact(self, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, contact_id: uuid.UUID) -> None:
        await service.remove_contact(db, principal, buyer_id, contact_id)

    @post(
        "/{buyer_id:uuid}/contacts/{contact_id:uuid}/portal-invitation",
        summary="Invite a contact to the buyer portal",
        description=(
            "Opens the buyer portal to the contact (again, if it was withdrawn) and e-mails them a sign-in link that "
            "works once, for 15 minutes. Calling it again sends a new link. The contact sees only this buyer's "
            "invoices, statement and disputes."
        ),
        status_code=200,
    )
    async def invite_to_portal(
        self, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, contact_id: uuid.UUID
    ) -> ContactOut:
        return ContactOut.of(await portal.invite_contact(db, principal, buyer_id, contact_id, ip=principal.ip))

    @delete(
        "/{buyer_id:uuid}/contacts/{contact_id:uuid}/portal-invitation",
        summary="Withdraw a contact's access to the buyer portal",
        description="Their sessions end and their unused sign-in links stop working at once. The contact itself stays.",
        status_code=200,
    )
    async def withdraw_from_portal(
        self, db: AsyncSession, principal: Principal, buyer_id: uuid.UUID, contact_id: uuid.UUID
    ) -> ContactOut:
        return ContactOut.of(await portal.revoke_contact(db, principal, buyer_id, contact_id))
