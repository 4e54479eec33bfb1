"""Demo data for `make run`: two suppliers, their teams, keys, and a receivables ledger with eight months of history, created once."""

from __future__ import annotations

import csv
import io
import random
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from backend.audit import service as audit
from backend.auth import service as auth
from backend.auth.principal import Principal, PrincipalKind
from backend.buyers import service as buyers
from backend.buyers.service import BuyerInput
from backend.config import get_settings
from backend.db.tenancy import TenantId
from backend.db.uow import all_tenants_unit_of_work, global_unit_of_work, tenant_unit_of_work
from backend.demo.billing import seed_billing
from backend.demo.chargebacks import seed_chargebacks
from backend.demo.escalation import seed_escalation
from backend.demo.notifications import seed_notifications
from backend.demo.payments import seed_payments
from backend.demo.portal import DEMO_CONTACT, portal_instructions, seed_portal, seed_portal_password
from backend.invoices import checks, imports, orders
from backend.invoices import service as invoices
from backend.invoices.drafts import InvoiceDraft, LineDraft
from backend.invoices.models import Invoice
from backend.invoices.repository import OPEN_STATUSES
from backend.money import ZERO, round_money
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
        password, portal_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        for supplier in SUPPLIERS:
            await _seed_supplier(supplier, password if supplier is SUPPLIERS[0] else None)
        await seed_portal_password(portal_password)
        credentials.parent.mkdir(parents=True, exist_ok=True)
        credentials.touch(mode=0o600)
        credentials.write_text(f"{DEMO_LOGIN}\n{password}\n{DEMO_CONTACT}\n{portal_password}\n")
        echo("demo data created")
    if credentials.exists():
        saved = credentials.read_text().split()
        login, password = saved[:2]
        echo("")
        echo("  Accord demo — sign in at http://127.0.0.1:8000/console/sign-in")
        echo(f"    e-mail    {login}")
        echo(f"    password  {password}")
        echo("    (owner at 华东精密制造有限公司, administrator at Nordlicht Components GmbH)")
        echo("")
        for line in portal_instructions(saved[3] if len(saved) >= 4 else None):
            echo(line)
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
    await _seed_ledger(tenant_id, supplier, principal)
    # Imported here: the disputes module reads this one's people and ledger specs.
    from backend.demo.disputes import seed_disputes

    await seed_disputes(tenant_id, supplier, principal)
    await seed_portal(tenant_id, supplier, principal)
    await seed_payments(tenant_id, supplier, principal)
    await seed_notifications(tenant_id, supplier, principal)
    await seed_chargebacks(tenant_id, supplier, principal)
    # After every story and chargeback: their timers are replayed up to today.
    await seed_escalation(tenant_id, supplier, principal)
    # Last: the trial's limits apply from here on.
    await seed_billing(tenant_id, supplier, principal)


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


# --- the receivables ledger --------------------------------------------------------------------
#
# Buyers, orders, invoices and what happened to them over the last eight months, made through the
# services as a finance team would have made them, event by event in date order: so payments find
# the open invoices of their day (oldest first), and every step is on the audit trail.

LEDGER_DAYS = 240

