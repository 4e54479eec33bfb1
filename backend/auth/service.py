"""Signing in and out, sessions, and API keys."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.models import ApiKey, SignInSession, SignInThrottle
from backend.auth.passwords import hash_password, needs_rehash, verify_password
from backend.auth.policies import API_KEY_ROLES, Permission, can, require
from backend.auth.principal import Audience, Principal, PrincipalKind
from backend.auth.repository import (
    AllTenantsCredentialRepository,
    ApiKeyRepository,
    SignInThrottleRepository,
)
from backend.auth.tokens import digest, new_token
from backend.db.base import utcnow
from backend.db.tenancy import TenantId
from backend.db.uow import all_tenants_unit_of_work, global_unit_of_work, tenant_unit_of_work
from backend.errors import NotFound, PermissionDenied, Throttled, ValidationFailed
from backend.i18n import _
from backend.tenants.models import Membership, MembershipStatus, Role, Tenant, User
from backend.tenants.repository import AllTenantsMembershipRepository, UserRepository
from backend.tenants.service import normalise_email

CONSOLE_IDLE_TIMEOUT = timedelta(minutes=30)
CONSOLE_ABSOLUTE_TIMEOUT = timedelta(hours=8)
# Writing last_seen_at on every request would turn each page view into a write; a minute is close enough.
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)

FREE_FAILURES = 4  # the fifth wrong password in a row starts the lock-out
FIRST_LOCKOUT = timedelta(seconds=30)
LONGEST_LOCKOUT = timedelta(minutes=15)

WRONG_CREDENTIALS = _("The e-mail address or the password is not right.")


# --- sign-in -------------------------------------------------------------------------------


def lockout_after(failures: int) -> timedelta:
    """30 s after the fifth failure in a row, doubling with each further one, at most 15 minutes."""
    if failures <= FREE_FAILURES:
        return timedelta()
    return min(FIRST_LOCKOUT * 2 ** (failures - FREE_FAILURES - 1), LONGEST_LOCKOUT)


@dataclass(frozen=True)
class SignedIn:
    token: str
    language: str | None
    tenants: list[Tenant]


async def _check_throttle(email: str, now: datetime) -> None:
    async with global_unit_of_work() as session:
        throttle = await SignInThrottleRepository(session).get(email)
    if throttle and throttle.locked_until and throttle.locked_until > now:
        seconds = math.ceil((throttle.locked_until - now).total_seconds())
        raise Throttled(_("Too many failed attempts. Wait a moment and try again."), retry_after=seconds)


async def _record_failure(email: str, now: datetime) -> int:
    async with global_unit_of_work() as session:
        repository = SignInThrottleRepository(session)
        throttle = await repository.get(email, for_update=True)
        if throttle is None:
            throttle = SignInThrottle(key=email, consecutive_failures=0)
            session.add(throttle)
        throttle.consecutive_failures += 1
        throttle.last_failure_at = now
        if delay := lockout_after(throttle.consecutive_failures):
            throttle.locked_until = now + delay
        return throttle.consecutive_failures


async def refuse_sign_in(key: str, now: datetime) -> NoReturn:
    """Count a failed sign-in against `key` and refuse it: a lock-out once there were too many in a row."""
    failures = await _record_failure(key, now)
    if lockout_after(failures):
        raise Throttled(
            _("Too many failed attempts. Wait a moment and try again."),
            retry_after=int(lockout_after(failures).total_seconds()),
        )
    raise ValidationFailed(WRONG_CREDENTIALS, field="email")


async def forget_failures(key: str) -> None:
    """A successful sign-in starts the count of failures again."""
    async with global_unit_of_work() as session:
        throttle = await SignInThrottleRepository(session).get(key, for_update=True)
        if throttle is not None:
            await session.delete(throttle)


async def sign_in(
    email: str, password: str, *, tenant_slug: str | None = None, ip: str | None = None, user_agent: str | None = None
) -> SignedIn:
    """Each step runs in its own short unit of work; the caller has none open."""
    now = utcnow()
    try:
        email = normalise_email(email)
    except ValidationFailed:
        verify_password(None, password)
        raise ValidationFailed(WRONG_CREDENTIALS, field="email") from None
    await _check_throttle(email, now)

    async with global_unit_of_work() as session:
        user = await UserRepository(session).by_email(email)
        password_ok = verify_password(user.password_hash if user else None, password)
        if password_ok and needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
    if not password_ok:
        await refuse_sign_in(email, now)
    await forget_failures(email)

    async with all_tenants_unit_of_work("sign-in: list the person's organisations") as session:
        memberships = await AllTenantsMembershipRepository(session).active_of_user(user.id)
    if not memberships:
        raise ValidationFailed(_("Your account is not a member of any organisation any more."), field="email")
    chosen = next((pair for pair in memberships if pair[1].slug == tenant_slug), memberships[0])
    membership, tenant = chosen
    token = await start_session(TenantId(tenant.id), user, membership.role, ip=ip, user_agent=user_agent)
    return SignedIn(token=token, language=user.language, tenants=[t for _m, t in memberships])


async def start_session(
    tenant_id: TenantId, user: User, role: Role, *, ip: str | None, user_agent: str | None, action: str = "user.signed_in"
) -> str:
    """Always a new token: a session id is never carried over a sign-in or a change of tenant."""
    token, token_hash = new_token()
    async with tenant_unit_of_work(tenant_id) as session:
        session.add(
            SignInSession(
                token_hash=token_hash,
                audience=Audience.CONSOLE.value,
                principal_kind=PrincipalKind.USER.value,
                principal_id=user.id,
                ip=ip,
                user_agent=(user_agent or "")[:300] or None,
            )
        )
        audit.record(
            session,
            audit.Actor(kind="user", id=str(user.id), label=user.email, ip=ip),
            action,
            "user",
            user.id,
            after={"role": role.value},
        )
    return token


async def switch_tenant(principal: Principal, tenant_slug: str, *, token: str, ip: str | None, user_agent: str | None) -> str:
    async with all_tenants_unit_of_work("switch organisation: check membership") as session:
        memberships = await AllTenantsMembershipRepository(session).active_of_user(principal.id)
        user = await UserRepository(session).get(principal.id)
    chosen = next((pair for pair in memberships if pair[1].slug == tenant_slug), None)
    if chosen is None:
        raise NotFound(_("Not found."))
    await sign_out(token)
    membership, tenant = chosen
    return await start_session(
        TenantId(tenant.id), user, membership.role, ip=ip, user_agent=user_agent, action="user.switched_in"
    )


async def resolve_session(token: str | None, audience: Audience, *, ip: str | None = None) -> Principal | None:
    if not token or len(token) > 200:
        return None
    now = utcnow()
    async with all_tenants_unit_of_work("authenticate a session") as session:
        row = await AllTenantsCredentialRepository(session).session_by_token(digest(token), audience.value)
        if row is None:
            return None
        if row.last_seen_at + CONSOLE_IDLE_TIMEOUT < now or row.created_at + CONSOLE_ABSOLUTE_TIMEOUT < now:
            await session.delete(row)
            return None
        if row.principal_kind == PrincipalKind.BUYER_CONTACT.value and audience is Audience.PORTAL:
            from backend.auth.portal import principal_of_session

            principal = await principal_of_session(session, row, ip)
            if principal is None:
                await session.delete(row)
            elif now - row.last_seen_at > SESSION_TOUCH_INTERVAL:
                row.last_seen_at = now
            return principal
        if row.principal_kind != PrincipalKind.USER.value or audience is not Audience.CONSOLE:
            return None
        user = await UserRepository(session).get(row.principal_id)
        memberships = await AllTenantsMembershipRepository(session).active_of_user(row.principal_id)
        membership, tenant = next(((m, t) for m, t in memberships if t.id == row.tenant_id), (None, None))
        if user is None or membership is None:
            await session.delete(row)
            return None
        if now - row.last_seen_at > SESSION_TOUCH_INTERVAL:
            row.last_seen_at = now
        return Principal(
            kind=PrincipalKind.USER,
            id=user.id,
            tenant_id=TenantId(row.tenant_id),
            role=membership.role,
            label=user.email,
            display_name=user.display_name,
            language=user.language,
            time_zone=tenant.time_zone,
            session_id=row.id,
            ip=ip,
        )


async def sign_out(token: str | None) -> None:
    await end_session(token, Audience.CONSOLE)


async def end_session(token: str | None, audience: Audience) -> None:
    if not token:
        return
    async with all_tenants_unit_of_work("sign out") as session:
        row = await AllTenantsCredentialRepository(session).session_by_token(digest(token), audience.value)
        if row is not None:
            contact = row.principal_kind == PrincipalKind.BUYER_CONTACT.value
            audit.record(
                session,
                audit.Actor(kind=row.principal_kind, id=str(row.principal_id), label=str(row.principal_id), ip=row.ip),
                "buyer_contact.signed_out" if contact else "user.signed_out",
                "buyer_contact" if contact else "user",
                row.principal_id,
                tenant_id=row.tenant_id,
            )
            await session.delete(row)


async def end_expired_sessions(session: AsyncSession, now: datetime) -> int:
    """Housekeeping in the caller's all-tenants unit of work (the periodic job's)."""
    return await AllTenantsCredentialRepository(session).end_expired_sessions(
        idle_before=now - CONSOLE_IDLE_TIMEOUT, created_before=now - CONSOLE_ABSOLUTE_TIMEOUT
    )


async def forget_old_throttles(session: AsyncSession, now: datetime) -> int:
    return await SignInThrottleRepository(session).forget_before(now - timedelta(days=1))


async def set_language(principal: Principal, language: str | None) -> None:
    async with global_unit_of_work() as session:
        user = await UserRepository(session).get(principal.id)
        if user is not None:
            user.language = language


# --- API keys ------------------------------------------------------------------------------
#
# Organisation keys belong to the tenant: a system (an ERP) holds one and acts with the key's own
# role. Personal keys belong to one member: whoever calls with one acts as that person, with the
# role their membership has at the moment of the call, and only while they are an active member.

API_KEY_PREFIX = "acc_"


def api_key_view(key: ApiKey) -> dict[str, str | None]:
    view = {"name": key.name, "prefix": key.prefix, "role": key.role, "revoked_at": key.revoked_at and key.revoked_at.isoformat()}
    if key.user_id is not None:
        view["user_id"] = str(key.user_id)
    return view


def personal_key_in_force(key: ApiKey, membership: Membership | None) -> bool:
    """An active membership that is not younger than the key: a person removed and invited again
    starts with no keys, whatever they kept from before."""
    return (
        key.revoked_at is None
        and membership is not None
        and membership.status is MembershipStatus.ACTIVE
        and membership.created_at <= key.created_at
    )


def _key_name(name: str | None, *, personal: bool = False) -> str:
    name = (name or "").strip()
    if not name and personal:
        raise ValidationFailed(_("Give the key a name, for example the script or the computer that will use it."), field="name")
    if not name:
        raise ValidationFailed(_("Give the key a name, for example the system that will use it."), field="name")
    if len(name) > 100:
        raise ValidationFailed(_("The name must be at most 100 characters long."), field="name")
    return name


def _require_person_at_console(principal: Principal) -> None:
    if principal.kind is not PrincipalKind.USER:
        raise PermissionDenied(_("Only a person signed in to Accord has personal keys."))
    if principal.api_key_prefix is not None:
        # A leaked key must not be able to mint the keys that would outlive its revocation.
        raise PermissionDenied(_("Keys are made in the console, not with another key."))


async def list_api_keys(session: AsyncSession, principal: Principal) -> Sequence[ApiKey]:
    """The organisation's keys, those of systems; personal keys are listed apart."""
    require(principal, Permission.MANAGE_API_KEYS)
    return await ApiKeyRepository(session).organisation_keys()


