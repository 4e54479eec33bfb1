"""Test set-up. The suite runs against PostgreSQL + Redis (the run that counts) or, with
ACCORD_TEST_DATABASE=sqlite, against the embedded default. A missing service fails the run."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

DATABASE_KIND = os.environ.get("ACCORD_TEST_DATABASE", "postgresql")
PG_HOST, PG_PORT, PG_ADMIN, APP_ROLE = "127.0.0.1", 5432, "postgres", "accord_app"
REDIS_URL = os.environ.get("ACCORD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_DB = f"accord_test_{os.getpid()}_{secrets.token_hex(3)}"
VAR_DIR = Path(tempfile.mkdtemp(prefix="accord-test-"))


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _admin_url(database: str) -> str:
    return f"postgresql://{PG_ADMIN}@{PG_HOST}:{PG_PORT}/{database}"


async def _admin_execute(database: str, *statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_admin_url(database))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def pytest_configure(config: pytest.Config) -> None:
    # Settings are read once per process, so the environment is set before any app module loads.
    os.environ["ACCORD_VAR_DIR"] = str(VAR_DIR)
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(32)
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("SMTP_URL", None)
    if DATABASE_KIND == "postgresql":
        if not _answers(PG_HOST, PG_PORT):
            pytest.exit(f"PostgreSQL does not answer on {PG_HOST}:{PG_PORT}: run `make services`", returncode=3)
        if not _answers("127.0.0.1", 6379):
            pytest.exit("Redis does not answer on 127.0.0.1:6379: run `make services`", returncode=3)
        asyncio.run(
            _admin_execute(
                "postgres",
                f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN "
                f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; END IF; END$$",
                f"CREATE DATABASE {TEST_DB}",
            )
        )
        os.environ["DATABASE_URL"] = f"postgresql://{APP_ROLE}@{PG_HOST}:{PG_PORT}/{TEST_DB}"
        os.environ["DATABASE_ADMIN_URL"] = _admin_url(TEST_DB)
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{VAR_DIR / 'accord.db'}"
        os.environ.pop("DATABASE_ADMIN_URL", None)
    from backend.db.migrate import upgrade

    upgrade()
    config.addinivalue_line("markers", "postgresql: needs PostgreSQL (row-level security, roles)")


def pytest_unconfigure(config: pytest.Config) -> None:
    if DATABASE_KIND == "postgresql" and _answers(PG_HOST, PG_PORT):
        asyncio.run(_admin_execute("postgres", f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)"))


# On SQLite, the browser runs the two journeys a newcomer takes on the embedded default (console, buyer
# portal); every journey runs against PostgreSQL, the run that counts. Each journey starts a server and a
# browser, and both runs must fit in CI's 20 minutes side by side.
SQLITE_BROWSER_JOURNEYS = frozenset({"test_console_in_a_browser.py", "test_buyer_portal_in_a_browser.py"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if DATABASE_KIND == "postgresql":
        return
    skip = pytest.mark.skip(reason="PostgreSQL-only (row-level security, roles); the PostgreSQL run covers it")
    skip_journey = pytest.mark.skip(reason="browser journey run against PostgreSQL only (CI time); see SQLITE_BROWSER_JOURNEYS")
    for item in items:
        if "postgresql" in item.keywords:
            item.add_marker(skip)
        elif item.path.name.endswith("_in_a_browser.py") and item.path.name not in SQLITE_BROWSER_JOURNEYS:
            item.add_marker(skip_journey)


# --- people and places ---------------------------------------------------------------------


@dataclass
class Person:
    email: str
    password: str
    user_id: uuid.UUID
    membership_id: uuid.UUID


@dataclass
class Supplier:
    tenant_id: uuid.UUID
    name: str
    api_key: str
    finance: Person  # the owner
    collaborator: Person


@dataclass
class World:
    """Two suppliers: A (Alice, owner; Bob, collaborator) and B (Charlie, owner) who must never see A's things."""

    a: Supplier
    b: Supplier


async def make_supplier(label: str) -> Supplier:
    from backend.auth.passwords import hash_password
    from backend.db.uow import global_unit_of_work, tenant_unit_of_work
    from backend.tenants.models import Membership, MembershipStatus, Role, User
    from backend.tenants.onboarding import create_tenant_with_key
    from backend.tenants.repository import MembershipRepository

    tag = secrets.token_hex(4)
    owner_email, owner_password = f"{label}.owner.{tag}@example.com", f"owner-pass-{tag}-long"
    onboarded = await create_tenant_with_key(
        name=f"{label} Supplier {tag}", admin_email=owner_email, admin_password=owner_password, language="en"
    )
    async with tenant_unit_of_work(onboarded.tenant_id) as session:
        owner_membership = (await MembershipRepository(session).page(limit=1, offset=0))[1][0][0]
    collaborator_email, collaborator_password = f"{label}.collab.{tag}@example.com", f"collab-pass-{tag}-long"
    async with global_unit_of_work() as session:
        collaborator = User(
            email=collaborator_email, display_name=f"{label} collaborator", password_hash=hash_password(collaborator_password)
        )
        session.add(collaborator)
    async with tenant_unit_of_work(onboarded.tenant_id) as session:
        membership = Membership(user_id=collaborator.id, role=Role.COLLABORATOR, status=MembershipStatus.ACTIVE)
        session.add(membership)
    return Supplier(
        tenant_id=onboarded.tenant_id,
        name=onboarded.tenant_name,
        api_key=onboarded.api_key,
        finance=Person(owner_email, owner_password, owner_membership.user_id, owner_membership.id),
        collaborator=Person(collaborator_email, collaborator_password, collaborator.id, membership.id),
    )


@pytest.fixture
async def world() -> World:
    return World(a=await make_supplier("alice"), b=await make_supplier("charlie"))


@pytest.fixture(scope="session")
def app():
    from portal.app import create_app

    return create_app(run_jobs=False)


@pytest.fixture
async def client(app):
    from litestar.testing import AsyncTestClient

    # https, so the browser-like cookie jar sends the Secure __Host- cookies back.
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as test_client:
        yield test_client


CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_token(client, path: str = "/console/sign-in") -> str:
    response = await client.get(path)
    match = CSRF_INPUT.search(response.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def sign_in(client, person: Person) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/console/sign-in",
        data={"email": person.email, "password": person.password, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def mail_dir() -> Path:
    folder = VAR_DIR / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
