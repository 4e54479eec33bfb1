from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import ApiKey, MagicLink, PortalAccount, SignInSession, SignInThrottle
from backend.auth.principal import PrincipalKind
from backend.buyers.models import Buyer, BuyerContact
from backend.tenants.models import Membership, MembershipStatus, Tenant, User


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def end_for_principal(self, principal_id: uuid.UUID) -> int:
        result = await self.session.execute(delete(SignInSession).where(SignInSession.principal_id == principal_id))
        return result.rowcount or 0

    async def end(self, session_id: uuid.UUID) -> None:
        await self.session.execute(delete(SignInSession).where(SignInSession.id == session_id))


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def organisation_keys(self) -> Sequence[ApiKey]:
        statement = (
            select(ApiKey).where(ApiKey.user_id.is_(None)).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
        )
        return (await self.session.scalars(statement)).all()

    async def personal_keys_of(self, user_id: uuid.UUID) -> Sequence[ApiKey]:
        statement = (
            select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
        )
        return (await self.session.scalars(statement)).all()

    async def personal_keys_of_others(self, user_id: uuid.UUID) -> Sequence[tuple[ApiKey, User, Membership | None]]:
        """Everyone else's personal keys, with the person and their membership (None once they left)."""
        statement = (
            select(ApiKey, User, Membership)
            .join(User, User.id == ApiKey.user_id)
            .outerjoin(Membership, (Membership.tenant_id == ApiKey.tenant_id) & (Membership.user_id == ApiKey.user_id))
            .where(ApiKey.user_id.is_not(None), ApiKey.user_id != user_id)
            .order_by(ApiKey.revoked_at.is_not(None), User.display_name, User.email, ApiKey.created_at.desc())
        )
        return [(key, user, membership) for key, user, membership in await self.session.execute(statement)]

    async def get(self, key_id: uuid.UUID) -> ApiKey | None:
        return (await self.session.scalars(select(ApiKey).where(ApiKey.id == key_id).with_for_update())).first()


