"""Who is acting. Console users and API keys now; buyer contacts and insurer users slot in as further kinds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from backend.audit.service import Actor
from backend.db.tenancy import TenantId
from backend.tenants.models import Role

ACTOR_LABEL_LENGTH = 320  # audit_events.actor_label


class PrincipalKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    BUYER_CONTACT = "buyer_contact"
    INSURER_USER = "insurer_user"
    # A background job acting on its own (closing a settled case, later the escalation sweep).
    JOB = "job"


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
    # Set when the person called the API with one of their personal keys (kind stays USER).
    api_key_prefix: str | None = None
    # A buyer contact's buyer: everything the portal shows is that buyer's, at this tenant.
    buyer_id: uuid.UUID | None = None

    def actor(self) -> Actor:
        if self.kind is PrincipalKind.JOB:
            return Actor(kind="job", id=None, label=self.label)
        label = self.label
        if self.api_key_prefix:
            # The person did it, and the trail says through which key; cut the address, never the key.
            through = f" (API key {self.api_key_prefix}…)"
            label = label[: ACTOR_LABEL_LENGTH - len(through)] + through
        return Actor(kind=self.kind.value, id=str(self.id), label=label, ip=self.ip)


def job_principal(tenant_id: TenantId, job_name: str) -> Principal:
    """The job itself: named on timelines and in the audit trail, holding no role's rights beyond reading."""
    return Principal(
        kind=PrincipalKind.JOB,
        id=uuid.UUID(int=0),
        tenant_id=tenant_id,
        role=Role.VIEWER,
        label=job_name,
        display_name="Accord",
    )
