"""The buyer portal in the demo: each supplier's colours and logo, and its buyers' contacts invited.

Every buyer has at least one invited contact; some people are contacts of a buyer at both suppliers
(Katrin Müller, Erik Lindqvist, 张伟), so switching between portals can be shown; one contact was
invited and later withdrawn, and one was never invited. The invitations are dated in the past and
send no e-mail: `make run` should not fill var/mail with links nobody asked for. A contact signs in
by asking for a link on the sign-in page (filed under var/mail without SMTP_URL), or with the demo
portal password printed by `make run`.
"""

from __future__ import annotations

import io
import math
from datetime import timedelta

from backend.audit import service as audit
from backend.auth.models import PortalAccount
from backend.auth.passwords import hash_password
from backend.auth.principal import Principal
from backend.auth.repository import AllTenantsPortalRepository
from backend.buyers.repository import BuyerRepository
from backend.config import get_settings
from backend.db.base import utcnow
from backend.db.tenancy import TenantId
from backend.db.uow import global_unit_of_work, tenant_unit_of_work
from backend.demo.evidence import _Picture
from backend.tenants import service as tenants

# The person shown switching between the two suppliers' portals.
DEMO_CONTACT = "k.mueller@mueller-antriebe.example"
# Left for the demo's user to invite from the buyer's page.
NOT_INVITED = {"lily.zhou@hengrui-jd.example"}
# Invited, then withdrawn when the buyer went into insolvency.
WITHDRAWN = {"m.voss@hansa-stahl.example"}

WHITE = (255, 255, 255)


def _huadong_logo() -> bytes:
    """A red bearing (outer ring, balls, inner ring) beside three bars: a precision-parts maker's mark."""
    red, dark_red = (185, 28, 28), (127, 29, 29)
    picture = _Picture(144, 48, WHITE)
    cx, cy = 24, 24
    picture.ring(cx, cy, 22, 17, red)
    for k in range(8):
        angle = k * 2 * math.pi / 8
        picture.ring(cx + round(11.5 * math.cos(angle)), cy + round(11.5 * math.sin(angle)), 3, 0, dark_red)
    picture.ring(cx, cy, 7, 3, red)
    for row, length in enumerate((92, 74, 56)):
        picture.rect(54, 10 + row * 11, 54 + length, 16 + row * 11, red if row == 0 else dark_red)
    return picture.png()


def _nordlicht_logo() -> bytes:
    """Northern lights over a horizon: three waves in teal, green and blue, and a star."""
    picture = _Picture(144, 48, WHITE)
    for offset, colour in ((0, (15, 118, 110)), (9, (34, 160, 107)), (18, (37, 99, 235))):
        previous = None
        for x in range(4, 140, 2):
            y = 16 + offset // 2 + round(7 * math.sin((x + offset * 3) / 14))
            if previous:
                picture.line(previous[0], previous[1], x, y, colour, 3)
            previous = (x, y)
    picture.rect(0, 42, 144, 48, (15, 118, 110))
    picture.ring(128, 8, 3, 0, (250, 204, 21))
    return picture.png()


BRANDS = {
    "huadong-precision": ("#b91c1c", "#fdf2f2", _huadong_logo),
    "nordlicht-components": ("#0f766e", "#ecfdf5", _nordlicht_logo),
}


async def seed_portal(tenant_id: TenantId, supplier: dict, owner: Principal) -> None:
    colour, accent, logo = BRANDS[supplier["slug"]]
    now = utcnow()
    async with tenant_unit_of_work(tenant_id) as session:
        await tenants.set_branding(
            session,
            owner,
            colour=colour,
            accent=accent,
            logo=tenants.LogoUpload(filename=f"{supplier['slug']}.png", source=io.BytesIO(logo())),
        )
        repository = BuyerRepository(session)
        _total, buyers = await repository.page(limit=100, offset=0)
        for index, buyer in enumerate(buyers):
            for contact in await repository.contacts(buyer.id):
                if contact.email in NOT_INVITED:
                    continue
                # Invited over the last months, as the supplier rolled the portal out buyer by buyer.
                contact.portal_invited_at = now - timedelta(days=90 - 5 * index, hours=index)
                audit.record(
                    session,
                    owner.actor(),
                    "buyer_contact.portal_invited",
                    "buyer_contact",
                    contact.id,
                    after={"email": contact.email},
                )
                if contact.email in WITHDRAWN:
                    contact.portal_revoked_at = contact.portal_invited_at + timedelta(days=30)
                    audit.record(session, owner.actor(), "buyer_contact.portal_revoked", "buyer_contact", contact.id)


async def seed_portal_password(password: str) -> None:
    """The demo contact's own password for the portal (people hold one per address, for every supplier)."""
    async with global_unit_of_work() as session:
        account = await AllTenantsPortalRepository(session).account(DEMO_CONTACT, for_update=True)
        if account is None:
            account = PortalAccount(email=DEMO_CONTACT)
            session.add(account)
        account.password_hash, account.password_changed_at = hash_password(password), utcnow()


def portal_instructions(password: str | None) -> list[str]:
    settings = get_settings()
    mail = f"filed under {settings.var_dir / 'mail'}/" if not settings.smtp_url else "e-mailed through SMTP_URL"
    lines = ["  Buyer portal — each supplier's own sign-in page:"]
    lines += [f"    {settings.base_url}/portal/sign-in?supplier={slug}" for slug in BRANDS]
    if password:
        lines.append(f"    e-mail    {DEMO_CONTACT}  (a contact of Müller Antriebstechnik at both suppliers)")
        lines.append(f"    portal password  {password}")
    lines.append(f"    any invited buyer contact can ask for a sign-in link instead: links are {mail}")
    return lines
