"""The first wall between tenants: every ORM query and flush is scoped to the session's tenant.

A session carries a scope in `session.info["scope"]`: a `TenantScope` (one tenant), or the
deliberately named `AllTenantsScope` used only by cross-tenant work (credential look-up, the
scheduler's sweeps, the outbox relay). A query that touches a tenant-owned model in a session
without a scope is refused outright rather than silently returning everything.

On PostgreSQL the same scope is written into the transaction (`set_config(..., true)`) so that
row-level security, the second wall, applies the same rule to anything this layer misses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import NewType

from sqlalchemy import event, text
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from backend.db.base import TenantOwned

# Only `backend.auth` (from an authenticated principal) and `backend.tenants` (when a tenant is
# created) produce TenantIds; everything else receives one.
TenantId = NewType("TenantId", uuid.UUID)


class TenancyError(RuntimeError):
    """Code tried to touch tenant-owned data outside, or across, its tenant scope."""


@dataclass(frozen=True)
class TenantScope:
    tenant_id: TenantId


@dataclass(frozen=True)
class AllTenantsScope:
    reason: str


Scope = TenantScope | AllTenantsScope


def scope_of(session: Session) -> Scope | None:
    return session.info.get("scope")


def current_tenant(session: Session) -> TenantId:
    scope = scope_of(session)
    if not isinstance(scope, TenantScope):
        raise TenancyError("this work needs a tenant scope")
    return scope.tenant_id


def _touches_tenant_owned(state: ORMExecuteState) -> bool:
    return any(issubclass(mapper.class_, TenantOwned) for mapper in state.all_mappers)


@event.listens_for(Session, "do_orm_execute")
def _scope_queries(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        # Lazy loads start from an object that was itself loaded through a scoped query.
        scope = scope_of(state.session)
        if isinstance(scope, TenantScope):
            state.statement = state.statement.options(_criteria(scope.tenant_id))
        return
    scope = scope_of(state.session)
    if scope is None:
        if _touches_tenant_owned(state):
            raise TenancyError("query on tenant-owned data without a tenant scope")
        return
    if isinstance(scope, TenantScope):
        state.statement = state.statement.options(_criteria(scope.tenant_id))


def _criteria(tenant_id: TenantId):
    return with_loader_criteria(
        TenantOwned,
        lambda cls: cls.tenant_id == tenant_id,
        include_aliases=True,
        track_closure_variables=False,
    )


@event.listens_for(Session, "before_flush")
def _scope_writes(session: Session, flush_context, instances) -> None:
    scope = scope_of(session)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, TenantOwned):
            continue
        if scope is None:
            raise TenancyError(f"write of {type(obj).__name__} without a tenant scope")
        if isinstance(scope, AllTenantsScope):
            if obj.tenant_id is None:
                raise TenancyError(f"{type(obj).__name__} written across tenants needs its tenant_id")
            continue
        if obj.tenant_id is None and obj in session.new:
            obj.tenant_id = scope.tenant_id
        elif obj.tenant_id != scope.tenant_id:
            raise TenancyError(f"{type(obj).__name__} of another tenant in this tenant's session")


@event.listens_for(Session, "after_begin")
def _scope_transaction(session: Session, transaction, connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    scope = scope_of(session)
    # Per transaction (third argument true): a pooled connection forgets it at commit.
    if isinstance(scope, TenantScope):
        connection.execute(text("SELECT set_config('app.tenant_id', :tenant, true)"), {"tenant": str(scope.tenant_id)})
    elif isinstance(scope, AllTenantsScope):
        connection.execute(text("SELECT set_config('app.cross_tenant', 'on', true)"))


@event.listens_for(Session, "before_commit")
def _refuse_bare_commit(session: Session) -> None:
    if session.info.get("before_commit"):
        raise TenancyError("commit through backend.db.uow.commit, so end-of-transaction work is not skipped")