async def list_my_api_keys(session: AsyncSession, principal: Principal) -> Sequence[ApiKey]:
    _require_person_at_console(principal)
    return await ApiKeyRepository(session).personal_keys_of(principal.id)


@dataclass(frozen=True)
class TeamKey:
    key: ApiKey
    person: User
    role: Role | None  # what the key acts as now: the person's role; None when it acts as no one
    in_force: bool  # False once revoked, or once the person is no longer an active member


async def list_team_personal_keys(session: AsyncSession, principal: Principal) -> list[TeamKey]:
    """The other members' personal keys, for the people who may revoke any key of the organisation."""
    require(principal, Permission.MANAGE_API_KEYS)
    rows = await ApiKeyRepository(session).personal_keys_of_others(principal.id)
    keys = []
    for key, person, membership in rows:
        in_force = personal_key_in_force(key, membership)
        keys.append(TeamKey(key, person, membership.role if in_force else None, in_force))
    return keys


async def create_api_key(
    session: AsyncSession, actor: audit.Actor, *, name: str, role: str | Role, created_by: uuid.UUID | None = None
) -> tuple[ApiKey, str]:
    """Returns the key and its secret; the secret is shown once and only its hash is kept."""
    name = _key_name(name)
    try:
        key_role = Role(role)
    except ValueError:
        key_role = None
    if key_role not in API_KEY_ROLES:
        raise ValidationFailed(_("Choose one of the roles offered."), field="role")
    secret, secret_hash = new_token(API_KEY_PREFIX)
    key = ApiKey(name=name, prefix=secret[:12], secret_hash=secret_hash, role=key_role.value, created_by=created_by)
    session.add(key)
    await session.flush()
    audit.record(session, actor, "api_key.created", "api_key", key.id, after=api_key_view(key))
    return key, secret


