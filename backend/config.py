"""Settings come from the environment; every one has an embedded default so `make run` needs none."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _async_database_url(url: str) -> str:
    # Operators write the URL their tools understand; the app needs the async driver.
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def _secret_key(var_dir: Path) -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    # Generated once and kept, so sessions and signed tokens survive a restart.
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    database_admin_url: str
    redis_url: str | None
    storage_url: str
    secret_key: str
    base_url: str
    smtp_url: str | None
    stripe_secret_key: str | None
    stripe_webhook_secret: str | None
    stripe_api_base: str | None
    environment: str = "development"

    @property
    def jobs_in_process(self) -> bool:
        return not self.redis_url

    @classmethod
    def from_environment(cls) -> Settings:
        env = os.environ
        var_dir = Path(env.get("ACCORD_VAR_DIR", PROJECT_ROOT / "var")).resolve()
        database_url = _async_database_url(env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'accord.db'}")
        return cls(
            var_dir=var_dir,
            database_url=database_url,
            database_admin_url=_async_database_url(env.get("DATABASE_ADMIN_URL") or database_url),
            redis_url=env.get("REDIS_URL") or None,
            storage_url=env.get("STORAGE_URL") or f"file://{var_dir / 'files'}",
            secret_key=_secret_key(var_dir),
            base_url=(env.get("ACCORD_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
            smtp_url=env.get("SMTP_URL") or None,
            stripe_secret_key=env.get("STRIPE_SECRET_KEY") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            environment=env.get("ACCORD_ENV", "development"),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environment()
