"""Tenants and their teams: the only code that changes tenants, users and memberships."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.auth.passwords import hash_password, verify_password
from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.auth.repository import ApiKeyRepository, SessionRepository
from backend.auth.tokens import digest, new_token
from backend.db.base import utcnow
from backend.db.tenancy import TenantId, current_tenant
from backend.db.uow import all_tenants_unit_of_work, tenant_unit_of_work
from backend.errors import Conflict, DomainError, NotFound, ValidationFailed
from backend.files import uploads
from backend.i18n import _
from backend.jobs import service as jobs
from backend.payments import subscriptions
from backend.tenants.models import Membership, MembershipStatus, Role, Tenant, User
from backend.tenants.repository import (
    AllTenantsMembershipRepository,
    MembershipRepository,
    TenantFileRepository,
    TenantRepository,
    UserRepository,
)

INVITATION_VALID_FOR = timedelta(days=7)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise ValidationFailed(_("Enter a valid e-mail address."), field="email")
    return email


def slugify(name: str) -> str:
    ascii_part = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return (ascii_part or "tenant")[:40]


def membership_view(membership: Membership) -> dict[str, str]:
    return {"user_id": str(membership.user_id), "role": membership.role.value, "status": membership.status.value}


# --- tenants -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewTenant:
    tenant: Tenant
    admin: User
    admin_password: str | None


async def create_tenant(
    session: AsyncSession,
    *,
    name: str,
    admin_email: str,
    admin_name: str | None = None,
    admin_password: str | None = None,
    country: str = "CN",
    time_zone: str = "Asia/Shanghai",
    default_language: str = "zh-CN",
    slug: str | None = None,
) -> NewTenant:
    """Runs in an all-tenants unit of work (a new tenant has no scope yet); used by the CLI and the demo."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("Enter the organisation's name."), field="name")
    email = normalise_email(admin_email)
    slug = slugify(slug or name)
    tenants = TenantRepository(session)
    if await tenants.by_slug(slug):
        slug = f"{slug}-{uuid.uuid4().hex[:6]}"
    tenant = Tenant(name=name, slug=slug, country=country, time_zone=time_zone, default_language=default_language)
    session.add(tenant)
    await session.flush()

    users = UserRepository(session)
    user = await users.by_email(email)
    generated = None
    if user is None:
        generated = admin_password or new_token()[0][:20]
        user = User(email=email, display_name=admin_name or email.split("@")[0], password_hash=hash_password(generated))
        session.add(user)
        await session.flush()
    session.add(Membership(tenant_id=tenant.id, user_id=user.id, role=Role.OWNER, status=MembershipStatus.ACTIVE))
    audit.record(
        session, audit.SYSTEM, "tenant.created", "tenant", tenant.id, after={"name": name, "slug": slug}, tenant_id=tenant.id
    )
    audit.record(
        session,
        audit.SYSTEM,
        "member.added",
        "user",
        user.id,
        after={"email": email, "role": Role.OWNER.value},
        tenant_id=tenant.id,
    )
    await session.flush()
    return NewTenant(tenant=tenant, admin=user, admin_password=generated)


async def get_current_tenant(session: AsyncSession) -> Tenant:
    tenant = await TenantRepository(session).get(current_tenant(session))
    if tenant is None:
        raise NotFound(_("Not found."))
    return tenant


# --- team ----------------------------------------------------------------------------------


async def list_members(
    session: AsyncSession,
    principal: Principal,
    *,
    limit: int = 50,
    offset: int = 0,
    role: Role | None = None,
    query: str | None = None,
):
    require(principal, Permission.READ_TEAM)
    return await MembershipRepository(session).page(limit=limit, offset=offset, role=role, query=query)


async def get_member(session: AsyncSession, principal: Principal, membership_id: uuid.UUID) -> tuple[Membership, User]:
    require(principal, Permission.READ_TEAM)
    membership = await MembershipRepository(session).get(membership_id)
    if membership is None:
        raise NotFound(_("Not found."))
    return membership, await UserRepository(session).get(membership.user_id)


def _parse_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationFailed(_("Choose one of the roles offered."), field="role") from None


def _check_owner_rules(principal: Principal, target_role: Role, new_role: Role | None) -> None:
    if Role.OWNER in (target_role, new_role) and principal.role is not Role.OWNER:
        raise ValidationFailed(_("Only an owner can grant, change or remove the owner role."), field="role")


