"""What the disputes API tests share: calls as a supplier's API key, a case registered over the API,
and the people (the owner, a collaborator, a credit manager) who act as themselves, signed in or with
their personal keys."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import date, timedelta

from backend.auth.principal import Audience, Principal
from backend.auth.service import resolve_session
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.disputes.repository import DisputeRepository
from backend.http.auth import SESSION_COOKIES
from backend.tenants import service as tenants
from tests.conftest import Person, Supplier, bearer, sign_in

TODAY = date.today()
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + secrets.token_bytes(64)


class Api:
    """The supplier's API key, or a person's personal key, calling /api/v1 (paths are given without the prefix)."""

    def __init__(self, client, supplier: Supplier, key: str | None = None) -> None:
        self.client, self.supplier, self.headers = client, supplier, bearer(key or supplier.api_key)

    async def call(self, method: str, path: str, **kwargs):
        return await self.client.request(method, f"/api/v1{path}", headers=self.headers, **kwargs)

    async def get(self, path: str, **kwargs):
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, **kwargs):
        return await self.call("POST", path, **kwargs)

    async def put(self, path: str, **kwargs):
        return await self.call("PUT", path, **kwargs)

    async def ok(self, method: str, path: str, status: int = 200, **kwargs) -> dict:
        response = await self.call(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


async def line_ids(api: Api, buyer_id: uuid.UUID, invoice_id: uuid.UUID) -> dict[int, str]:
    """{line number: line id} of an open invoice, as an API client finds them."""
    found = await api.ok("GET", "/disputes/disputable-invoices", params={"buyer_id": str(buyer_id)})
    invoice = next(i for i in found["items"] if i["invoice_id"] == str(invoice_id))
    return {line["line_no"]: line["invoice_line_id"] for line in invoice["lines"]}


def case_body(buyer_id, items: list[dict], **overrides) -> dict:
    return {
        "buyer_id": str(buyer_id),
        "reason_code": "quality",
        "description": "Bearings arrived scratched; photos attached.",
        "channel": "email",
        "items": [{key: str(value) for key, value in item.items()} for item in items],
        **overrides,
    }


async def register(api: Api, buyer_id, items: list[dict], **overrides) -> dict:
    return await api.ok("POST", "/disputes", 201, json=case_body(buyer_id, items, **overrides))


async def agreed(api: Api, buyer_id, invoice_id, credit: str = "300.00", disputed: str = "500.00") -> tuple[dict, dict]:
    """A case on the invoice whose buyer accepted a credit note: (case, proposal)."""
    case = await register(api, buyer_id, [{"invoice_id": invoice_id, "amount": disputed}])
    proposal = await api.ok(
        "POST",
        f"/disputes/{case['id']}/proposals",
        201,
        json={"options": [{"kind": "credit_note", "amount": credit, "description": "Credit for the scratched bearings"}]},
    )
    await api.ok(
        "POST",
        f"/disputes/proposals/{proposal['id']}/answer",
        json={"response": "accept", "option_id": proposal["options"][0]["id"], "on_behalf_of": "Li Na (AP)"},
    )
    return await api.ok("GET", f"/disputes/{case['id']}"), proposal


async def set_threshold(supplier: Supplier, currency: str, amount: str) -> None:
    """Credit notes and write-offs up to `amount` need no second person (the tenant's setting)."""
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        settings = await DisputeRepository(session).settings_for_update()
        settings.approval_thresholds = {**(settings.approval_thresholds or {}), currency: amount}


async def signed_in(client, person: Person) -> Principal:
    """The person signed in to the console, as the principal their session stands for."""
    await sign_in(client, person)
    return await _session_principal(client)


async def _session_principal(client) -> Principal:
    principal = await resolve_session(client.cookies.get(SESSION_COOKIES[Audience.CONSOLE]), Audience.CONSOLE)
    assert principal is not None
    return principal


async def invited_and_joined(client, api: Api, name: str, role: str) -> Principal:
    """A colleague invited over the API who follows the e-mailed link and joins, signed in."""
    email = f"{name.lower().replace(' ', '.')}.{secrets.token_hex(3)}@example.com"
    member = await api.ok("POST", "/members", 201, json={"email": email, "role": role, "display_name": name})
    async with tenant_unit_of_work(TenantId(api.supplier.tenant_id)) as session:
        mail = await tenants.issue_invitation(session, uuid.UUID(member["id"]), "https://testserver.local")
    path = "/" + mail.link.split("://", 1)[1].split("/", 1)[1]
    page = await client.get(path)
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    password = f"{secrets.token_hex(8)}-long-password"
    joined = await client.post(
        path,
        data={"display_name": name, "password": password, "password_again": password, "_csrf_token": token},
        follow_redirects=False,
    )
    assert joined.status_code == 303, joined.text
    principal = await _session_principal(client)
    assert principal.role.value == role
    return principal


async def personal_key(client, name: str = "My scripts") -> str:
    """A personal API key made in the console by whoever is signed in on `client`; its secret, shown that once."""
    page = await client.get("/console/api-keys")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    made = await client.post("/console/api-keys/personal", data={"name": name, "_csrf_token": token})
    assert made.status_code == 200, made.text
    return re.search(r'id="new-secret"[^>]*>(acc_[^<]+)<', made.text).group(1)


async def in_person(client, supplier: Supplier, name: str = "Finance scripts") -> Api:
    """The supplier's owner, signed in on `client`, calling the API with a personal key made there: a person,
    as asking for a second person's approval needs (an organisation key is no one). The key acts as an admin."""
    await sign_in(client, supplier.finance)
    return Api(client, supplier, await personal_key(client, name))


def due_in(days: int) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


def dispute_operations(app) -> set[tuple[str, str]]:
    """(method, path) of every disputes endpoint the app serves: the handlers written in
    backend.disputes.api, and anything else mounted under /api/v1/disputes."""
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            ours = getattr(handler.fn, "__module__", "") == "backend.disputes.api"
            if ours or route.path_format.startswith("/api/v1/disputes"):
                found |= {(method, route.path_format) for method in handler.http_methods if method not in ("OPTIONS", "HEAD")}
    return found
