"""Tenants and their teams: the only code that changes tenants, users and memberships."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

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
from backend.db.uow import global_unit_of_work
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.i18n import _
from backend.jobs import service as jobs
from backend.tenants.models import Membership, MembershipStatus, Role, Tenant, User
from backend.tenants.repository import AllTenantsMembershipRepository, MembershipRepository, TenantRepository, UserRepository

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


def branding_of(tenant: Tenant) -> Branding:
    return Branding(
        name=tenant.name,
        slug=tenant.slug,
        colour=tenant.brand_colour or DEFAULT_BRAND_COLOUR,
        accent=tenant.brand_accent or DEFAULT_BRAND_ACCENT,
        logo_file_id=tenant.logo_file_id,
    )


async def branding_by_slug(slug: str) -> Branding | None:
    """For pages shown before sign-in (the supplier's own sign-in page); tenants belong to no tenant."""
    if not slug or len(slug) > 63:
        return None
    async with global_unit_of_work() as session:
        tenant = await TenantRepository(session).by_slug(slug)
        return branding_of(tenant) if tenant else None
