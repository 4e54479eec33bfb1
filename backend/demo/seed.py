"""Demo data for `make run`: two suppliers, their teams, keys and some history, created once."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from backend.audit import service as audit
from backend.auth import service as auth
from backend.auth.principal import Principal, PrincipalKind
from backend.config import get_settings
from backend.db.tenancy import TenantId
from backend.db.uow import all_tenants_unit_of_work, global_unit_of_work, tenant_unit_of_work
from backend.tenants import service as tenants
from backend.tenants.models import Membership, MembershipStatus, Role, User
from backend.tenants.onboarding import create_tenant_with_key
from backend.tenants.repository import MembershipRepository, TenantRepository, UserRepository

DEMO_LOGIN = "wang.li@huadong-precision.example"

SUPPLIERS = [
    {
        "name": "华东精密制造有限公司",
        "slug": "huadong-precision",
        "country": "CN",
        "time_zone": "Asia/Shanghai",
        "language": "zh-CN",
        "owner": ("王丽", DEMO_LOGIN),
        "team": [
            ("Daniel Becker", "daniel.becker@huadong-precision.example", Role.CREDIT_MANAGER, "en"),
            ("李强", "li.qiang@huadong-precision.example", Role.COLLECTOR, "zh-CN"),
            ("陈静", "chen.jing@huadong-precision.example", Role.COLLABORATOR, "zh-CN"),
            ("Sarah Chen", "sarah.chen@huadong-precision.example", Role.VIEWER, "en"),
        ],
        "invited": ("赵敏", "zhao.min@huadong-precision.example", Role.COLLABORATOR),
        "keys": [("金蝶 ERP 同步", Role.ADMIN, False), ("Old SAP export", Role.VIEWER, True)],
    },
    {
        "name": "Nordlicht Components GmbH",
        "slug": "nordlicht-components",
        "country": "DE",
        "time_zone": "Europe/Berlin",
        "language": "en",
        "owner": ("Anna Weber", "anna.weber@nordlicht.example"),
        "team": [
            ("王丽", DEMO_LOGIN, Role.ADMIN, "zh-CN"),
            ("Jonas Fischer", "jonas.fischer@nordlicht.example", Role.COLLECTOR, "en"),
            ("刘洋", "liu.yang@nordlicht.example", Role.COLLABORATOR, "zh-CN"),
        ],
        "invited": ("Mia Schneider", "mia.schneider@nordlicht.example", Role.CREDIT_MANAGER),
        "keys": [("DATEV bridge", Role.COLLECTOR, False)],
    },
]


async def run(*, force: bool = False, echo: Callable[[str], None] = print) -> None:
    settings = get_settings()
    credentials = settings.var_dir / "demo-credentials.txt"
    async with all_tenants_unit_of_work("demo: is it seeded") as session:
        seeded = await TenantRepository(session).by_slug(SUPPLIERS[0]["slug"]) is not None
    if seeded and not force:
        echo("demo data is already there")
    else:
        password = secrets.token_urlsafe(12)
        for supplier in SUPPLIERS:
            await _seed_supplier(supplier, password if supplier is SUPPLIERS[0] else None)
        credentials.parent.mkdir(parents=True, exist_ok=True)
        credentials.touch(mode=0o600)
        credentials.write_text(f"{DEMO_LOGIN}\n{password}\n")
        echo("demo data created")
    if credentials.exists():
        login, password = credentials.read_text().split()[:2]
        echo("")
        echo("  Accord demo — sign in at http://127.0.0.1:8000/console/sign-in")
        echo(f"    e-mail    {login}")
        echo(f"    password  {password}")
        echo("    (owner at 华东精密制造有限公司, administrator at Nordlicht Components GmbH)")
        echo("")


async def _seed_supplier(supplier: dict, owner_password: str | None) -> None:
    owner_name, owner_email = supplier["owner"]
    onboarded = await create_tenant_with_key(
        name=supplier["name"],
        slug=supplier["slug"],
        admin_email=owner_email,
        admin_name=owner_name,
        admin_password=owner_password or secrets.token_urlsafe(16),
        country=supplier["country"],
        time_zone=supplier["time_zone"],
        language=supplier["language"],
    )
    tenant_id = onboarded.tenant_id
    async with global_unit_of_work() as session:
        owner = await UserRepository(session).by_email(owner_email)
        owner.language = supplier["language"]
    principal = Principal(
        kind=PrincipalKind.USER, id=owner.id, tenant_id=tenant_id, role=Role.OWNER, label=owner_email, display_name=owner_name
    )

    for name, email, role, language in supplier["team"]:
        await _add_active_member(tenant_id, principal, name, email, role, language)
    invited_name, invited_email, invited_role = supplier["invited"]
    async with tenant_unit_of_work(tenant_id) as session:
        await tenants.invite_member(session, principal, email=invited_email, role=invited_role, display_name=invited_name)
    async with tenant_unit_of_work(tenant_id) as session:
        for key_name, role, revoked in supplier["keys"]:
            key, _secret = await auth.create_api_key_for(session, principal, name=key_name, role=role)
            if revoked:
                await auth.revoke_api_key(session, principal, key.id)
    if supplier["team"]:
        # Some history on the trail: a promotion, as a finance team would record it.
        name, email, _role, _language = supplier["team"][-1]
        async with tenant_unit_of_work(tenant_id) as session:
            user = await UserRepository(session).by_email(email)
            membership = await MembershipRepository(session).of_user(user.id)
            await tenants.change_role(
                session, principal, membership.id, Role.COLLECTOR if membership.role is not Role.COLLECTOR else Role.VIEWER
            )


async def _add_active_member(tenant_id: TenantId, principal: Principal, name: str, email: str, role: Role, language: str) -> None:
    """Demo colleagues start as members who already accepted, each with a password nobody is shown."""
    async with global_unit_of_work() as session:
        users = UserRepository(session)
        user = await users.by_email(email)
        if user is None:
            from backend.auth.passwords import hash_password

            user = User(email=email, display_name=name, language=language, password_hash=hash_password(secrets.token_urlsafe(16)))
            session.add(user)
            await session.flush()
    async with tenant_unit_of_work(tenant_id) as session:
        session.add(Membership(user_id=user.id, role=role, status=MembershipStatus.ACTIVE, invited_by=principal.id))
        audit.record(session, principal.actor(), "member.joined", "user", user.id, after={"email": email, "role": role.value})
