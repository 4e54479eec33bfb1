"""Request-scoped providers: the signed-in principal and a unit of work for its tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar import Request
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.db.uow import tenant_unit_of_work


def provide_principal(request: Request) -> Principal:
    principal = request.scope.get("user")
    if principal is None:
        raise NotAuthorizedException("Sign in, or send an API key as 'Authorization: Bearer acc_…'.")
    return principal


async def provide_db(principal: Principal) -> AsyncIterator[AsyncSession]:
    # The tenant comes from the credential, never from the request; the transaction commits
    # when the handler succeeds, before the response leaves.
    async with tenant_unit_of_work(principal.tenant_id) as session:
        yield session


# One set of providers, shared by the API router and the pages (Litestar refuses two for one key).
DEPENDENCIES = {
    "principal": Provide(provide_principal, sync_to_thread=False),
    "db": Provide(provide_db),
}