async def invite_member(
    session: AsyncSession, principal: Principal, *, email: str, role: str | Role, display_name: str | None = None
) -> Membership:
    require(principal, Permission.MANAGE_TEAM)
    email = normalise_email(email)
    new_role = _parse_role(role)
    _check_owner_rules(principal, Role.VIEWER, new_role)
    users = UserRepository(session)
    user = await users.by_email(email)
    if user is None:
        user = User(email=email, display_name=(display_name or "").strip() or email.split("@")[0])
        session.add(user)
        await session.flush()
    elif await MembershipRepository(session).of_user(user.id):
        raise Conflict(_("This person is already a member of your team."), field="email")
    await subscriptions.check_room(session, principal, "users")
    membership = Membership(user_id=user.id, role=new_role, status=MembershipStatus.INVITED, invited_by=principal.id)
    session.add(membership)
    await session.flush()
    audit.record(session, principal.actor(), "member.invited", "user", user.id, after={"email": email, "role": new_role.value})
    jobs.enqueue(session, "tenants.send_invitation", {"membership_id": str(membership.id)})
    return membership


async def _member_for_change(session: AsyncSession, membership_id: uuid.UUID) -> tuple[Membership, int]:
    """Lock the owners (in id order), then the member: every change takes its locks in the same
    order, so two at once wait for each other instead of deadlocking. Returns the owner count."""
    repository = MembershipRepository(session)
    owners = await repository.count_owners()
    membership = await repository.get(membership_id, for_update=True)
    if membership is None:
        raise NotFound(_("Not found."))
    return membership, owners


async def change_role(session: AsyncSession, principal: Principal, membership_id: uuid.UUID, role: str | Role) -> Membership:
    require(principal, Permission.MANAGE_TEAM)
    new_role = _parse_role(role)
    membership, owners = await _member_for_change(session, membership_id)
    if membership.role is new_role:
        return membership
    _check_owner_rules(principal, membership.role, new_role)
    if membership.role is Role.OWNER and owners <= 1:
        raise Conflict(_("The team needs at least one owner: make someone else owner first."), field="role")
    before = membership_view(membership)
    membership.role = new_role
    # A change of privilege ends the person's sessions here, so the new role applies at once.
    await SessionRepository(session).end_for_principal(membership.user_id)
    audit.record(
        session,
        principal.actor(),
        "member.role_changed",
        "user",
        membership.user_id,
        before=before,
        after=membership_view(membership),
    )
    return membership


async def remove_member(session: AsyncSession, principal: Principal, membership_id: uuid.UUID) -> None:
    require(principal, Permission.MANAGE_TEAM)
    membership, owners = await _member_for_change(session, membership_id)
    _check_owner_rules(principal, membership.role, None)
    if membership.role is Role.OWNER and owners <= 1:
        raise Conflict(_("The team needs at least one owner: make someone else owner first."), field="role")
    await SessionRepository(session).end_for_principal(membership.user_id)
    revoked = []
    for key in await ApiKeyRepository(session).personal_keys_of(membership.user_id):
        if key.revoked_at is None:
            key.revoked_at = utcnow()  # dead already (no membership), and now plainly so in the list and the trail
            revoked.append(key.prefix)
    before = membership_view(membership)
    await session.delete(membership)
    audit.record(
        session,
        principal.actor(),
        "member.removed",
        "user",
        membership.user_id,
        before=before,
        after={"personal_keys_revoked": revoked} if revoked else None,
    )


# --- invitations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationMail:
    email: str
    display_name: str
    language: str
    tenant_name: str
    link: str


async def issue_invitation(session: AsyncSession, membership_id: uuid.UUID, base_url: str) -> InvitationMail | None:
    """Make a fresh single-use link for a pending invitation; None when it is no longer pending."""
    membership = await MembershipRepository(session).get(membership_id, for_update=True)
    if membership is None or membership.status is not MembershipStatus.INVITED:
        return None
    token, token_hash = new_token()
    membership.invitation_token_hash = token_hash
    membership.invitation_expires_at = utcnow() + INVITATION_VALID_FOR
    user = await UserRepository(session).get(membership.user_id)
    tenant = await get_current_tenant(session)
    audit.record(
        session, Actor(kind="job", id=None, label="tenants.send_invitation"), "member.invitation_sent", "user", membership.user_id
    )
    return InvitationMail(
        email=user.email,
        display_name=user.display_name,
        language=user.language or tenant.default_language,
        tenant_name=tenant.name,
        link=f"{base_url}/console/invitations/{token}",
    )


