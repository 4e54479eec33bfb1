from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from backend.tenants.models import Membership, Tenant, User


@dataclass
class TenantOut:
    id: uuid.UUID
    name: str
    slug: str
    country: str
    time_zone: str
    default_language: str

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(tenant.id, tenant.name, tenant.slug, tenant.country, tenant.time_zone, tenant.default_language)


@dataclass
class MemberOut:
    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    display_name: str
    role: str
    status: str
    created_at: datetime

    @classmethod
    def of(cls, membership: Membership, user: User) -> MemberOut:
        return cls(
            membership.id,
            user.id,
            user.email,
            user.display_name,
            membership.role.value,
            membership.status.value,
            membership.created_at,
        )


@dataclass
class MemberPage:
    items: list[MemberOut]
    total: int
    limit: int
    offset: int


@dataclass
class InviteIn:
    email: str
    role: str
    display_name: str | None = None


@dataclass
class RoleIn:
    role: str