async def create_api_key_for(session: AsyncSession, principal: Principal, *, name: str, role: str | Role) -> tuple[ApiKey, str]:
    require(principal, Permission.MANAGE_API_KEYS)
    return await create_api_key(session, principal.actor(), name=name, role=role, created_by=principal.id)


async def create_personal_api_key(session: AsyncSession, principal: Principal, *, name: str) -> tuple[ApiKey, str]:
    """Any active member, for themselves; the key acts as them. The secret is shown once."""
    _require_person_at_console(principal)
    name = _key_name(name, personal=True)
    secret, secret_hash = new_token(API_KEY_PREFIX)
    key = ApiKey(name=name, prefix=secret[:12], secret_hash=secret_hash, role=None, user_id=principal.id, created_by=principal.id)
    session.add(key)
    await session.flush()
    audit.record(session, principal.actor(), "api_key.created", "api_key", key.id, after=api_key_view(key))
    return key, secret


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKey:
    """Owners and admins revoke any key of the organisation; everyone else only their own personal keys."""
    key = await ApiKeyRepository(session).get(key_id)
    own = key is not None and key.user_id is not None and principal.kind is PrincipalKind.USER and key.user_id == principal.id
    if key is None or not (own or can(principal, Permission.MANAGE_API_KEYS)):
        raise NotFound(_("Not found."))
    if key.revoked_at is None:
        before = api_key_view(key)
        key.revoked_at = utcnow()
        audit.record(session, principal.actor(), "api_key.revoked", "api_key", key.id, before=before, after=api_key_view(key))
    return key


