"""Console › Invoices › Import: upload, preview with row errors, confirm, a progress bar that polls until done."""

from __future__ import annotations

import re
import uuid

from tests.conftest import csrf_token, sign_in
from tests.factories import make_buyer
from tests.invoices.test_imports import csv_bytes, one_line_invoices
from tests.test_team import run_jobs

PAGE = "/console/invoices/import"


async def upload_form(client, data: bytes, filename: str = "erp-export.csv"):
    token = await csrf_token(client, PAGE)
    return await client.post(
        PAGE, data={"_csrf_token": token}, files={"file": (filename, data, "text/csv")}, follow_redirects=False
    )


async def test_upload_preview_confirm_and_watch_the_progress_bar(client, world):
    await make_buyer(world.a, "上海华东机电设备有限公司", reference="WEB-1")
    await sign_in(client, world.a.finance)
    data = csv_bytes([*one_line_invoices(40, "WEB-1", "WB"), "WB-X,WEB-1,CNY,2026-10-01,,,,,Nut,-2,EA,1.00,13"])
    response = await upload_form(client, data)
    assert response.status_code == 303, response.text
    detail = response.headers["location"]
    assert detail.startswith(f"{PAGE}/")

    page = await client.get(detail)
    assert page.status_code == 200
    assert "erp-export.csv" in page.text and "WB-00001" in page.text
    assert re.search(r"<td>42</td><td><code>quantity</code></td><td>The quantity must be above zero.</td>", page.text)
    assert 'action="' + detail + '/confirm"' in page.text
    assert "hx-trigger" not in page.text.split('id="import-status"')[1].split(">")[0]  # nothing to poll before confirming

    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    confirmed = await client.post(f"{detail}/confirm", data={"_csrf_token": token}, follow_redirects=False)
    assert confirmed.status_code == 303
    queued = await client.get(f"{detail}/progress", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 1s"' in queued.text and "<progress" in queued.text

    await run_jobs()
    done = await client.get(f"{detail}/progress", headers={"HX-Request": "true"})
    assert "hx-trigger" not in done.text  # the polling stops
    assert 'value="100"' in done.text and "Import finished." in done.text
    listing = await client.get(PAGE)
    assert "erp-export.csv" in listing.text


async def test_an_upload_without_the_csrf_token_is_refused(client, world):
    await sign_in(client, world.a.finance)
    response = await client.post(PAGE, files={"file": ("x.csv", b"a", "text/csv")}, follow_redirects=False)
    assert response.status_code == 403


async def test_a_bad_file_is_shown_in_place_naming_the_problem(client, world):
    await sign_in(client, world.a.finance)
    response = await upload_form(client, b"invoice_number,currency\nA,CNY\n")
    assert response.status_code == 422
    assert "The file has no buyer_reference column." in response.text and 'aria-invalid="true"' in response.text
    empty = await upload_form(client, b"", "")
    assert empty.status_code in (400, 422)


async def test_another_tenant_gets_404_on_every_import_page(client, world):
    await make_buyer(world.a, reference="WEB-2")
    await sign_in(client, world.a.finance)
    detail = (await upload_form(client, csv_bytes(one_line_invoices(2, "WEB-2", "WZ")))).headers["location"]
    client.cookies.clear()
    await sign_in(client, world.b.finance)
    token = await csrf_token(client, PAGE)
    for method, path, extra in (
        ("get", detail, {}),
        ("get", f"{detail}/progress", {}),
        ("post", f"{detail}/confirm", {"data": {"_csrf_token": token}}),
        ("get", f"{PAGE}/{uuid.uuid4()}", {}),
    ):
        response = await getattr(client, method)(path, follow_redirects=False, **extra)
        assert response.status_code == 404, (method, path, response.status_code)
    assert "erp-export.csv" not in (await client.get(PAGE)).text
