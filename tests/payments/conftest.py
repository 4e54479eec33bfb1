"""Stripe for the payment tests: localstripe for the session, the HTTP-boundary fake for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.config import get_settings
from tests.conftest import VAR_DIR
from tests.payments.stripe_fakes import WEBHOOK_SECRET, StripeFake, start_localstripe


@pytest.fixture(scope="session")
def localstripe_port() -> Iterator[int]:
    process, port = start_localstripe(VAR_DIR / "localstripe.log")
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def stripe_fake(localstripe_port, monkeypatch) -> Iterator[StripeFake]:
    """Stripe configured for this test: the SDK talks to the fake (and through it to localstripe)."""
    fake = StripeFake(localstripe_port=localstripe_port).start()
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_accord")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", fake.base)
    get_settings.cache_clear()
    try:
        yield fake
    finally:
        fake.stop()
        monkeypatch.undo()
        get_settings.cache_clear()