class AllTenantsCredentialRepository:
    """Cross-tenant by necessity: a credential is what tells us the tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def session_by_token(self, token_hash: str, audience: str) -> SignInSession | None:
        statement = select(SignInSession).where(SignInSession.token_hash == token_hash, SignInSession.audience == audience)
        return (await self.session.scalars(statement)).first()

    async def api_key_by_secret(self, secret_hash: str) -> ApiKey | None:
        statement = select(ApiKey).where(ApiKey.secret_hash == secret_hash, ApiKey.revoked_at.is_(None))
        return (await self.session.scalars(statement)).first()

    async def active_membership(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> tuple[Membership, User, Tenant] | None:
        statement = (
            select(Membership, User, Tenant)
            .join(User, User.id == Membership.user_id)
            .join(Tenant, Tenant.id == Membership.tenant_id)
            .where(
                Membership.tenant_id == tenant_id,
                Membership.user_id == user_id,
                Membership.status == MembershipStatus.ACTIVE,
            )
        )
        row = (await self.session.execute(statement)).first()
        return None if row is None else (row[0], row[1], row[2])

    async def end_expired_sessions(self, idle_before, created_before) -> int:
        result = await self.session.execute(
            delete(SignInSession).where((SignInSession.last_seen_at < idle_before) | (SignInSession.created_at < created_before))
        )
        return result.rowcount or 0


class SignInThrottleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str, *, for_update: bool = False) -> SignInThrottle | None:
        statement = select(SignInThrottle).where(SignInThrottle.key == key)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def forget_before(self, moment) -> int:
        result = await self.session.execute(delete(SignInThrottle).where(SignInThrottle.last_failure_at < moment))
        return result.rowcount or 0


class MagicLinkRepository:
    """Sign-in links of the session's tenant."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, link_id: uuid.UUID, *, for_update: bool = False) -> MagicLink | None:
        statement = select(MagicLink).where(MagicLink.id == link_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def revoke_open(
        self,
        contact_id: uuid.UUID,
        now: datetime,
        *,
        requested_before: datetime | None = None,
        keep: uuid.UUID | None = None,
    ) -> int:
        statement = update(MagicLink).where(
            MagicLink.contact_id == contact_id, MagicLink.used_at.is_(None), MagicLink.revoked_at.is_(None)
        )
        if requested_before is not None:
            statement = statement.where(MagicLink.requested_at <= requested_before)
        if keep is not None:
            statement = statement.where(MagicLink.id != keep)
        result = await self.session.execute(statement.values(revoked_at=now))
        return result.rowcount or 0

    async def end_sessions_of(self, contact_id: uuid.UUID) -> int:
        result = await self.session.execute(
            delete(SignInSession).where(
                SignInSession.principal_kind == PrincipalKind.BUYER_CONTACT.value, SignInSession.principal_id == contact_id
            )
        )
        return result.rowcount or 0


class AllTenantsPortalRepository:
    """Cross-tenant by necessity: an e-mail address or a link's token is what tells us the supplier."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open_contacts(self, email: str, tenant_slug: str | None = None) -> list[tuple[BuyerContact, Buyer, Tenant]]:
        """The contacts with this address whose portal is open, at every supplier (or the one named)."""
        statement = (
            select(BuyerContact, Buyer, Tenant)
            .join(Buyer, (Buyer.tenant_id == BuyerContact.tenant_id) & (Buyer.id == BuyerContact.buyer_id))
            .join(Tenant, Tenant.id == BuyerContact.tenant_id)
            .where(
                BuyerContact.email == email,
                BuyerContact.portal_invited_at.is_not(None),
                BuyerContact.portal_revoked_at.is_(None),
            )
            .order_by(Tenant.name, Buyer.legal_name, BuyerContact.id)
        )
        if tenant_slug is not None:
            statement = statement.where(Tenant.slug == tenant_slug)
        return [(contact, buyer, tenant) for contact, buyer, tenant in await self.session.execute(statement)]

    async def contact(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> tuple[BuyerContact, Tenant] | None:
        statement = (
            select(BuyerContact, Tenant)
            .join(Tenant, Tenant.id == BuyerContact.tenant_id)
            .where(BuyerContact.tenant_id == tenant_id, BuyerContact.id == contact_id)
        )
        row = (await self.session.execute(statement)).first()
        return None if row is None else (row[0], row[1])

    async def session_opened_at(self, session_id: uuid.UUID | None) -> datetime | None:
        if session_id is None:
            return None
        return (await self.session.execute(select(SignInSession.created_at).where(SignInSession.id == session_id))).scalar()

    async def forget_links_before(self, moment: datetime) -> int:
        result = await self.session.execute(delete(MagicLink).where(MagicLink.requested_at < moment))
        return result.rowcount or 0

    async def link_by_token(self, token_hash: str) -> MagicLink | None:
        statement = select(MagicLink).where(MagicLink.token_hash == token_hash).with_for_update()
        return (await self.session.scalars(statement)).first()

    async def account(self, email: str, *, for_update: bool = False) -> PortalAccount | None:
        statement = select(PortalAccount).where(PortalAccount.email == email)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def end_sessions_of(self, contact_ids: Sequence[uuid.UUID], *, keep: uuid.UUID | None = None) -> int:
        if not contact_ids:
            return 0
        statement = delete(SignInSession).where(
            SignInSession.principal_kind == PrincipalKind.BUYER_CONTACT.value, SignInSession.principal_id.in_(contact_ids)
        )
        if keep is not None:
            statement = statement.where(SignInSession.id != keep)
        return (await self.session.execute(statement)).rowcount or 0

    async def revoke_open_links(self, contact_ids: Sequence[uuid.UUID], now: datetime) -> int:
        if not contact_ids:
            return 0
        result = await self.session.execute(
            update(MagicLink)
            .where(MagicLink.contact_id.in_(contact_ids), MagicLink.used_at.is_(None), MagicLink.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return result.rowcount or 0
