"""API keys: shown once, kept only as a hash, scoped to their tenant, dead once revoked."""

from __future__ import annotations

import re

from sqlalchemy import select

from backend.auth.models import ApiKey
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from tests.conftest import bearer, csrf_token, sign_in


async def _create_key(client, name: str) -> str:
    token = await csrf_token(client, "/console/api-keys")
    page = await client.post("/console/api-keys", data={"name": name, "role": "viewer", "_csrf_token": token})
    assert page.status_code == 200
    return re.search(r'id="new-secret"[^>]*>(acc_[^<]+)<', page.text).group(1)


async def test_a_new_key_is_shown_once_and_stored_only_as_a_hash(client, world):
    await sign_in(client, world.a.finance)
    secret = await _create_key(client, "ERP export")
    assert (await client.get("/api/v1/tenant", headers=bearer(secret))).json()["id"] == str(world.a.tenant_id)
    listing = await client.get("/console/api-keys")
    assert "ERP export" in listing.text and secret not in listing.text
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        stored = (await session.scalars(select(ApiKey).where(ApiKey.name == "ERP export"))).one()
    assert secret not in (stored.secret_hash, stored.prefix) and len(stored.secret_hash) == 64


async def test_a_revoked_key_is_refused(client, world):
    await sign_in(client, world.a.finance)
    secret = await _create_key(client, "Short-lived")
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        key_id = (await session.scalars(select(ApiKey.id).where(ApiKey.name == "Short-lived"))).one()
    token = await csrf_token(client, "/console/api-keys")
    await client.post(f"/console/api-keys/{key_id}/revoke", data={"_csrf_token": token})
    response = await client.get("/api/v1/tenant", headers=bearer(secret))
    assert response.status_code == 401


async def test_api_without_a_key_or_with_a_made_up_one_is_refused(client):
    assert (await client.get("/api/v1/members")).status_code == 401
    assert (await client.get("/api/v1/members", headers=bearer("acc_made-up-key"))).status_code == 401


async def test_another_tenants_key_cannot_be_revoked(client, world):
    await sign_in(client, world.a.finance)
    async with tenant_unit_of_work(TenantId(world.b.tenant_id)) as session:
        b_key = (await session.scalars(select(ApiKey.id))).first()
    token = await csrf_token(client, "/console/api-keys")
    response = await client.post(f"/console/api-keys/{b_key}/revoke", data={"_csrf_token": token})
    assert response.status_code == 404
    assert (await client.get("/api/v1/tenant", headers=bearer(world.b.api_key))).status_code == 200


async def test_a_key_needs_a_name(client, world):
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/api-keys")
    response = await client.post("/console/api-keys", data={"name": "  ", "role": "viewer", "_csrf_token": token})
    assert response.status_code == 422 and "Give the key a name" in response.text


async def test_a_collaborator_sees_only_their_own_keys_and_cannot_make_organisation_keys(client, world):
    await sign_in(client, world.a.collaborator)
    page = await client.get("/console/api-keys")
    assert page.status_code == 200
    assert "Your personal keys" in page.text and "Organisation keys" not in page.text and "First key" not in page.text
    token = await csrf_token(client, "/console/api-keys")
    refused = await client.post("/console/api-keys", data={"name": "Sneaky", "role": "admin", "_csrf_token": token})
    assert refused.status_code == 403
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        assert (await session.scalars(select(ApiKey).where(ApiKey.name == "Sneaky"))).first() is None