async def find_invitation(session: AsyncSession, token: str) -> tuple[Membership, User, Tenant] | None:
    """Runs cross-tenant: the person following the link is not signed in yet."""
    membership = await AllTenantsMembershipRepository(session).by_invitation(digest(token))
    if membership is None or membership.status is not MembershipStatus.INVITED:
        return None
    if membership.invitation_expires_at is None or membership.invitation_expires_at < utcnow():
        return None
    user = await UserRepository(session).get(membership.user_id)
    tenant = await TenantRepository(session).get(membership.tenant_id)
    return membership, user, tenant


async def accept_invitation(
    session: AsyncSession, token: str, *, display_name: str, password: str, password_again: str
) -> tuple[TenantId, User, Role]:
    found = await find_invitation(session, token)
    if found is None:
        raise NotFound(_("This invitation link is not valid any more. Ask your administrator for a new one."))
    membership, user, tenant = found
    if password != password_again:
        raise ValidationFailed(_("The two passwords differ."), field="password_again")
    if user.password_hash is None:
        user.password_hash = hash_password(password)
    elif not verify_password(user.password_hash, password):
        # The person already signs in to another organisation: their password proves it is them.
        raise ValidationFailed(_("This address already has an Accord password: enter that password to join."), field="password")
    if display_name.strip():
        user.display_name = display_name.strip()[:200]
    membership.status = MembershipStatus.ACTIVE
    membership.invitation_token_hash = None
    membership.invitation_expires_at = None
    audit.record(
        session,
        Actor(kind="user", id=str(user.id), label=user.email),
        "member.joined",
        "user",
        user.id,
        after=membership_view(membership),
        tenant_id=tenant.id,
    )
    return TenantId(tenant.id), user, membership.role


# --- the buyer portal's branding -------------------------------------------------------------------

DEFAULT_BRAND_COLOUR = "#1f5f8b"
DEFAULT_BRAND_ACCENT = "#f0f5f9"
# The portal's page text and the ink it chooses between on a brand colour.
DARK_INK = "#1d2733"
WHITE = "#ffffff"
_COLOUR = re.compile(r"#[0-9a-f]{6}")

LOGO_FILE = "tenant_logo"
MAX_LOGO_BYTES = 1024 * 1024
# Raster images only: an SVG is a document that can carry script.
LOGO_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
LOGO_REFUSED = _("The logo must be a PNG, JPEG or WebP image (SVG and other files are not accepted).")


def _channel(value: int) -> float:
    value /= 255
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a #rrggbb colour: 0 for black, 1 for white."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(red) + 0.7152 * _channel(green) + 0.0722 * _channel(blue)


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def ink_on(background: str) -> str:
    """White or dark ink, whichever reads better on the background."""
    return WHITE if contrast(background, WHITE) >= contrast(background, DARK_INK) else DARK_INK


