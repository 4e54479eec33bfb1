"""Helpers for the tests of the portal's door and the contact's account: a supplier's slug, a
link asked for at one supplier's sign-in page, the portal session cookie, a second browser."""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager
from pathlib import Path

from backend.auth.principal import Audience
from backend.db.uow import all_tenants_unit_of_work
from backend.http.auth import SESSION_COOKIES
from backend.tenants.repository import TenantRepository
from tests.buyer_portal.helpers import follow_link, latest_link
from tests.conftest import CSRF_INPUT, Supplier
from tests.test_team import run_jobs

PORTAL_COOKIE = SESSION_COOKIES[Audience.PORTAL]
CONSOLE_COOKIE = SESSION_COOKIES[Audience.CONSOLE]


async def slug_of(supplier: Supplier) -> str:
    async with all_tenants_unit_of_work("test: a supplier's slug") as session:
        return (await TenantRepository(session).get(supplier.tenant_id)).slug


async def portal_token(client, path: str = "/portal/sign-in") -> str:
    """The CSRF token of a portal page's forms, as a browser holds it."""
    page = await client.get(path)
    match = CSRF_INPUT.search(page.text)
    assert match, f"no form on {path}: {page.status_code}"
    return match.group(1)


async def ask_for_link(client, address: str, *, supplier: str = "", headers: dict | None = None):
    token = await portal_token(client, f"/portal/sign-in?supplier={supplier}" if supplier else "/portal/sign-in")
    return await client.post(
        "/portal/sign-in", data={"email": address, "supplier": supplier, "_csrf_token": token}, headers=headers or {}
    )


async def sign_in_at(client, mail_dir: Path, address: str, supplier: str) -> None:
    """Sign in to one supplier's portal by a link asked for on its own sign-in page."""
    response = await ask_for_link(client, address, supplier=supplier)
    assert response.status_code == 200, response.text
    await run_jobs()
    signed_in = await follow_link(client, latest_link(mail_dir, address))
    assert signed_in.status_code == 303, signed_in.text


async def sign_in_with_password(client, address: str, password: str, *, supplier: str = ""):
    token = await portal_token(client)
    return await client.post(
        "/portal/sign-in",
        data={"email": address, "password": password, "supplier": supplier, "_csrf_token": token},
        follow_redirects=False,
    )


async def post_form(client, path: str, data: dict | None = None, *, page: str = "/portal/account"):
    """Submit a form the way a browser does: with the CSRF token of the page it is on."""
    token = await portal_token(client, page)
    return await client.post(path, data={**(data or {}), "_csrf_token": token}, follow_redirects=False)


async def is_signed_in(client) -> bool:
    response = await client.get("/portal/account", follow_redirects=False)
    if response.status_code == 200:
        return True
    assert response.status_code in (302, 303) and "/portal/sign-in" in response.headers["location"]
    return False


@asynccontextmanager
async def another_browser(app):
    """Another browser (or device) of the same person, with cookies of its own."""
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=app, base_url="https://testserver.local") as browser:
        yield browser


def an_address(name: str, domain: str = "acme.example") -> str:
    """An address no other test uses: link requests and failed passwords are counted per address, for the whole run."""
    return f"{name}.{secrets.token_hex(3)}@{domain}"
