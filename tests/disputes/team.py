"""More people on a supplier's team than the `world` fixture brings, and the ledger as the tests read it."""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal

from sqlalchemy import func, select

from backend.audit.models import AuditEvent
from backend.auth.passwords import hash_password
from backend.auth.principal import Principal, PrincipalKind
from backend.db.tenancy import TenantId
from backend.db.uow import global_unit_of_work, tenant_unit_of_work
from backend.disputes.models import DisputeEvent
from backend.disputes.repository import DisputeRepository
from backend.invoices.models import LedgerEntry
from backend.tenants.models import Membership, MembershipStatus, Role, User
from tests.conftest import Supplier


async def add_member(supplier: Supplier, role: Role, name: str) -> Principal:
    """A new active member of the supplier with `role`, as the principal they sign in as."""
    tag = secrets.token_hex(4)
    email = f"{name.lower().replace(' ', '.')}.{tag}@example.com"
    async with global_unit_of_work() as session:
        user = User(email=email, display_name=name, password_hash=hash_password(f"pass-{tag}-long-enough"))
        session.add(user)
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        session.add(Membership(user_id=user.id, role=role, status=MembershipStatus.ACTIVE))
    return Principal(
        kind=PrincipalKind.USER, id=user.id, tenant_id=TenantId(supplier.tenant_id), role=role, label=email, display_name=name
    )


async def set_threshold(supplier: Supplier, currency: str, amount: str) -> None:
    """Credit notes and write-offs up to `amount` need no second person (the tenant's setting)."""
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        settings = await DisputeRepository(session).settings_for_update()
        settings.approval_thresholds = {**(settings.approval_thresholds or {}), currency: amount}


async def trail_of(supplier: Supplier, case_id: uuid.UUID) -> tuple[int, int]:
    """(timeline events, audit entries) recorded for the case."""
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        events = await session.scalar(select(func.count()).select_from(DisputeEvent).where(DisputeEvent.case_id == case_id))
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_type == "dispute", AuditEvent.object_id == str(case_id))
        )
    return events or 0, audited or 0


async def audit_actions(supplier: Supplier, case_id: uuid.UUID) -> list[str]:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        statement = (
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "dispute", AuditEvent.object_id == str(case_id))
            .order_by(AuditEvent.seq)
        )
        return list((await session.scalars(statement)).all())


async def ledger_of(supplier: Supplier, buyer_id: uuid.UUID) -> list[tuple[str, Decimal]]:
    """(kind, amount) of the buyer's ledger entries, in the order they were written."""
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        statement = (
            select(LedgerEntry.kind, LedgerEntry.amount)
            .where(LedgerEntry.buyer_id == buyer_id)
            .order_by(LedgerEntry.created_at, LedgerEntry.document_number)
        )
        return [(kind.value, Decimal(amount)) for kind, amount in (await session.execute(statement)).all()]
