"""Who is acting. Console users and API keys now; buyer contacts and insurer users slot in as further kinds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from backend.audit.service import Actor
from backend.db.tenancy import TenantId
from backend.tenants.models import Role


class PrincipalKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    BUYER_CONTACT = "buyer_contact"
    INSURER_USER = "insurer_user"


class Audience(StrEnum):
    """Which web surface a session belongs to; each has its own cookie and rules."""

    CONSOLE = "console"
    PORTAL = "portal"
    INSURER = "insurer"


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    id: uuid.UUID
    tenant_id: TenantId
    role: Role
    label: str
    display_name: str
    language: str | None = None
    time_zone: str = "UTC"
    session_id: uuid.UUID | None = None
    ip: str | None = None

    def actor(self) -> Actor:
        return Actor(kind=self.kind.value, id=str(self.id), label=self.label, ip=self.ip)
