from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import ApiKey, SignInSession, SignInThrottle
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
