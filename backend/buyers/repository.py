from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.buyers.models import Buyer, BuyerContact


class BuyerRepository:
    """Buyers of the session's tenant (the tenancy layer adds the tenant to every query)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, buyer_id: uuid.UUID, *, for_update: bool = False) -> Buyer | None:
        statement = select(Buyer).where(Buyer.id == buyer_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def by_reference(self, reference: str) -> Buyer | None:
        return (await self.session.scalars(select(Buyer).where(Buyer.reference == reference))).first()

    async def names(self, buyer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
        ids = list(set(buyer_ids))
        if not ids:
            return {}
        rows = await self.session.execute(select(Buyer.id, Buyer.legal_name).where(Buyer.id.in_(ids)))
        return dict(rows.all())

    async def page(
        self,
        *,
        limit: int,
        offset: int,
        query: str | None = None,
        country: str | None = None,
        tag: str | None = None,
    ) -> tuple[int, Sequence[Buyer]]:
        statement = select(Buyer)
        if query:
            pattern = f"%{query.lower()}%"
            statement = statement.where(
                or_(
                    func.lower(Buyer.legal_name).like(pattern),
                    func.lower(Buyer.reference).like(pattern),
                    func.lower(Buyer.vat_number).like(pattern),
                    func.lower(Buyer.registration_number).like(pattern),
                )
            )
        if country:
            statement = statement.where(Buyer.country == country)
        if tag:
            # Tags are a short JSON list; matched as text so the query runs on SQLite and PostgreSQL alike.
            # As stored: JSON text, where "华东" is written "\u534e\u4e1c"; "!" escapes LIKE's own characters.
            stored = json.dumps(tag.lower()).replace("!", "!!").replace("%", "!%").replace("_", "!_")
            statement = statement.where(func.lower(cast(Buyer.tags, Text)).like(f"%{stored}%", escape="!"))
        total = (await self.session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one()
        rows = (await self.session.scalars(statement.order_by(Buyer.legal_name, Buyer.id).limit(limit).offset(offset))).all()
        return total, rows

    async def contacts(self, buyer_id: uuid.UUID) -> Sequence[BuyerContact]:
        statement = select(BuyerContact).where(BuyerContact.buyer_id == buyer_id).order_by(BuyerContact.name)
        return (await self.session.scalars(statement)).all()

    async def contact(self, buyer_id: uuid.UUID, contact_id: uuid.UUID) -> BuyerContact | None:
        statement = select(BuyerContact).where(BuyerContact.buyer_id == buyer_id, BuyerContact.id == contact_id)
        return (await self.session.scalars(statement)).first()

    async def contact_by_id(self, contact_id: uuid.UUID) -> BuyerContact | None:
        return (await self.session.scalars(select(BuyerContact).where(BuyerContact.id == contact_id))).first()

    async def contact_by_email(self, buyer_id: uuid.UUID, email: str) -> BuyerContact | None:
        statement = select(BuyerContact).where(BuyerContact.buyer_id == buyer_id, BuyerContact.email == email)
        return (await self.session.scalars(statement)).first()
