"""Buyer-portal test helpers: invite a buyer's contact, and sign in as it the way a person does,
by the link e-mailed to them (the relay and worker run, the e-mail is read from the mail folder)."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from pathlib import Path

from backend.auth import portal as access
from backend.buyers import service as buyers
from tests.conftest import CSRF_INPUT, Supplier
from tests.disputes.helpers import uow
from tests.factories import owner_of
from tests.test_team import run_jobs

LINK = re.compile(r"https?://[^/\s]+(/portal/link/[A-Za-z0-9_\-]+)")


async def invited_contact(
    supplier: Supplier, buyer_id: uuid.UUID, email_address: str, *, name: str = "Li Na", language: str = "en"
) -> uuid.UUID:
    """A contact of the buyer, invited to the portal (the invitation's e-mail goes out at the next run_jobs)."""
    owner = owner_of(supplier)
    async with uow(supplier) as session:
        contact = await buyers.add_contact(session, owner, buyer_id, name=name, email=email_address, language=language)
        await access.invite_contact(session, owner, buyer_id, contact.id)
    return contact.id


def mails_to(mail_dir: Path, address: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            found.append(message)
    return found


def latest_link(mail_dir: Path, address: str) -> str:
    """The path of the newest sign-in link e-mailed to the address."""
    for message in reversed(mails_to(mail_dir, address)):
        match = LINK.search(message.get_body(preferencelist=("plain",)).get_content())
        if match:
            return match.group(1)
    raise AssertionError(f"no sign-in link e-mailed to {address}")


async def follow_link(client, path: str):
    """Open the link's page and press its button, as a person does; returns the POST's response."""
    page = await client.get(path)
    token = CSRF_INPUT.search(page.text)
    assert token, f"no form on {path}: {page.status_code}"
    return await client.post(path, data={"_csrf_token": token.group(1)}, follow_redirects=False)


async def sign_in_to_portal(client, mail_dir: Path, address: str) -> None:
    """Ask for a link on the sign-in page, let the job e-mail it, follow it: the client is then signed in."""
    page = await client.get("/portal/sign-in")
    response = await client.post("/portal/sign-in", data={"email": address, "_csrf_token": CSRF_INPUT.search(page.text).group(1)})
    assert response.status_code == 200, response.text
    await run_jobs()
    signed_in = await follow_link(client, latest_link(mail_dir, address))
    assert signed_in.status_code == 303, signed_in.text
