"""The buyer portal's door: invitations, magic links, portal passwords, sessions, switching suppliers.

A buyer contact is one row per supplier (`buyer_contacts`); the person behind it is known by e-mail.
Proving the address, by a link sent to it or by the password set for it, opens that person's portals
at every supplier that invited them; each session is bound to one contact, so to one buyer at one
supplier, and changing supplier starts a new session.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.models import MagicLink, PortalAccount, SignInSession, SignInThrottle
from backend.auth.passwords import hash_password, needs_rehash, verify_password
from backend.auth.policies import Permission, require
from backend.auth.principal import Audience, Principal, PrincipalKind
from backend.auth.repository import AllTenantsPortalRepository, MagicLinkRepository, SignInThrottleRepository
from backend.auth.service import WRONG_CREDENTIALS, _check_throttle, forget_failures, refuse_sign_in
from backend.auth.tokens import digest, new_token
from backend.buyers.models import BuyerContact
from backend.buyers.repository import BuyerRepository
from backend.db.base import utcnow
from backend.db.tenancy import TenantId
from backend.db.uow import all_tenants_unit_of_work, global_unit_of_work, tenant_unit_of_work
from backend.errors import NotFound, Throttled, ValidationFailed
from backend.i18n import SUPPORTED, _, normalise
from backend.tenants.models import Role, Tenant
from backend.tenants.service import normalise_email

LINK_VALID_FOR = timedelta(minutes=15)
# Links asked for one address, over all suppliers, in a sliding window: enough for a lost e-mail or two.
LINKS_PER_WINDOW = 5
LINK_WINDOW = timedelta(minutes=15)
NOTIFICATION_KINDS = ("messages", "proposals", "statements")

BAD_LINK = _("This sign-in link is not valid: it has expired, was already used, or was replaced. Ask for a new one below.")


def _throttle_key(email: str) -> str:
    return f"portal:{email}"


def contact_actor(contact: BuyerContact, ip: str | None = None) -> audit.Actor:
    return audit.Actor(kind=PrincipalKind.BUYER_CONTACT.value, id=str(contact.id), label=contact.email, ip=ip)


# --- the supplier's side: who may use the portal ---------------------------------------------------


async def _contact_for_change(session: AsyncSession, buyer_id: uuid.UUID, contact_id: uuid.UUID) -> BuyerContact:
    contact = await BuyerRepository(session).contact(buyer_id, contact_id)
    if contact is None:
        raise NotFound(_("Not found."))
    return contact


async def invite_contact(
    session: AsyncSession, principal: Principal, buyer_id: uuid.UUID, contact_id: uuid.UUID, *, ip: str | None = None
) -> BuyerContact:
    """Open the portal to a contact (again) and e-mail them a sign-in link."""
    require(principal, Permission.EDIT_LEDGER)
    contact = await _contact_for_change(session, buyer_id, contact_id)
    now = utcnow()
    contact.portal_invited_at, contact.portal_revoked_at = now, None
    await _new_link(session, contact, now, ip=ip, invitation=True)
    audit.record(
        session, principal.actor(), "buyer_contact.portal_invited", "buyer_contact", contact.id, after={"email": contact.email}
    )
    return contact


async def revoke_contact(session: AsyncSession, principal: Principal, buyer_id: uuid.UUID, contact_id: uuid.UUID) -> BuyerContact:
    """Close the portal to a contact: its links stop working and its sessions end now."""
    require(principal, Permission.EDIT_LEDGER)
    contact = await _contact_for_change(session, buyer_id, contact_id)
    now = utcnow()
    if contact.portal_revoked_at is None and contact.portal_invited_at is not None:
        contact.portal_revoked_at = now
        links = MagicLinkRepository(session)
        await links.revoke_open(contact.id, now)
        await links.end_sessions_of(contact.id)
        audit.record(session, principal.actor(), "buyer_contact.portal_revoked", "buyer_contact", contact.id)
    return contact


async def _new_link(
    session: AsyncSession,
    contact: BuyerContact,
    now: datetime,
    *,
    ip: str | None,
    invitation: bool = False,
    next_path: str | None = None,
) -> MagicLink:
    from backend.jobs import service as jobs

    link = MagicLink(contact_id=contact.id, email=contact.email, requested_at=now, requested_ip=ip, next_path=next_path)
    session.add(link)
    await session.flush()
    # The job makes the token when it sends the e-mail: the outbox holds the link's id, never a secret.
    jobs.enqueue(session, "portal.send_link", {"link_id": str(link.id), "invitation": invitation})
    return link


# --- asking for a link, and the job that sends it ----------------------------------------------------


async def _count_link_request(email: str, now: datetime) -> None:
    """Count a request for links to this address; from the sixth in a window on, refuse it.

    Counted per address whether or not any supplier invited it, so that the refusal tells nothing about
    the address. The sign-in throttle's table keeps the count (key `portal-link:<email>`): the window
    ends at `locked_until`, `consecutive_failures` holds the requests made in it.
    """
    key = f"portal-link:{email}"
    async with global_unit_of_work() as session:
        repository = SignInThrottleRepository(session)
        window = await repository.get(key, for_update=True)
        if window is None:
            window = SignInThrottle(key=key, consecutive_failures=0)
            session.add(window)
        if window.locked_until is None or window.locked_until <= now:
            window.consecutive_failures, window.locked_until = 0, now + LINK_WINDOW
        allowed = window.consecutive_failures < LINKS_PER_WINDOW
        if allowed:
            window.consecutive_failures += 1
            window.last_failure_at = now
        wait = window.locked_until - now
    if not allowed:
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        raise Throttled(
            _(
                "Several sign-in links were asked for this address in the last minutes. Use the newest one you received, "
                "or ask again in %(minutes)s minutes."
            ),
            retry_after=math.ceil(wait.total_seconds()),
            params={"minutes": minutes},
        )


async def request_link(email: str, *, tenant_slug: str | None = None, ip: str | None = None, next_path: str | None = None) -> int:
    """E-mail a sign-in link for each portal open to this address (at the supplier named, or at all).

    The caller answers the same whether or not anything was sent: an address reveals nothing. Returns
    the number of links made, for tests and the log.
    """
    try:
        email = normalise_email(email)
    except ValidationFailed:
        raise ValidationFailed(_("Enter your e-mail address, for example name@company.com."), field="email") from None
    now = utcnow()
    await _count_link_request(email, now)
    async with all_tenants_unit_of_work("portal: find the contacts an address may sign in as") as session:
        contacts = await AllTenantsPortalRepository(session).open_contacts(email, tenant_slug)
    for contact, _buyer, tenant in contacts:
        async with tenant_unit_of_work(TenantId(tenant.id)) as session:
            await _new_link(session, contact, now, ip=ip, next_path=next_path)
    return len(contacts)


@dataclass(frozen=True)
class LinkMail:
    email: str
    name: str
    language: str
    supplier: str
    buyer: str
    link: str
    invitation: bool
    valid_minutes: int


async def issue_link(session: AsyncSession, link_id: uuid.UUID, base_url: str, *, invitation: bool = False) -> LinkMail | None:
    """The job's part: make the token, keep its hash, and say what to e-mail; None when it no longer applies."""
    link = await MagicLinkRepository(session).get(link_id, for_update=True)
    if link is None or link.used_at is not None or link.revoked_at is not None or link.token_hash is not None:
        return None  # used, revoked, or already sent (a delivery of the job again)
    contact = await BuyerRepository(session).contact_by_id(link.contact_id)
    if contact is None or not contact.portal_open:
        return None
    buyer = await BuyerRepository(session).get(contact.buyer_id)
    from backend.tenants.service import get_current_tenant

    tenant = await get_current_tenant(session)
    token, token_hash = new_token()
    now = utcnow()
    link.token_hash, link.expires_at = token_hash, now + LINK_VALID_FOR
    # The newest link replaces those sent before it: one working link per contact at a time.
    await MagicLinkRepository(session).revoke_open(contact.id, now, requested_before=link.requested_at, keep=link.id)
    audit.record(
        session,
        audit.Actor(kind="job", id=None, label="portal.send_link"),
        "buyer_contact.link_sent",
        "buyer_contact",
        contact.id,
    )
    return LinkMail(
        email=contact.email,
        name=contact.name,
        language=contact.language if contact.language in SUPPORTED else tenant.default_language,
        supplier=tenant.name,
        buyer=buyer.legal_name if buyer else "",
        link=f"{base_url}/portal/link/{token}",
        invitation=invitation,
        valid_minutes=int(LINK_VALID_FOR.total_seconds() // 60),
    )


# --- signing in --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortalSignedIn:
    token: str
    language: str | None
    next_path: str | None = None


async def redeem_link(token: str, *, ip: str | None = None, user_agent: str | None = None) -> PortalSignedIn:
    """A link works once, for 15 minutes, while the contact's portal is open; anything else is refused alike."""
    if not token or len(token) > 200:
        raise NotFound(BAD_LINK)
    now = utcnow()
    async with all_tenants_unit_of_work("portal: redeem a sign-in link") as session:
        portal = AllTenantsPortalRepository(session)
        link = await portal.link_by_token(digest(token))
        if (
            link is None
            or link.used_at is not None
            or link.revoked_at is not None
            or link.expires_at is None
            or link.expires_at < now
        ):
            raise NotFound(BAD_LINK)
        found = await portal.contact(link.tenant_id, link.contact_id)
        if found is None or not found[0].portal_open:
            raise NotFound(BAD_LINK)
        link.used_at = now
        contact, tenant = found
    session_token = await start_session(tenant, contact, ip=ip, user_agent=user_agent, action="buyer_contact.signed_in_by_link")
    return PortalSignedIn(token=session_token, language=contact.language, next_path=link.next_path)


async def sign_in_with_password(
    email: str, password: str, *, tenant_slug: str | None = None, ip: str | None = None, user_agent: str | None = None
) -> PortalSignedIn:
    now = utcnow()
    try:
        email = normalise_email(email)
    except ValidationFailed:
        verify_password(None, password)
        raise ValidationFailed(WRONG_CREDENTIALS, field="email") from None
    key = _throttle_key(email)
    await _check_throttle(key, now)
    async with all_tenants_unit_of_work("portal: sign in with a password") as session:
        portal = AllTenantsPortalRepository(session)
        account = await portal.account(email, for_update=True)
        password_ok = verify_password(account.password_hash if account else None, password)
        if password_ok and needs_rehash(account.password_hash):
            account.password_hash = hash_password(password)
        contacts = await portal.open_contacts(email) if password_ok else []
    if not password_ok or not contacts:
        await refuse_sign_in(key, now)
    await forget_failures(key)
    contact, _buyer, tenant = next((row for row in contacts if row[2].slug == tenant_slug), contacts[0])
    token = await start_session(tenant, contact, ip=ip, user_agent=user_agent, action="buyer_contact.signed_in")
    return PortalSignedIn(token=token, language=contact.language)


async def start_session(tenant: Tenant, contact: BuyerContact, *, ip: str | None, user_agent: str | None, action: str) -> str:
    """Always a new token, never one carried over a sign-in or a change of supplier."""
    token, token_hash = new_token()
    async with tenant_unit_of_work(TenantId(tenant.id)) as session:
        session.add(
            SignInSession(
                token_hash=token_hash,
                audience=Audience.PORTAL.value,
                principal_kind=PrincipalKind.BUYER_CONTACT.value,
                principal_id=contact.id,
                ip=ip,
                user_agent=(user_agent or "")[:300] or None,
            )
        )
        audit.record(session, contact_actor(contact, ip), action, "buyer_contact", contact.id)
    return token


def contact_principal(contact: BuyerContact, tenant: Tenant, *, session_id: uuid.UUID | None, ip: str | None) -> Principal:
    return Principal(
        kind=PrincipalKind.BUYER_CONTACT,
        id=contact.id,
        tenant_id=TenantId(tenant.id),
        # Carries no right of the team's (`policies.can` refuses every permission to a contact).
        role=Role.VIEWER,
        label=contact.email,
        display_name=contact.name,
        language=contact.language,
        time_zone=tenant.time_zone,
        session_id=session_id,
        ip=ip,
        buyer_id=contact.buyer_id,
    )


async def principal_of_session(session: AsyncSession, row: SignInSession, ip: str | None) -> Principal | None:
    """For `auth.resolve_session`: the contact behind a portal session, while its portal is open."""
    found = await AllTenantsPortalRepository(session).contact(row.tenant_id, row.principal_id)
    if found is None or not found[0].portal_open:
        return None
    contact, tenant = found
    return contact_principal(contact, tenant, session_id=row.id, ip=ip)


# --- a signed-in contact -----------------------------------------------------------------------------


def _require_contact(principal: Principal) -> None:
    """What follows treats the principal's address as proven on the buyers' side: only a contact's is."""
    if principal.kind is not PrincipalKind.BUYER_CONTACT:
        raise NotFound(_("Not found."))


@dataclass(frozen=True)
class Portal:
    tenant: Tenant
    buyer_name: str
    contact_id: uuid.UUID


async def portals_of(principal: Principal) -> list[Portal]:
    """Every portal open to the person behind this contact: one per supplier and buyer."""
    _require_contact(principal)
    async with all_tenants_unit_of_work("portal: list the person's portals") as session:
        rows = await AllTenantsPortalRepository(session).open_contacts(principal.label)
    return [Portal(tenant=tenant, buyer_name=buyer.legal_name, contact_id=contact.id) for contact, buyer, tenant in rows]


async def switch_portal(
    principal: Principal, contact_id: uuid.UUID, *, token: str | None, ip: str | None, user_agent: str | None
) -> str:
    """Change to another of the person's portals: only one open to the same address; a new session."""
    _require_contact(principal)
    async with all_tenants_unit_of_work("portal: switch to another supplier") as session:
        rows = await AllTenantsPortalRepository(session).open_contacts(principal.label)
    chosen = next(((contact, tenant) for contact, _buyer, tenant in rows if contact.id == contact_id), None)
    if chosen is None:
        raise NotFound(_("Not found."))
    await sign_out(token)
    contact, tenant = chosen
    return await start_session(tenant, contact, ip=ip, user_agent=user_agent, action="buyer_contact.switched_in")


async def sign_out(token: str | None) -> None:
    from backend.auth.service import end_session

    await end_session(token, Audience.PORTAL)


async def sign_out_everywhere(principal: Principal) -> int:
    """End every portal session of this person, at every supplier, and void the links not yet used."""
    _require_contact(principal)
    now = utcnow()
    async with all_tenants_unit_of_work("portal: sign the person out everywhere") as session:
        portal = AllTenantsPortalRepository(session)
        contacts = [(contact.id, contact.tenant_id) for contact, _b, _t in await portal.open_contacts(principal.label)]
        contacts = contacts or [(principal.id, principal.tenant_id)]
        ended = await portal.end_sessions_of([contact_id for contact_id, _t in contacts])
        await portal.revoke_open_links([contact_id for contact_id, _t in contacts], now)
        # Every supplier's trail shows its contact signed out, not only the one where the button was pressed.
        for contact_id, tenant_id in contacts:
            audit.record(
                session,
                principal.actor(),
                "buyer_contact.signed_out_everywhere",
                "buyer_contact",
                contact_id,
                after={"sessions_ended": ended},
                tenant_id=tenant_id,
            )
    return ended


async def has_password(principal: Principal) -> bool:
    _require_contact(principal)
    async with all_tenants_unit_of_work("portal: does the person have a password") as session:
        account = await AllTenantsPortalRepository(session).account(principal.label)
    return account is not None and account.password_hash is not None


# Choosing a first password needs a fresh proof of the address: a session opened by a link this recently.
FRESH_SIGN_IN = timedelta(minutes=15)


async def set_password(principal: Principal, password: str, password_again: str, *, current_password: str | None = None) -> None:
    """A signed-in contact chooses (or changes) the password for their address.

    Changing one needs the current password; choosing the first one needs a session opened by a link
    in the last 15 minutes, so a session left open on a shared computer cannot take the address over.
    Other sessions end and links not yet used stop working.
    """
    _require_contact(principal)
    if password != password_again:
        raise ValidationFailed(_("The two passwords differ."), field="password_again")
    password_hash = hash_password(password)
    now = utcnow()
    async with all_tenants_unit_of_work("portal: set the person's password") as session:
        portal = AllTenantsPortalRepository(session)
        account = await portal.account(principal.label, for_update=True)
        if account is not None and account.password_hash is not None:
            if not verify_password(account.password_hash, current_password or ""):
                raise ValidationFailed(_("The current password is not right."), field="current_password")
        else:
            opened = await portal.session_opened_at(principal.session_id)
            if opened is None or opened + FRESH_SIGN_IN < now:
                raise ValidationFailed(
                    _("For your safety, sign in again with a new link from the sign-in page, then choose the password."),
                    field="password",
                )
        if account is None:
            account = PortalAccount(email=principal.label)
            session.add(account)
        account.password_hash, account.password_changed_at = password_hash, now
        contact_ids = [contact.id for contact, _b, _t in await portal.open_contacts(principal.label)]
        await portal.end_sessions_of(contact_ids, keep=principal.session_id)
        await portal.revoke_open_links(contact_ids, now)
        audit.record(
            session, principal.actor(), "buyer_contact.password_set", "buyer_contact", principal.id, tenant_id=principal.tenant_id
        )


async def preferences(session: AsyncSession, principal: Principal) -> BuyerContact:
    _require_contact(principal)
    contact = await BuyerRepository(session).contact(principal.buyer_id, principal.id)
    if contact is None:
        raise NotFound(_("Not found."))
    return contact


async def set_preferences(
    session: AsyncSession, principal: Principal, *, language: str | None = None, notifications: dict[str, bool] | None = None
) -> BuyerContact:
    contact = await preferences(session, principal)
    before = {"language": contact.language, "notifications": dict(contact.notification_prefs or {})}
    if language is not None:
        chosen = normalise(language)
        if chosen is None:
            raise ValidationFailed(_("Choose English or Simplified Chinese."), field="language")
        contact.language = chosen
    if notifications is not None:
        unknown = set(notifications) - set(NOTIFICATION_KINDS)
        if unknown:
            raise ValidationFailed(
                _("Unknown kind of notification: %(kind)s.") % {"kind": ", ".join(sorted(unknown))}, field="notifications"
            )
        contact.notification_prefs = {kind: bool(notifications.get(kind, False)) for kind in NOTIFICATION_KINDS}
    after = {"language": contact.language, "notifications": dict(contact.notification_prefs or {})}
    if after != before:
        audit.record(
            session,
            principal.actor(),
            "buyer_contact.preferences_changed",
            "buyer_contact",
            contact.id,
            before=before,
            after=after,
        )
    return contact


async def forget_old_links(session: AsyncSession, now: datetime) -> int:
    """Housekeeping in the periodic job's all-tenants unit of work: links a day past asking serve nothing."""
    return await AllTenantsPortalRepository(session).forget_links_before(now - timedelta(days=1))
