"""Bringing a new tenant in: its owner and a first API key, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from backend.audit import service as audit
from backend.auth import service as auth
from backend.db.tenancy import TenantId
from backend.db.uow import all_tenants_unit_of_work, tenant_unit_of_work
from backend.tenants import service as tenants
from backend.tenants.models import Role


@dataclass(frozen=True)
class Onboarded:
    tenant_id: TenantId
    tenant_name: str
    tenant_slug: str
    admin_email: str
    password: str | None
    api_key: str


async def create_tenant_with_key(
    *,
    name: str,
    admin_email: str,
    admin_name: str | None = None,
    admin_password: str | None = None,
    country: str = "CN",
    time_zone: str = "Asia/Shanghai",
    language: str = "zh-CN",
    slug: str | None = None,
) -> Onboarded:
    async with all_tenants_unit_of_work("create a tenant") as session:
        created = await tenants.create_tenant(
            session,
            name=name,
            admin_email=admin_email,
            admin_name=admin_name,
            admin_password=admin_password,
            country=country,
            time_zone=time_zone,
            default_language=language,
            slug=slug,
        )
    tenant_id = TenantId(created.tenant.id)
    async with tenant_unit_of_work(tenant_id) as session:
        _key, secret = await auth.create_api_key(session, audit.SYSTEM, name="First key", role=Role.ADMIN)
    return Onboarded(tenant_id, created.tenant.name, created.tenant.slug, created.admin.email, created.admin_password, secret)
