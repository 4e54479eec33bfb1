from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import ApiKey, SignInSession, SignInThrottle


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

    async def all(self) -> Sequence[ApiKey]:
        return (
            await self.session.scalars(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc()))
        ).all()

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