async def resolve_api_key(secret: str | None, *, ip: str | None = None) -> Principal | None:
    if not secret or not secret.startswith(API_KEY_PREFIX) or len(secret) > 200:
        return None
    now = utcnow()
    async with all_tenants_unit_of_work("authenticate an API key") as session:
        credentials = AllTenantsCredentialRepository(session)
        key = await credentials.api_key_by_secret(digest(secret))
        if key is None:
            return None
        principal = None
        if key.user_id is None:
            principal = Principal(
                kind=PrincipalKind.API_KEY,
                id=key.id,
                tenant_id=TenantId(key.tenant_id),
                role=Role(key.role),
                label=f"API key {key.prefix}…",
                display_name=key.name,
                ip=ip,
            )
        else:
            # Looked up on every call, so a change of role or a removal applies to the next request.
            found = await credentials.active_membership(key.tenant_id, key.user_id)
            membership, user, tenant = found or (None, None, None)
            if personal_key_in_force(key, membership):
                principal = Principal(
                    kind=PrincipalKind.USER,
                    id=user.id,
                    tenant_id=TenantId(key.tenant_id),
                    # A key can leak where a password cannot: like an organisation key it never acts as an
                    # owner (owners' changes to the team and its owners stay at the console).
                    role=Role.ADMIN if membership.role is Role.OWNER else membership.role,
                    label=user.email,
                    display_name=user.display_name,
                    language=user.language,
                    time_zone=tenant.time_zone,
                    ip=ip,
                    api_key_prefix=key.prefix,
                )
        if principal is not None and (key.last_used_at is None or now - key.last_used_at > SESSION_TOUCH_INTERVAL):
            key.last_used_at = now
        return principal


async def organisations_of(principal: Principal) -> list[Tenant]:
    async with all_tenants_unit_of_work("list the person's organisations") as session:
        return [tenant for _m, tenant in await AllTenantsMembershipRepository(session).active_of_user(principal.id)]
