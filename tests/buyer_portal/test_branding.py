"""The supplier's look in its portal (colours and logo chosen in the console, served to the portal), and
the console's side of portal access: inviting contacts and withdrawing their access, in pages and over the API."""

from __future__ import annotations

import struct
import zlib

from backend.config import get_settings
from backend.tenants.service import DARK_INK, branding_by_slug, contrast
from tests.buyer_portal.access_helpers import an_address, another_browser, is_signed_in, slug_of
from tests.buyer_portal.helpers import follow_link, latest_link, mails_to
from tests.conftest import VAR_DIR, bearer, csrf_token, sign_in
from tests.disputes.helpers import uow
from tests.factories import make_buyer, owner_of
from tests.test_team import run_jobs

NO_FILE = {"logo": ("", b"", "application/octet-stream")}  # what a browser sends when no file is chosen


def png(width: int = 4, height: int = 2, colour: tuple[int, int, int] = (200, 16, 46), padding: int = 0) -> bytes:
    raw = b"".join(b"\x00" + bytes(colour) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    extra = chunk(b"tEXt", b"Comment\x00" + b"x" * padding) if padding else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


async def _save_look(client, *, colour: str = "#c8102e", accent: str = "#fdf2f2", files: dict | None = None, **fields):
    token = await csrf_token(client, "/console/portal-settings")
    return await client.post(
        "/console/portal-settings",
        data={"colour": colour, "accent": accent, "_csrf_token": token, **fields},
        files=files or NO_FILE,
        follow_redirects=False,
    )


def _stored_files(tenant_id) -> list:
    folder = VAR_DIR / "files" / str(tenant_id)
    return sorted(folder.iterdir()) if folder.exists() else []


# --- colours and logo ------------------------------------------------------------------------------------


async def test_the_portal_wears_the_colours_and_logo_chosen_in_the_console(client, world):
    slug = await slug_of(world.a)
    await sign_in(client, world.a.finance)
    logo = png()
    saved = await _save_look(client, colour="#C8102E", accent="#FDF2F2", files={"logo": ("hua-dong.png", logo, "image/png")})
    assert saved.status_code == 303, saved.text
    page = await client.get(saved.headers["location"])
    assert "The portal&#39;s look is saved" in page.text and 'value="#c8102e"' in page.text

    brand = await branding_by_slug(slug)
    assert (brand.colour, brand.accent) == ("#c8102e", "#fdf2f2") and brand.logo_file_id
    theme = await client.get(f"/portal/brand/{slug}/theme.css?v={brand.version}")
    assert theme.status_code == 200 and theme.headers["content-type"].startswith("text/css")
    assert "body.portal" in theme.text and "--brand: #c8102e;" in theme.text and "--brand-soft: #fdf2f2;" in theme.text
    assert "immutable" in theme.headers["cache-control"]
    served = await client.get(f"/portal/brand/{slug}/logo?v={brand.version}")
    assert served.status_code == 200 and served.content == logo
    assert served.headers["content-type"] == "image/png" and served.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in served.headers["cache-control"]
    # An old address of the theme is not kept by browsers: it would hold an old look.
    stale = await client.get(f"/portal/brand/{slug}/theme.css?v=0000000000")
    assert stale.headers["cache-control"] == "no-cache"

    sign_in_page = await client.get(f"/portal/sign-in?supplier={slug}")
    assert f'href="/portal/brand/{slug}/theme.css?v={brand.version}"' in sign_in_page.text
    assert f'src="/portal/brand/{slug}/logo?v={brand.version}"' in sign_in_page.text


async def test_text_on_the_brand_colour_stays_readable_whatever_the_colour(client, world):
    slug = await slug_of(world.a)
    await sign_in(client, world.a.finance)
    for colour, ink in (("#ffe066", DARK_INK), ("#0b1f3a", "#ffffff"), ("#ffffff", DARK_INK), ("#000000", "#ffffff")):
        assert (await _save_look(client, colour=colour, accent="#111111")).status_code == 303
        theme = (await client.get(f"/portal/brand/{slug}/theme.css")).text
        assert f"--brand-ink: {ink};" in theme
        assert contrast(colour, ink) >= 4.5
        assert "--brand-soft-ink: #ffffff;" in theme  # a dark soft colour gets white text
        # Links and buttons in the brand colour on white pages: darkened until they read.
        accent = theme.split("--accent: ")[1][:7]
        assert contrast(accent, "#ffffff") >= 4.5


async def test_a_colour_that_is_not_rrggbb_is_refused_beside_its_field(client, world):
    slug = await slug_of(world.a)
    await sign_in(client, world.a.finance)
    before = (await client.get(f"/portal/brand/{slug}/theme.css")).text
    for bad in ("red", "#fff", "#12345g", "#c8102e;}body{display:none}", "", "rgb(1,2,3)"):
        refused = await _save_look(client, colour=bad)
        assert refused.status_code == 422, bad
        assert 'id="colour-error"' in refused.text and "six hexadecimal digits" in refused.text
        assert 'aria-describedby="brand-colour-hint colour-error" aria-invalid="true"' in refused.text
    refused = await _save_look(client, accent="#f0f5f")
    assert refused.status_code == 422 and 'id="accent-error"' in refused.text
    assert (await client.get(f"/portal/brand/{slug}/theme.css")).text == before


async def test_an_svg_or_a_script_is_refused_as_a_logo_and_nothing_is_kept(client, world):
    slug = await slug_of(world.a)
    await sign_in(client, world.a.finance)
    files_before = _stored_files(world.a.tenant_id)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
    for name, content, content_type in (
        ("logo.svg", svg, "image/svg+xml"),
        ("logo.png", b"<script>alert(1)</script>", "image/png"),  # a script in an image's clothes
        ("logo.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
        ("logo.svg", png(), "image/svg+xml"),  # a PNG whose name says SVG
    ):
        refused = await _save_look(client, files={"logo": (name, content, content_type)})
        assert refused.status_code == 422, name
        assert 'id="logo-error"' in refused.text
    too_large = await _save_look(client, files={"logo": ("big.png", png(padding=1024 * 1024), "image/png")})
    assert too_large.status_code == 413 and "larger than 1 MB" in too_large.text and 'id="logo-error"' in too_large.text
    brand = await branding_by_slug(slug)
    assert brand.logo_file_id is None and brand.colour != "#c8102e"  # nothing of a refused form is saved
    assert (await client.get(f"/portal/brand/{slug}/logo")).status_code == 404
    assert _stored_files(world.a.tenant_id) == files_before


async def test_the_logo_can_be_removed(client, world):
    slug = await slug_of(world.a)
    await sign_in(client, world.a.finance)
    await _save_look(client, files={"logo": ("logo.png", png(), "image/png")})
    with_logo = await branding_by_slug(slug)
    assert (await client.get(f"/portal/brand/{slug}/logo")).status_code == 200
    assert (await _save_look(client, remove_logo="yes")).status_code == 303
    without = await branding_by_slug(slug)
    assert without.logo_file_id is None and without.version != with_logo.version
    assert (await client.get(f"/portal/brand/{slug}/logo")).status_code == 404


async def test_an_unknown_supplier_has_no_theme_and_no_logo(client, world):
    for path in ("/portal/brand/no-such-supplier/theme.css", "/portal/brand/no-such-supplier/logo"):
        assert (await client.get(path)).status_code == 404
    # A supplier that has not chosen a logo has none to serve; its theme is the default one.
    slug = await slug_of(world.b)
    assert (await client.get(f"/portal/brand/{slug}/logo")).status_code == 404
    assert "--brand: #1f5f8b;" in (await client.get(f"/portal/brand/{slug}/theme.css")).text


async def test_only_owners_and_admins_change_the_portals_look_but_everyone_sees_its_address(client, world):
    slug = await slug_of(world.a)
    await sign_in(client, world.a.collaborator)
    page = await client.get("/console/portal-settings", headers={"host": "evil.example"})
    assert page.status_code == 200
    assert f"{get_settings().base_url}/portal/sign-in?supplier={slug}" in page.text and "evil.example" not in page.text
    assert 'action="/console/portal-settings"' not in page.text
    refused = await _save_look(client, colour="#000000")
    assert refused.status_code == 403
    assert (await branding_by_slug(slug)).colour != "#000000"


async def test_the_team_page_leads_to_the_portal_settings(client, world):
    await sign_in(client, world.a.finance)
    assert 'href="/console/portal-settings"' in (await client.get("/console/team")).text


# --- inviting contacts and withdrawing access, from the console and the API ---------------------------------


async def _contact(supplier, address: str, name: str = "Zhang Wei"):
    from backend.buyers import service as buyers

    buyer = await make_buyer(supplier)
    async with uow(supplier) as session:
        contact = await buyers.add_contact(session, owner_of(supplier), buyer, name=name, email=address)
    return buyer, contact.id


def _status_cell(page, contact_id) -> str:
    row = page.text[page.text.index(f'id="contact-{contact_id}"') :]
    return row[: row.index("</tr>")]


async def test_a_contact_is_invited_and_withdrawn_from_the_buyers_page(app, client, world, mail_dir):
    address = an_address("zhang.wei")
    buyer, contact = await _contact(world.a, address)
    await sign_in(client, world.a.finance)
    base = f"/console/buyers/{buyer}/contacts/{contact}"
    row = _status_cell(await client.get(f"/console/buyers/{buyer}"), contact)
    assert "Not invited" in row and f'action="{base}/portal-invitation"' in row and "Invite to the portal" in row
    assert "Withdraw portal access" not in row

    token = await csrf_token(client, f"/console/buyers/{buyer}")
    invited = await client.post(f"{base}/portal-invitation", data={"_csrf_token": token}, follow_redirects=False)
    assert invited.status_code == 303 and invited.headers["location"] == f"/console/buyers/{buyer}#contacts"
    row = _status_cell(await client.get(f"/console/buyers/{buyer}"), contact)
    assert "Invited" in row and "Send a new invitation" in row and f'action="{base}/portal-withdrawal"' in row
    await run_jobs()
    assert "invites you to its buyer portal" in mails_to(mail_dir, address)[-1]["Subject"]

    async with another_browser(app) as buyers_browser:
        assert (await follow_link(buyers_browser, latest_link(mail_dir, address))).status_code == 303
        assert await is_signed_in(buyers_browser)
        # With htmx the list of contacts is redrawn in place, saying what happened.
        withdrawn = await client.post(
            f"{base}/portal-withdrawal", data={"_csrf_token": token}, headers={"hx-request": "true", "hx-target": "contacts"}
        )
        assert withdrawn.status_code == 200 and "can no longer use the portal" in withdrawn.text
        row = _status_cell(withdrawn, contact)
        assert "Access withdrawn" in row and "Invite to the portal" in row and "Withdraw portal access" not in row
        assert not await is_signed_in(buyers_browser)


async def test_another_supplier_can_neither_invite_nor_withdraw_a_contact(client, world, mail_dir):
    address = an_address("not.yours")
    buyer, contact = await _contact(world.a, address)
    base = f"/console/buyers/{buyer}/contacts/{contact}"
    await sign_in(client, world.b.finance)
    token = await csrf_token(client, "/console/buyers")
    for action in ("portal-invitation", "portal-withdrawal"):
        response = await client.post(f"{base}/{action}", data={"_csrf_token": token}, follow_redirects=False)
        assert response.status_code == 404, action
    for method in ("POST", "DELETE"):
        response = await client.request(
            method, f"/api/v1{base[len('/console') :]}/portal-invitation", headers=bearer(world.b.api_key)
        )
        assert response.status_code == 404, method
    # A's own collaborator may not either: inviting is a change to the ledger's contacts.
    client.cookies.clear()
    await sign_in(client, world.a.collaborator)
    token = await csrf_token(client, "/console/buyers")
    assert (await client.post(f"{base}/portal-invitation", data={"_csrf_token": token})).status_code == 403
    listed = await client.get(f"/api/v1/buyers/{buyer}/contacts", headers=bearer(world.a.api_key))
    assert listed.json()["items"][0]["portal_status"] == "not_invited"
    await run_jobs()
    assert mails_to(mail_dir, address) == []


async def test_the_api_invites_a_contact_withdraws_access_and_shows_the_portal_status(client, world, mail_dir):
    address = an_address("api.contact")
    buyer, contact = await _contact(world.a, address)
    path = f"/api/v1/buyers/{buyer}/contacts/{contact}/portal-invitation"
    headers = bearer(world.a.api_key)

    invited = await client.post(path, headers=headers)
    assert invited.status_code == 200
    body = invited.json()
    assert body["portal_status"] == "invited" and body["portal_invited_at"] and body["portal_revoked_at"] is None
    await run_jobs()
    assert len(mails_to(mail_dir, address)) == 1

    withdrawn = await client.delete(path, headers=headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["portal_status"] == "withdrawn"
    listed = await client.get(f"/api/v1/buyers/{buyer}/contacts", headers=headers)
    assert [(c["email"], c["portal_status"]) for c in listed.json()["items"]] == [(address, "withdrawn")]

    again = await client.post(path, headers=headers)
    assert again.json()["portal_status"] == "invited" and again.json()["portal_revoked_at"] is None

    schema = (await client.get("/schema/openapi.json")).json()
    documented = schema["paths"]["/api/v1/buyers/{buyer_id}/contacts/{contact_id}/portal-invitation"]
    assert set(documented) == {"post", "delete"}
    assert schema["components"]["schemas"]["ContactOut"]["properties"]["portal_status"]["enum"] == [
        "not_invited",
        "invited",
        "withdrawn",
    ]
