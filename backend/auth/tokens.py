"""Random secrets for links, sessions and keys: 256 bits from the OS CSPRNG, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(prefix: str = "") -> tuple[str, str]:
    token = prefix + secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> str:
    # The token has 256 random bits, so a fast hash is safe; a slow one would only slow every request.
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
