from __future__ import annotations


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


async def test_openapi_describes_the_api(client):
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/members" in paths and "/api/v1/audit-events" in paths
    assert not any(path.startswith("/console") for path in paths)


async def test_htmx_is_served_by_the_app_itself(client):
    script = await client.get("/static/vendor/htmx.min.js")
    assert script.status_code == 200 and "htmx" in script.text[:2000]
    assert script.headers["x-content-type-options"] == "nosniff"


async def test_an_unknown_page_gets_a_friendly_404(client):
    response = await client.get("/console/nothing-here")
    assert response.status_code == 404 and "Not found" in response.text