def readable_on_white(colour: str) -> str:
    """The colour, darkened just enough to be read as text on white (WCAG AA, 4.5:1)."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    for step in range(21):
        factor = 1 - step / 20
        candidate = "#{:02x}{:02x}{:02x}".format(*(int(c * factor + 0.5) for c in (red, green, blue)))
        if contrast(candidate, WHITE) >= 4.5:
            return candidate
    return DARK_INK


def parse_colour(value: str | None, field: str) -> str:
    colour = (value or "").strip().lower()
    if not _COLOUR.fullmatch(colour):
        raise ValidationFailed(_("Enter the colour as # followed by six hexadecimal digits, for example #1f5f8b."), field=field)
    return colour


@dataclass(frozen=True)
class Branding:
    """What the buyer portal wears for a supplier: its name, colours and logo (served by the portal)."""

    name: str
    slug: str
    colour: str
    accent: str
    logo_file_id: uuid.UUID | None

    @property
    def version(self) -> str:
        # Changes whenever the look does, so browsers fetch the new theme and logo at once.
        return hashlib.sha256(f"{self.colour}{self.accent}{self.logo_file_id}".encode()).hexdigest()[:10]

    @property
    def ink(self) -> str:
        """Text on the brand colour (the portal's top bar, primary buttons)."""
        return ink_on(self.colour)

    @property
    def accent_ink(self) -> str:
        return ink_on(self.accent)

    @property
    def link(self) -> str:
        """The brand colour as text on white: links, figures."""
        return readable_on_white(self.colour)


def _stored_colour(value: str | None, default: str) -> str:
    # Only #rrggbb is ever stored; anything else (a hand-edited row) is not written into a stylesheet.
    return value if value and _COLOUR.fullmatch(value) else default


def branding_of(tenant: Tenant) -> Branding:
    return Branding(
        name=tenant.name,
        slug=tenant.slug,
        colour=_stored_colour(tenant.brand_colour, DEFAULT_BRAND_COLOUR),
        accent=_stored_colour(tenant.brand_accent, DEFAULT_BRAND_ACCENT),
        logo_file_id=tenant.logo_file_id,
    )


async def branding_by_slug(slug: str) -> Branding | None:
    """For pages shown before sign-in (the supplier's own sign-in page), when no tenant is chosen yet."""
    if not slug or len(slug) > 63:
        return None
    # The tenants table is under row-level security keyed on its id: finding one by slug is cross-tenant work.
    async with all_tenants_unit_of_work("portal: a supplier's branding, by its slug") as session:
        tenant = await TenantRepository(session).by_slug(slug)
        return branding_of(tenant) if tenant else None


async def current_branding(session: AsyncSession) -> Branding:
    """The session's tenant's portal look; any member may see it (changing it needs MANAGE_TEAM)."""
    return branding_of(await get_current_tenant(session))


@dataclass(frozen=True)
class LogoUpload:
    filename: str | None
    source: BinaryIO


def _branding_view(tenant: Tenant) -> dict[str, str | None]:
    return {
        "brand_colour": tenant.brand_colour,
        "brand_accent": tenant.brand_accent,
        "logo_file_id": tenant.logo_file_id and str(tenant.logo_file_id),
    }


async def set_branding(
    session: AsyncSession,
    principal: Principal,
    *,
    colour: str,
    accent: str,
    logo: LogoUpload | None = None,
    remove_logo: bool = False,
) -> Branding:
    """The portal's colours and logo. The logo is a PNG, JPEG or WebP image (by its content) of at most 1 MB."""
    require(principal, Permission.MANAGE_TEAM)
    colour, accent = parse_colour(colour, "colour"), parse_colour(accent, "accent")
    tenant = await get_current_tenant(session)
    before = _branding_view(tenant)
    if logo is not None:
        head = logo.source.read(16)
        logo.source.seek(0)
        if head and uploads.sniff_content_type(head) not in LOGO_TYPES:
            raise ValidationFailed(LOGO_REFUSED, field="logo")
        try:
            stored = await uploads.store_upload(
                session,
                owner_type=LOGO_FILE,
                owner_id=tenant.id,
                filename=logo.filename,
                source=logo.source,
                refused_type_message=LOGO_REFUSED,
                fallback_name="logo",
                max_bytes=MAX_LOGO_BYTES,
            )
        except DomainError as error:
            error.field = "logo"  # shown beside the logo's field, not a generic "file"
            raise
        tenant.logo_file_id = stored.id
    elif remove_logo:
        tenant.logo_file_id = None
    tenant.brand_colour, tenant.brand_accent = colour, accent
    after = _branding_view(tenant)
    if after != before:
        audit.record(session, principal.actor(), "tenant.branding_changed", "tenant", tenant.id, before=before, after=after)
    return branding_of(tenant)


@dataclass(frozen=True)
class BrandLogo:
    content_type: str
    content: bytes
    version: str


async def brand_logo(slug: str) -> BrandLogo | None:
    """The supplier's logo for its portal, public like the sign-in page it appears on; None when it has none."""
    if not slug or len(slug) > 63:
        return None
    async with all_tenants_unit_of_work("portal: a supplier's logo, by its slug") as session:
        tenant = await TenantRepository(session).by_slug(slug)
    if tenant is None or tenant.logo_file_id is None:
        return None
    async with tenant_unit_of_work(TenantId(tenant.id)) as session:
        stored = await TenantFileRepository(session).get(tenant.logo_file_id)
        if stored is None or stored.owner_type != LOGO_FILE or stored.owner_id != tenant.id:
            return None
        handle = await uploads.open_stored(session, stored)
        try:
            content = await asyncio.to_thread(handle.read, MAX_LOGO_BYTES + 1)
        finally:
            handle.close()
    return BrandLogo(content_type=stored.content_type, content=content, version=branding_of(tenant).version)
