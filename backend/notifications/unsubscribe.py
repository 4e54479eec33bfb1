"""Unsubscribe links in buyers' e-mails: a signed, expiring token naming the contact and what to stop.

The link needs no sign-in, so the token is the credential: an HMAC of the tenant, the contact, the
group and the expiry under the server's secret key. Anyone holding the e-mail may use it; all it
can do is stop e-mails to that address, which its reader could ask for anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.db.base import utcnow
from backend.db.tenancy import TenantId

VALID_FOR = timedelta(days=90)


@dataclass(frozen=True)
class Unsubscribe:
    tenant_id: TenantId
    contact_id: uuid.UUID
    group: str  # a notification group, a portal e-mail kind, or "all"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret_key: str, payload: str) -> str:
    return _b64(hmac.new(secret_key.encode(), f"unsubscribe:{payload}".encode(), hashlib.sha256).digest())


def token_for(secret_key: str, tenant_id: uuid.UUID, contact_id: uuid.UUID, group: str, now: datetime | None = None) -> str:
    expires = int(((now or utcnow()) + VALID_FOR).timestamp())
    payload = f"{tenant_id.hex}.{contact_id.hex}.{group}.{expires}"
    return f"{_b64(payload.encode())}.{_signature(secret_key, payload)}"


def read_token(secret_key: str, token: str, now: datetime | None = None) -> Unsubscribe | None:
    """What a genuine, unexpired token asks for; None for anything else."""
    try:
        encoded, signature = token.split(".", 1)
        payload = _unb64(encoded).decode()
        if not hmac.compare_digest(signature, _signature(secret_key, payload)):
            return None
        tenant, contact, group, expires = payload.split(".")
        if int(expires) < (now or utcnow()).timestamp():
            return None
        # The signature proves the server issued it for this tenant: the token is the credential here.
        return Unsubscribe(TenantId(uuid.UUID(hex=tenant)), uuid.UUID(hex=contact), group)
    except (ValueError, UnicodeDecodeError):
        return None