# (sku, description, unit, price in the supplier's currency, quantity range)
# fmt: off
HUADONG_CATALOGUE = [
    ("BRG-6204-2RS", "深沟球轴承 6204-2RS Deep groove ball bearing", "PCS", "12.50", (100, 800)),
    ("BRG-6310-ZZ", "深沟球轴承 6310-ZZ Deep groove ball bearing", "PCS", "68.00", (40, 300)),
    ("BRG-NU2212E", "圆柱滚子轴承 NU2212E Cylindrical roller bearing", "PCS", "385.00", (10, 60)),
    ("MOT-Y2-90L4", "三相异步电动机 Y2-90L-4 1.5 kW Induction motor", "SET", "860.00", (2, 20)),
    ("MOT-YE3-160M4", "高效电机 YE3-160M-4 11 kW IE3 motor", "SET", "4280.00", (1, 6)),
    ("PCB-CTRL-A7", "控制板 PCBA A7 Controller board assembly", "PCS", "310.00", (20, 150)),
    ("PCB-DRV-300", "驱动板 PCBA DRV-300 Driver board assembly", "PCS", "145.00", (30, 200)),
    ("HYD-4WE6D", "电磁换向阀 4WE6D 24V Solenoid directional valve", "PCS", "520.00", (5, 40)),
    ("HYD-DBW10", "先导式溢流阀 DBW10 Pilot relief valve", "PCS", "1150.00", (2, 12)),
    ("GBX-WPA80-30", "蜗轮蜗杆减速机 WPA-80 1:30 Worm gearbox", "SET", "980.00", (2, 15)),
    ("CPL-GR28", "梅花联轴器 GR28 Jaw coupling", "PCS", "46.00", (20, 200)),
    ("SEAL-HYD-KIT63", "液压缸密封件套装 Ø63 Hydraulic seal kit", "KIT", "88.00", (10, 100)),
]
NORDLICHT_CATALOGUE = [
    ("BRG-6206-2RS1", "Rillenkugellager 6206-2RS1 (deep groove ball bearing)", "PCS", "9.80", (100, 600)),
    ("BRG-22212-E", "Pendelrollenlager 22212 E (spherical roller bearing)", "PCS", "142.00", (6, 40)),
    ("MOT-IE3-132S", "Drehstrommotor IE3 132S 5,5 kW (three-phase motor)", "PCS", "612.00", (1, 12)),
    ("MOT-SRV-1FK7", "Servomotor 1FK7 2,2 kW (servo motor)", "PCS", "1480.00", (1, 6)),
    ("PCB-IO-16", "I/O-Baugruppe 16 Kanäle (I/O board assembly)", "PCS", "86.50", (10, 120)),
    ("PCB-CAN-GW", "CAN-Gateway Leiterplatte (CAN gateway PCB assembly)", "PCS", "129.00", (10, 80)),
    ("HYD-WV-NG10", "Wegeventil NG10 24 V DC (directional valve)", "PCS", "318.00", (2, 25)),
    ("HYD-DBV-DN25", "Druckbegrenzungsventil DN25 (pressure relief valve)", "PCS", "245.00", (2, 20)),
    ("GBX-KEG-90", "Kegelradgetriebe KEG 90 i=3 (bevel gearbox)", "PCS", "890.00", (1, 8)),
    ("SNS-IND-M18", "Induktiver Sensor M18 PNP (inductive sensor)", "PCS", "24.90", (20, 200)),
]
# The rate a USD price is derived at, per supplier currency (demo prices, not a market rate).
USD_PER = {"CNY": Decimal("0.14"), "EUR": Decimal("1.08")}

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(first17: str) -> str:
    """A Chinese unified social credit code (18 characters) with its GB 32100-2015 check character."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return first17 + USCC_ALPHABET[(31 - total % 31) % 31]


def german_vat(eight_digits: str) -> str:
    """A German USt-IdNr. with its ISO 7064 MOD 11,10 check digit."""
    product = 10
    for digit in eight_digits:
        total = (int(digit) + product) % 10 or 10
        product = (2 * total) % 11
    check = 11 - product
    return f"DE{eight_digits}{0 if check == 10 else check}"


# profile: how the buyer pays. prompt: around the due date; late: weeks after; stopped: not since
# `stopped_days_ago`; partial: part of each invoice on time, the rest later; insolvent: nothing for months.
HUADONG_BUYERS = [
    {
        "reference": "KH-0101", "legal_name": "苏州恒瑞机电有限公司", "country": "CN", "currency": "CNY", "terms": 30,
        "vat": uscc("91320505MA1MXH4R2"), "credit_limit": "800000", "tags": ["重点客户", "automation"],
        "external_ids": [("sinosure_buyer_id", "CN3205-0048812")], "po": "CG{y}-", "profile": "prompt", "invoices": 14,
        "contacts": [("张伟", "zhang.wei@hengrui-jd.example", "zh-CN", "应付账款主管"),
                     ("Lily Zhou", "lily.zhou@hengrui-jd.example", "en", "Purchasing")],
    },
    {
        "reference": "KH-0102", "legal_name": "深圳市光明电子科技有限公司", "country": "CN", "currency": "CNY", "terms": 60,
        "vat": uscc("91440300MA5DQ7LK8"), "credit_limit": "500000", "tags": ["electronics"],
        "external_ids": [("sinosure_buyer_id", "CN4403-0127730")], "po": "GM-PO-", "profile": "late", "invoices": 12,
        "contacts": [("刘芳", "liu.fang@gm-tech.example", "zh-CN", "财务经理")],
    },
    {
        "reference": "KH-0103", "legal_name": "宁波东方液压件有限公司", "country": "CN", "currency": "CNY", "terms": 45,
        "vat": uscc("91330206MA2GU8TX3"), "credit_limit": "300000", "tags": ["hydraulics"],
        "external_ids": [], "po": "DF", "profile": "partial", "invoices": 9,
        "contacts": [("陈晓东", "chen.xd@dongfang-hyd.example", "zh-CN", "采购经理")],
    },
    {
        "reference": "KH-0104", "legal_name": "江苏华信控股集团有限公司", "country": "CN", "currency": "CNY", "terms": 60,
        "vat": uscc("91320200MA1P0C5Y1"), "credit_limit": "2000000", "tags": ["集团"],
        "external_ids": [("sinosure_buyer_id", "CN3202-0009911")], "po": "HXJT-", "profile": "prompt", "invoices": 4,
        "contacts": [("周建国", "zhou.jg@huaxin-group.example", "zh-CN", "财务总监")],
    },
    {
        "reference": "KH-0105", "legal_name": "无锡华信自动化设备有限公司", "country": "CN", "currency": "CNY", "terms": 60,
        "vat": uscc("91320214MA1Q3W9N6"), "credit_limit": "600000", "tags": ["automation", "集团"],
        "external_ids": [], "po": "HXZD-", "profile": "stopped", "stopped_days_ago": 135, "invoices": 10,
        "parent": "KH-0104",
        "contacts": [("孙丽", "sun.li@huaxin-auto.example", "zh-CN", "应付会计")],
    },
    {
        "reference": "KH-0106", "legal_name": "青岛海联船舶配件有限公司", "country": "CN", "currency": "CNY", "terms": 45,
        "vat": uscc("91370211MA3C6FJ05"), "credit_limit": "400000", "tags": ["marine"],
        "external_ids": [], "po": "HL", "profile": "late", "invoices": 9,
        "contacts": [("王海", "wang.hai@hailian-marine.example", "zh-CN", "财务")],
    },
    {
        "reference": "KH-0107", "legal_name": "成都西部重工机械有限公司", "country": "CN", "currency": "CNY", "terms": 30,
        "vat": uscc("91510100MA61T2KB4"), "credit_limit": "350000", "tags": ["heavy machinery"],
        "external_ids": [], "po": "XB-", "profile": "prompt", "invoices": 8,
        "contacts": [("李娜", "li.na@xibu-heavy.example", "zh-CN", "出纳")],
    },
    {
        "reference": "KH-0108", "legal_name": "温州瑞丰阀门有限公司", "country": "CN", "currency": "CNY", "terms": 30,
        "vat": uscc("91330303MA2AR4PD7"), "credit_limit": "0", "tags": ["破产清算", "watch"],
        "external_ids": [("sinosure_buyer_id", "CN3303-0066104")], "po": "RF", "profile": "insolvent", "invoices": 4,
        "contacts": [("黄志强", "huang.zq@ruifeng-valve.example", "zh-CN", "总经理")],
    },
    {
        "reference": "EX-0201", "legal_name": "Baltic Marine Supplies AB", "country": "SE", "currency": "USD", "terms": 45,
        "vat": "SE556812447801", "registration": "556812-4478", "credit_limit": "120000", "tags": ["export", "marine"],
        "external_ids": [("sinosure_buyer_id", "SE-0231187"), ("duns", "35-418-9920")], "po": "BMS-", "profile": "prompt",
        "invoices": 7,
        "contacts": [("Erik Lindqvist", "erik.lindqvist@balticmarine.example", "en", "Accounts payable")],
    },
    {
        "reference": "EX-0202", "legal_name": "Müller Antriebstechnik GmbH", "country": "DE", "currency": "USD", "terms": 60,
        "vat": german_vat("81452937"), "registration": "HRB 734215, Amtsgericht Stuttgart", "credit_limit": "150000",
        "tags": ["export", "drives"], "external_ids": [("sinosure_buyer_id", "DE-1187720")], "po": "45000", "profile": "late",
        "invoices": 7,
        "contacts": [("Katrin Müller", "k.mueller@mueller-antriebe.example", "en", "Kreditorenbuchhaltung"),
                     ("吴俊", "wu.jun@mueller-antriebe.example", "zh-CN", "China sourcing")],
    },
]
NORDLICHT_BUYERS = [
    {
        "reference": "D-10001", "legal_name": "Müller Antriebstechnik GmbH", "country": "DE", "currency": "EUR", "terms": 30,
        "vat": german_vat("81452937"), "registration": "HRB 734215, Amtsgericht Stuttgart", "credit_limit": "250000",
        "tags": ["key account", "drives"], "external_ids": [("allianz_trade_buyer_id", "DE-55102934")], "po": "45000",
        "profile": "prompt", "invoices": 14,
        "contacts": [("Katrin Müller", "k.mueller@mueller-antriebe.example", "en", "Kreditorenbuchhaltung")],
    },
    {
        "reference": "D-10002", "legal_name": "Schneider Fördertechnik GmbH & Co. KG", "country": "DE", "currency": "EUR",
        "terms": 60, "vat": german_vat("27391054"), "registration": "HRA 20417, Amtsgericht Dortmund",
        "credit_limit": "180000", "tags": ["conveyors"], "external_ids": [("allianz_trade_buyer_id", "DE-55230117")],
        "po": "SF-", "profile": "late", "invoices": 11,
        "contacts": [("Thomas Schneider", "t.schneider@schneider-foerder.example", "en", "Finance")],
    },
    {
        "reference": "D-10003", "legal_name": "Rheinland Pumpen AG", "country": "DE", "currency": "EUR", "terms": 45,
        "vat": german_vat("11820367"), "registration": "HRB 90211, Amtsgericht Köln", "credit_limit": "200000",
        "tags": ["pumps"], "external_ids": [], "po": "RP", "profile": "partial", "invoices": 9,
        "contacts": [("Laura Becker", "l.becker@rheinland-pumpen.example", "en", "Accounts payable")],
    },
    {
        "reference": "D-10004", "legal_name": "Kessler Industrie Holding AG", "country": "DE", "currency": "EUR", "terms": 60,
        "vat": german_vat("30117459"), "registration": "HRB 118842, Amtsgericht München", "credit_limit": "500000",
        "tags": ["group"], "external_ids": [("allianz_trade_buyer_id", "DE-55000876")], "po": "KIH-", "profile": "prompt",
        "invoices": 4,
        "contacts": [("Dr. Stefan Kessler", "s.kessler@kessler-holding.example", "en", "CFO")],
    },
    {
        "reference": "D-10005", "legal_name": "Bayern Hydraulik Service GmbH", "country": "DE", "currency": "EUR", "terms": 30,
        "vat": german_vat("26655013"), "registration": "HRB 204471, Amtsgericht Augsburg", "credit_limit": "90000",
        "tags": ["hydraulics", "group"], "external_ids": [], "po": "BHS", "profile": "stopped", "stopped_days_ago": 135,
        "invoices": 10, "parent": "D-10004",
        "contacts": [("Florian Huber", "f.huber@bayern-hydraulik.example", "en", "Buchhaltung")],
    },
    {
        "reference": "D-20001", "legal_name": "Baltic Marine Supplies AB", "country": "SE", "currency": "EUR", "terms": 45,
        "vat": "SE556812447801", "registration": "556812-4478", "credit_limit": "80000", "tags": ["EU", "marine"],
        "external_ids": [("allianz_trade_buyer_id", "SE-10448210")], "po": "BMS-", "profile": "prompt", "invoices": 7,
        "reverse_charge": True,
        "contacts": [("Erik Lindqvist", "erik.lindqvist@balticmarine.example", "en", "Accounts payable")],
    },
    {
        "reference": "D-20002", "legal_name": "Polska Automatyka Sp. z o.o.", "country": "PL", "currency": "EUR", "terms": 45,
        "vat": "PL5272846619", "registration": "KRS 0000412873", "credit_limit": "70000", "tags": ["EU", "automation"],
        "external_ids": [], "po": "PA/", "profile": "late", "invoices": 8, "reverse_charge": True,
        "contacts": [("Agnieszka Nowak", "a.nowak@polska-automatyka.example", "en", "Księgowość")],
    },
    {
        "reference": "D-20003", "legal_name": "Van der Berg Machinebouw B.V.", "country": "NL", "currency": "EUR", "terms": 30,
        "vat": "NL859204317B01", "registration": "KvK 58120411", "credit_limit": "60000", "tags": ["EU"],
        "external_ids": [], "po": "VDB", "profile": "prompt", "invoices": 7, "reverse_charge": True,
        "contacts": [("Pieter van der Berg", "p.vanderberg@vdb-machinebouw.example", "en", "Director")],
    },
    {
        "reference": "D-30001", "legal_name": "苏州恒瑞机电有限公司", "country": "CN", "currency": "USD", "terms": 60,
        "vat": uscc("91320505MA1MXH4R2"), "credit_limit": "100000", "tags": ["export", "China"],
        "external_ids": [("allianz_trade_buyer_id", "CN-77120455")], "po": "CG{y}-", "profile": "prompt", "invoices": 6,
        "contacts": [("张伟", "zhang.wei@hengrui-jd.example", "zh-CN", "应付账款主管")],
    },
    {
        "reference": "D-10006", "legal_name": "Hansa Stahlhandel GmbH i. L.", "country": "DE", "currency": "EUR", "terms": 30,
        "vat": german_vat("14473320"), "registration": "HRB 77310, Amtsgericht Hamburg", "credit_limit": "0",
        "tags": ["insolvency", "watch"], "external_ids": [("allianz_trade_buyer_id", "DE-55391022")], "po": "HS",
        "profile": "insolvent", "invoices": 4,
        "contacts": [("Jan Petersen", "j.petersen@hansa-stahl.example", "en", "Insolvency administrator's office"),
                     ("Maren Voss", "m.voss@hansa-stahl.example", "en", "Accounts payable (until the insolvency)")],
    },
]

LEDGER = {
    "huadong-precision": {
        "currency": "CNY", "tax_rate": "13", "catalogue": HUADONG_CATALOGUE, "buyers": HUADONG_BUYERS,
        "invoice_prefix": "HD", "credit_prefix": "HD-CN", "bank": "ICBC", "blocking": ["quantity"],
        "carriers": ["顺丰速运", "德邦物流", "中远海运 COSCO"],
        "texts": {
            "credit_full": "错发型号（6204-ZZ 代替 6204-2RS），客户已退货，退货单 RMA-{n}",
            "credit_part": "价格更正：按框架协议价结算",
            "write_off": "客户破产清算，债权已向管理人申报；按信保理赔后核销",
            "interest": "逾期利息（合同第 7 条，年化 6%）",
            "bank_charges": "Bank charges deducted by the remitting bank",
            "instalment": "第一期分期付款（与买方财务总监电话约定）",
            "on_account": "Settles the oldest open invoice; the rest is an advance for the next order",
        },
    },
    "nordlicht-components": {
        "currency": "EUR", "tax_rate": "19", "catalogue": NORDLICHT_CATALOGUE, "buyers": NORDLICHT_BUYERS,
        "invoice_prefix": "NL-RE", "credit_prefix": "NL-GS", "bank": "SEPA", "blocking": ["tax"],
        "carriers": ["DB Schenker", "DHL Freight", "Dachser"],
        "texts": {
            "credit_full": "Wrong variant delivered, goods returned (RMA-{n})",
            "credit_part": "Price correction to the framework agreement",
            "write_off": "Buyer in insolvency (Az. 67c IN 118/26); claim lodged with the administrator",
            "interest": "Verzugszinsen § 288 BGB",
            "bank_charges": "Bank charges deducted by the remitting bank",
            "instalment": "First instalment under the payment plan of the 12th",
            "on_account": "Settles the oldest open invoice; the rest is an advance for the next order",
        },
    },
}

# fmt: on
PAY_DELAY = {"prompt": (-6, 4), "late": (12, 48), "partial": (0, 10), "stopped": (0, 12), "insolvent": (5, 25)}


def _principal_for(tenant_id: TenantId, user: User, role: Role) -> Principal:
    return Principal(
        kind=PrincipalKind.USER, id=user.id, tenant_id=tenant_id, role=role, label=user.email, display_name=user.display_name
    )


async def _ledger_people(tenant_id: TenantId, supplier: dict, owner: Principal) -> tuple[Principal, Principal]:
    """Who records what: payments by a collector, credit decisions by a credit manager (else the owner)."""
    people = {role: email for _name, email, role, _language in supplier["team"]}
    found: dict[Role, Principal] = {}
    async with global_unit_of_work() as session:
        for role in (Role.COLLECTOR, Role.CREDIT_MANAGER):
            if role in people:
                found[role] = _principal_for(tenant_id, await UserRepository(session).by_email(people[role]), role)
    return found.get(Role.COLLECTOR, owner), found.get(Role.CREDIT_MANAGER, owner)


@dataclass
class _Planned:
    """An invoice the story will issue, and what it needs to be told."""

    buyer: dict
    buyer_id: uuid.UUID
    issue_date: date
    currency: str
    lines: list[LineDraft]
    po_number: str | None
    number: str = ""
    # Paid only as the story says (a credit note, an instalment, a write-off), never by the buyer's habit.
    told: bool = False
    invoice: Invoice | None = None

    @property
    def due_date(self) -> date:
        return self.issue_date + timedelta(days=self.buyer["terms"])


def _line_drafts(spec: dict, buyer: dict, rng: random.Random) -> list[LineDraft]:
    foreign = buyer["currency"] != spec["currency"]
    rate = Decimal(0) if foreign or buyer.get("reverse_charge") else Decimal(spec["tax_rate"])
    lines = []
    for sku, description, unit, price, (low, high) in rng.sample(spec["catalogue"], rng.randint(1, 4)):
        quantity = rng.randint(low, high)
        if quantity >= 50:
            quantity -= quantity % 10  # ordered in tens, as a buyer orders bearings
        unit_price = Decimal(price)
        if foreign:
            unit_price = round_money(unit_price * USD_PER[spec["currency"]], buyer["currency"])
        lines.append(LineDraft(description, Decimal(quantity), unit_price, rate, sku=sku, unit=unit))
    return lines


def _plan_invoices(spec: dict, buyer_ids: dict[str, uuid.UUID], rng: random.Random, today: date) -> list[_Planned]:
    plans: list[_Planned] = []
    po_counter = 0
    for buyer in spec["buyers"]:
        count, terms = buyer["invoices"], buyer["terms"]
        if buyer["profile"] == "insolvent":
            days_ago = sorted(rng.randint(170, LEDGER_DAYS) for _ in range(count))
        elif buyer["profile"] == "stopped":
            # Paid until it stopped; since then one invoice fell due in each aging bucket, and one is not due yet.
            stop = buyer["stopped_days_ago"]
            days_ago = [rng.randint(stop + terms + 5, LEDGER_DAYS) for _ in range(count - 6)]
            days_ago += [terms + overdue for overdue in (125, 100, 70, 40, 8)] + [terms // 2]
        else:
            days_ago = [rng.randint(2, LEDGER_DAYS) for _ in range(count - 2)] + [3, 12]
        for ago in sorted(days_ago, reverse=True):
            issue_date = today - timedelta(days=ago)
            po_counter += 1
            # One invoice in a dozen names no order: the audit warns, the team issued it anyway.
            po_number = None if rng.random() < 1 / 12 else buyer["po"].format(y=issue_date.year) + f"{po_counter + 130:04d}"
            plans.append(
                _Planned(
                    buyer, buyer_ids[buyer["reference"]], issue_date, buyer["currency"], _line_drafts(spec, buyer, rng), po_number
                )
            )
    plans.sort(key=lambda p: (p.issue_date, p.buyer["reference"]))
    for sequence, plan in enumerate(plans, start=1041):
        plan.number = f"{spec['invoice_prefix']}-{plan.issue_date:%Y}-{sequence:05d}"
    return plans


# Events on one day happen in this order: an invoice goes out before it can be credited or paid.
INVOICE, CREDIT, ADJUST, PAY, WRITE_OFF, ON_ACCOUNT = range(6)


def _plan_events(spec: dict, plans: list[_Planned], rng: random.Random, today: date) -> list[tuple]:
    """(day, kind, plan, details) for the whole story, not yet sorted."""
    events: list[tuple] = [(p.issue_date, INVOICE, p, {}) for p in plans]

    def of(profile: str, *, currency: str | None = None) -> list[_Planned]:
        return [p for p in plans if p.buyer["profile"] == profile and (currency is None or p.currency == currency)]

    home = spec["currency"]
    # A wrong variant delivered and returned: credited in full before it fell due.
    credited = next(p for p in of("prompt", currency=home) if 60 <= (today - p.issue_date).days <= 160)
    credited.told = True
    events.append((credited.issue_date + timedelta(days=9), CREDIT, credited, {"share": None, "text": "credit_full"}))
    # A price correction: part credited, the rest paid late as usual.
    corrected = next(p for p in of("late") if 100 <= (today - p.issue_date).days <= 200)
    events.append(
        (corrected.issue_date + timedelta(days=14), CREDIT, corrected, {"share": Decimal("0.08"), "text": "credit_part"})
    )
    # The insolvent buyer: its oldest invoices paid, the next written off after the insurer paid, the last still open.
    insolvent = of("insolvent")
    for plan in insolvent[-2:]:
        plan.told = True
    events.append((today - timedelta(days=20), WRITE_OFF, insolvent[-2], {"text": "write_off"}))
    # The buyer that stopped paying: interest on its oldest open invoice, an instalment on another.
    stopped = [p for p in of("stopped") if (today - p.due_date).days in (125, 70)]
    events.append((today - timedelta(days=6), ADJUST, stopped[0], {"share": Decimal("0.015"), "text": "interest"}))
    events.append((today - timedelta(days=15), PAY, stopped[1], {"share": Decimal("0.30"), "named": True, "text": "instalment"}))
    # An export invoice paid short by the bank's charges, closed by an adjustment the next day.
    foreign = next(p for p in plans if p.currency == "USD" and 40 <= (today - p.due_date).days <= 150)
    foreign.told = True
    events.append((foreign.due_date + timedelta(days=2), PAY, foreign, {"short": Decimal("25.00"), "named": True}))
    events.append((foreign.due_date + timedelta(days=3), ADJUST, foreign, {"amount": Decimal("-25.00"), "text": "bank_charges"}))
    # Money on account: a good buyer pays ahead of the next order.
    events.append((today - timedelta(days=2), ON_ACCOUNT, of("prompt", currency=home)[0], {"text": "on_account"}))

    for plan in plans:
        if plan.told:
            continue
        profile = plan.buyer["profile"]
        paid_on = plan.due_date + timedelta(days=rng.randint(*PAY_DELAY[profile]))
        if profile == "stopped" and (today - paid_on).days < plan.buyer["stopped_days_ago"]:
            continue
        if profile == "partial":
            # Part on time, the rest when the buyer's own customer pays.
            events.append((paid_on, PAY, plan, {"share": Decimal(rng.choice(["0.5", "0.6", "0.7"]))}))
            paid_on += timedelta(days=rng.randint(20, 50))
        events.append((paid_on, PAY, plan, {}))
    return [event for event in events if event[0] < today or event[1] in (INVOICE, ON_ACCOUNT)]


class _Story:
    """Plays the planned events through the services, numbering documents as a finance team would."""

    def __init__(self, session, spec: dict, rng: random.Random, owner: Principal, collector: Principal, manager: Principal):
        self.session, self.spec, self.rng = session, spec, rng
        self.owner, self.collector, self.manager = owner, collector, manager
        self.documents = 0

    def _document(self, prefix: str, day: date) -> str:
        self.documents += 1
        return f"{prefix}-{day:%Y%m%d}-{self.documents:04d}"

    async def invoice(self, plan: _Planned) -> None:
        order = None
        if plan.po_number:
            order = await orders.create_order(
                self.session,
                self.owner,
                orders.OrderInput(
                    buyer_id=plan.buyer_id,
                    number=plan.po_number,
                    order_date=plan.issue_date - timedelta(days=self.rng.randint(7, 30)),
                    currency=plan.currency,
                    contract_reference=f"FA-{plan.buyer['reference']}-{plan.issue_date.year}",
                    lines=[
                        orders.OrderLineInput(
                            line.description, line.quantity, line.unit_price, line.tax_rate, line.sku, line.unit
                        )
                        for line in plan.lines
                    ],
                ),
            )
        draft = InvoiceDraft(
            number=plan.number,
            buyer_reference="",
            currency=plan.currency,
            issue_date=plan.issue_date,
            due_date=None,  # from the buyer's terms
            delivery_date=plan.issue_date - timedelta(days=self.rng.randint(0, 3)),
            po_reference=plan.po_number,
            lines=plan.lines,
            notes="Steuerschuldnerschaft des Leistungsempfängers (reverse charge)" if plan.buyer.get("reverse_charge") else None,
        )
        created = await invoices.create_invoice(self.session, self.owner, draft, buyer_id=plan.buyer_id)
        plan.invoice = await invoices.issue_invoice(self.session, self.owner, created.id, today=plan.issue_date)
        if order is not None and self.rng.random() < 0.6:
            contact_name = plan.buyer["contacts"][0][0]
            await orders.create_delivery(
                self.session,
                self.owner,
                orders.DeliveryInput(
                    number=f"DN-{plan.number}",
                    delivered_on=draft.delivery_date,
                    order_id=order.id,
                    invoice_id=created.id,
                    carrier=self.rng.choice(self.spec["carriers"]),
                    tracking_number=f"{self.rng.randint(10**11, 10**12 - 1)}",
                    received_by=contact_name,
                ),
            )

    def _open(self, plan: _Planned) -> bool:
        return plan.invoice is not None and plan.invoice.status in OPEN_STATUSES and plan.invoice.open_amount > 0

    async def pay(self, day: date, plan: _Planned, details: dict) -> None:
        if not self._open(plan):
            return
        open_amount = plan.invoice.open_amount
        amount = open_amount - details.get("short", ZERO)
        if "share" in details:
            amount = round_money(open_amount * details["share"], plan.currency)
        text = self.spec["texts"].get(details.get("text", ""), f"Remittance: {plan.number}")
        await invoices.record_payment(
            self.session,
            self.collector,
            buyer_id=plan.buyer_id,
            amount=amount,
            currency=plan.currency,
            entry_date=day,
            document_number=self._document(self.spec["bank"], day),
            # Named by the payer's remittance advice; otherwise the oldest open invoice comes first.
            allocations=[invoices.PaymentAllocation(plan.invoice.id, amount)] if details.get("named") else None,
            reason=text,
        )

    async def credit(self, day: date, plan: _Planned, details: dict) -> None:
        if not self._open(plan):
            return
        share = details["share"]
        amount = plan.invoice.open_amount if share is None else round_money(plan.invoice.gross_amount * share, plan.currency)
        self.documents += 1
        await invoices.record_credit_note(
            self.session,
            self.manager,
            plan.invoice.id,
            amount=amount,
            entry_date=day,
            document_number=f"{self.spec['credit_prefix']}-{day:%Y}-{self.documents:04d}",
            reason=self.spec["texts"][details["text"]].format(n=f"{day:%Y}-{self.documents:03d}"),
        )

    async def adjust(self, day: date, plan: _Planned, details: dict) -> None:
        if not self._open(plan):
            return
        amount = details.get("amount") or round_money(plan.invoice.gross_amount * details["share"], plan.currency)
        await invoices.record_adjustment(
            self.session,
            self.collector,
            plan.invoice.id,
            amount=amount,
            entry_date=day,
            document_number=self._document("ADJ", day),
            reason=self.spec["texts"][details["text"]],
        )

    async def write_off(self, day: date, plan: _Planned, details: dict) -> None:
        if not self._open(plan):
            return
        await invoices.record_write_off(
            self.session,
            self.manager,
            plan.invoice.id,
            amount=plan.invoice.open_amount,
            entry_date=day,
            document_number=self._document("WO", day),
            reason=self.spec["texts"][details["text"]],
        )

    async def on_account(self, day: date, plan: _Planned, details: dict, plans: list[_Planned]) -> None:
        """The buyer settles its oldest open invoice by name and sends more than that: the rest stays on account."""
        owing = sorted(
            (p for p in plans if p.buyer_id == plan.buyer_id and p.currency == plan.currency and self._open(p)),
            key=lambda p: p.due_date,
        )
        settled = [invoices.PaymentAllocation(owing[0].invoice.id, owing[0].invoice.open_amount)] if owing else []
        await invoices.record_payment(
            self.session,
            self.collector,
            buyer_id=plan.buyer_id,
            amount=sum((a.amount for a in settled), ZERO) + Decimal("20000.00"),
            currency=plan.currency,
            entry_date=day,
            document_number=self._document(self.spec["bank"], day),
            allocations=settled or None,
            reason=self.spec["texts"][details["text"]],
        )

    async def drafts(self, plans: list[_Planned], sequence: int, today: date) -> None:
        """Invoices being prepared today: one clean, one the audit warns about, two it stops."""
        # Four buyers invoiced at home rate, the latest first: one draft each.
        taxed = {
            p.buyer_id: p
            for p in plans
            if p.currency == self.spec["currency"] and not p.buyer.get("reverse_charge") and p.buyer["profile"] != "insolvent"
        }
        kinds = ["clean", "unit_price", "blocked_by_setting", "lookalike_number"]
        for offset, (kind, buyer_plan) in enumerate(zip(kinds, reversed(taxed.values()), strict=False)):
            lines = _line_drafts(self.spec, buyer_plan.buyer, self.rng)
            po_number = f"{buyer_plan.buyer['po'].format(y=today.year)}{9000 + offset:04d}"
            await orders.create_order(
                self.session,
                self.owner,
                orders.OrderInput(
                    buyer_id=buyer_plan.buyer_id,
                    number=po_number,
                    order_date=today - timedelta(days=10),
                    currency=buyer_plan.currency,
                    lines=[
                        orders.OrderLineInput(x.description, x.quantity, x.unit_price, x.tax_rate, x.sku, x.unit) for x in lines
                    ],
                ),
            )
            number = f"{self.spec['invoice_prefix']}-{today:%Y}-{sequence + offset:05d}"
            if kind == "unit_price":
                lines[0].unit_price = round_money(lines[0].unit_price * Decimal("1.05"), buyer_plan.currency)
            elif kind == "blocked_by_setting" and self.spec["blocking"] == ["quantity"]:
                lines[0].quantity += 10
            elif kind == "blocked_by_setting":
                lines[0].tax_rate = Decimal("7")
            elif kind == "lookalike_number":
                # Typed by hand from the last one sent: the same number without its dashes.
                number = plans[-1].number.replace("-", "", 1)
            await invoices.create_invoice(
                self.session,
                self.owner,
                InvoiceDraft(number, "", buyer_plan.currency, today, None, lines, po_reference=po_number),
                buyer_id=buyer_plan.buyer_id,
            )


async def _seed_buyers(session, owner: Principal, spec: dict) -> dict[str, uuid.UUID]:
    ids: dict[str, uuid.UUID] = {}
    for b in spec["buyers"]:
        buyer = await buyers.create_buyer(
            session,
            owner,
            BuyerInput(
                reference=b["reference"],
                legal_name=b["legal_name"],
                country=b["country"],
                currency=b["currency"],
                payment_terms_days=b["terms"],
                vat_number=b["vat"],
                registration_number=b.get("registration") or (b["vat"] if b["country"] == "CN" else None),
                external_ids=[{"scheme": scheme, "value": value} for scheme, value in b["external_ids"]],
                credit_limit=b["credit_limit"],
                parent_id=ids[b["parent"]] if "parent" in b else None,
                tags=b["tags"],
            ),
        )
        ids[b["reference"]] = buyer.id
        for name, email, language, role in b["contacts"]:
            await buyers.add_contact(session, owner, buyer.id, name=name, email=email, language=language, role=role)
    return ids


async def _seed_ledger(tenant_id: TenantId, supplier: dict, owner: Principal) -> None:
    spec = LEDGER[supplier["slug"]]
    rng = random.Random(supplier["slug"])  # the same story on every machine, told relative to today
    today = date.today()
    collector, manager = await _ledger_people(tenant_id, supplier, owner)
    async with tenant_unit_of_work(tenant_id) as session:
        buyer_ids = await _seed_buyers(session, owner, spec)
        for check in spec["blocking"]:
            await checks.set_blocking(session, manager, check, True)
        plans = _plan_invoices(spec, buyer_ids, rng, today)
        story = _Story(session, spec, rng, owner, collector, manager)
        events = sorted(_plan_events(spec, plans, rng, today), key=lambda e: (e[0], e[1], e[2].number))
        for day, kind, plan, details in events:
            if kind == INVOICE:
                await story.invoice(plan)
            elif kind == PAY:
                await story.pay(day, plan, details)
            elif kind == CREDIT:
                await story.credit(day, plan, details)
            elif kind == ADJUST:
                await story.adjust(day, plan, details)
            elif kind == WRITE_OFF:
                await story.write_off(day, plan, details)
            else:
                await story.on_account(day, plan, details, plans)
        await story.drafts(plans, 1041 + len(plans), today)
    if spec["catalogue"] is HUADONG_CATALOGUE:
        await _seed_erp_import(tenant_id, collector, spec, today)


async def _seed_erp_import(tenant_id: TenantId, collector: Principal, spec: dict, today: date) -> None:
    """Last week's invoices as the ERP exports them: previewed with two bad rows and confirmed.

    The import job runs when `make run` starts the server (jobs run in its process), so the import
    page shows a finished import with its row errors and the new invoices are in the ledger.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "invoice_number",
            "buyer_reference",
            "currency",
            "issue_date",
            "po_reference",
            "sku",
            "description",
            "quantity",
            "unit",
            "unit_price",
            "tax_rate",
        ]
    )
    rng = random.Random("erp-export")
    references = [b["reference"] for b in spec["buyers"] if b["currency"] == "CNY"]
    for n in range(1, 13):
        issued = today - timedelta(days=rng.randint(1, 7))
        for line in range(rng.randint(1, 3)):
            sku, description, unit, price, (low, high) = spec["catalogue"][(n + line) % len(spec["catalogue"])]
            writer.writerow(
                [
                    f"KD-{issued:%Y%m}-{n:04d}",
                    references[n % len(references)],
                    "CNY",
                    issued.isoformat(),
                    f"PO-KD-{n:04d}",
                    sku,
                    description,
                    rng.randint(low, high),
                    unit,
                    price,
                    "13",
                ]
            )
    # What an ERP export gets wrong now and then: a date typed by hand, a currency code mistyped.
    writer.writerow(
        [
            "KD-BAD-0001",
            references[0],
            "CNY",
            f"{today:%d.%m.%Y}",
            "",
            "BRG-6204-2RS",
            "深沟球轴承 6204-2RS",
            "100",
            "PCS",
            "12.50",
            "13",
        ]
    )
    writer.writerow(
        ["KD-BAD-0002", references[1], "RMB", today.isoformat(), "", "CPL-GR28", "梅花联轴器 GR28", "40", "PCS", "46.00", "13"]
    )
    async with tenant_unit_of_work(tenant_id) as session:
        record = await imports.upload_import(
            session,
            collector,
            filename=f"kingdee-export-{today:%Y%m%d}.csv",
            source=io.BytesIO(buffer.getvalue().encode("utf-8-sig")),
        )
    async with tenant_unit_of_work(tenant_id) as session:
        await imports.confirm_import(session, collector, record.id)
