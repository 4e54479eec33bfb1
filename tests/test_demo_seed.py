"""`accord demo seed` gives a newcomer realistic data, once."""

from __future__ import annotations

from backend.db.uow import all_tenants_unit_of_work
from backend.demo import seed
from backend.tenants.repository import TenantRepository


async def test_demo_seed_creates_both_suppliers_once_and_prints_the_sign_in(client):
    printed: list[str] = []
    await seed.run(echo=printed.append)
    await seed.run(echo=printed.append)
    assert printed.count("demo data created") == 1 and "demo data is already there" in printed
    async with all_tenants_unit_of_work("test: demo tenants") as session:
        for supplier in seed.SUPPLIERS:
            assert (await TenantRepository(session).by_slug(supplier["slug"])).name == supplier["name"]
    password = next(line.split()[-1] for line in printed if line.strip().startswith("password"))
    from tests.conftest import Person, sign_in

    await sign_in(client, Person(seed.DEMO_LOGIN, password, None, None))
    home = await client.get("/console")
    assert "华东精密制造有限公司" in home.text and "Nordlicht Components GmbH" in home.text
