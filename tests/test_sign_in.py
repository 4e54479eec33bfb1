"""Signing in to the console: sessions, CSRF, throttling, and what the cookies look like."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from backend.auth.models import SignInSession
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from tests.conftest import csrf_token, sign_in

SESSION_COOKIE = "__Host-accord_console"


async def test_sign_in_sets_a_host_only_secure_httponly_lax_cookie(client, world):
    token = await csrf_token(client)
    response = await client.post(
        "/console/sign-in",
        data={"email": world.a.finance.email, "password": world.a.finance.password, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "path"} <= attributes and "domain" not in attributes and "samesite=lax" in cookie.lower()
    home = await client.get("/console")
    assert home.status_code == 200 and world.a.name in home.text


async def test_each_sign_in_gets_a_new_session_and_sign_out_ends_it(client, world):
    await sign_in(client, world.a.finance)
    first = client.cookies.get(SESSION_COOKIE)
    await sign_in(client, world.a.finance)
    second = client.cookies.get(SESSION_COOKIE)
    assert first and second and first != second
    await client.post("/console/sign-out", data={"_csrf_token": await csrf_token(client, "/console")})
    client.cookies.set(SESSION_COOKIE, second, domain="testserver.local")
    after = await client.get("/console", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/console/sign-in")


async def test_wrong_password_and_unknown_account_get_the_same_answer(client, world):
    token = await csrf_token(client)
    wrong = await client.post(
        "/console/sign-in", data={"email": world.a.finance.email, "password": "not-the-password", "_csrf_token": token}
    )
    unknown = await client.post(
        "/console/sign-in", data={"email": "nobody-here@example.com", "password": "not-the-password", "_csrf_token": token}
    )
    assert wrong.status_code == unknown.status_code == 400
    assert "The e-mail address or the password is not right." in wrong.text
    assert "The e-mail address or the password is not right." in unknown.text


async def test_five_wrong_passwords_in_a_row_are_throttled(client, world):
    token = await csrf_token(client)
    attempt = {"email": world.a.collaborator.email, "password": "guess-guess-guess", "_csrf_token": token}
    statuses = [(await client.post("/console/sign-in", data=attempt)).status_code for _ in range(5)]
    assert statuses == [400, 400, 400, 400, 429]
    # Even the right password waits now, and the page says how long.
    right = await client.post(
        "/console/sign-in", data={**attempt, "password": world.a.collaborator.password}, follow_redirects=False
    )
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    assert "Too many failed attempts" in right.text


async def test_form_post_without_csrf_token_is_refused(client, world):
    await sign_in(client, world.a.finance)
    refused = await client.post("/console/team/invitations", data={"email": "csrf.victim@example.com", "role": "viewer"})
    assert refused.status_code == 403
    members = await client.get("/console/team")
    assert "csrf.victim@example.com" not in members.text


async def test_sign_in_without_csrf_token_is_refused(client, world):
    response = await client.post("/console/sign-in", data={"email": world.a.finance.email, "password": world.a.finance.password})
    assert response.status_code == 403


async def test_htmx_request_with_the_csrf_header_is_accepted(client, world):
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/team")
    response = await client.post(
        "/console/team/invitations",
        data={"email": "htmx.invitee@example.com", "role": "viewer"},
        headers={"HX-Request": "true", "x-csrftoken": token, "HX-Target": "main"},
    )
    assert response.status_code == 200 and "htmx.invitee@example.com" in response.text


async def test_idle_session_is_ended_after_30_minutes(client, world):
    await sign_in(client, world.a.finance)
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        rows = (await session.scalars(select(SignInSession))).all()
        await session.execute(update(SignInSession).values(last_seen_at=rows[0].last_seen_at - timedelta(minutes=31)))
    response = await client.get("/console", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/console/sign-in")


async def test_session_ends_after_8_hours_however_active(client, world):
    await sign_in(client, world.a.finance)
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        row = (await session.scalars(select(SignInSession))).first()
        await session.execute(update(SignInSession).values(created_at=row.created_at - timedelta(hours=8, minutes=1)))
    response = await client.get("/console", follow_redirects=False)
    assert response.status_code == 303


async def test_a_role_change_ends_the_persons_sessions(client, app, world):
    from litestar.testing import AsyncTestClient

    await sign_in(client, world.a.collaborator)
    assert (await client.get("/console")).status_code == 200
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as admin:
        await sign_in(admin, world.a.finance)
        token = await csrf_token(admin, "/console/team")
        changed = await admin.post(
            f"/console/team/{world.a.collaborator.membership_id}/role",
            data={"role": "collector", "_csrf_token": token},
            follow_redirects=False,
        )
        assert changed.status_code == 303
    assert (await client.get("/console", follow_redirects=False)).status_code == 303


async def test_sign_in_page_sends_security_headers(client):
    response = await client.get("/console/sign-in")
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]


async def test_next_parameter_cannot_send_people_off_site(client, world):
    token = await csrf_token(client)
    response = await client.post(
        "/console/sign-in",
        data={
            "email": world.a.finance.email,
            "password": world.a.finance.password,
            "_csrf_token": token,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/console"
