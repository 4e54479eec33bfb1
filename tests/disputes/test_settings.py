"""The tenant's dispute settings: who a new case goes to, which reasons a case may give, when a credit
needs a second person; through the service and the API, and never across tenants."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from backend.audit.models import AuditEvent
from backend.auth.passwords import hash_password
from backend.auth.principal import Principal, PrincipalKind
from backend.db.tenancy import TenantId
from backend.db.uow import global_unit_of_work
from backend.disputes import service as disputes
from backend.disputes import settings
from backend.disputes.models import CodeKind, DisputeState
from backend.disputes.service import ItemInput, Resolution
from backend.disputes.settings import CodeChange, CodeInput, RuleInput, SettingsInput
from backend.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from backend.tenants import service as tenants
from backend.tenants.models import Membership, MembershipStatus, Role, User
from tests.conftest import Supplier, bearer
from tests.disputes.helpers import accept, credit, open_case, person, propose, uow
from tests.factories import make_buyer, make_invoice, owner_of

# --- people and cases --------------------------------------------------------------------------


@dataclass
class Member:
    principal: Principal
    membership_id: uuid.UUID

    @property
    def id(self) -> uuid.UUID:
        return self.principal.id


async def join(supplier: Supplier, name: str, role: Role = Role.COLLECTOR) -> Member:
    """A new active member of the supplier's team."""
    tag = secrets.token_hex(4)
    email = f"{name.lower()}.{tag}@example.com"
    async with global_unit_of_work() as session:
        user = User(email=email, display_name=name, password_hash=hash_password(f"pass-{tag}-long-enough"))
        session.add(user)
    async with uow(supplier) as session:
        membership = Membership(user_id=user.id, role=role, status=MembershipStatus.ACTIVE)
        session.add(membership)
    principal = Principal(
        kind=PrincipalKind.USER, id=user.id, tenant_id=TenantId(supplier.tenant_id), role=role, label=email, display_name=name
    )
    return Member(principal, membership.id)


async def disputed_invoice(supplier: Supplier, buyer_id: uuid.UUID, amount: str = "100.00"):
    """An issued invoice of `amount` gross (no tax) for the buyer."""
    return await make_invoice(supplier, buyer_id, lines=(("Bearing 6204", "1", amount, "0"),))


async def new_case(supplier: Supplier, buyer_id: uuid.UUID, *, reason: str = "quality", amount: str = "100.00"):
    invoice = await disputed_invoice(supplier, buyer_id, amount)
    return await open_case(supplier, buyer_id, [ItemInput(invoice.id)], reason=reason)


async def add_rule(supplier: Supplier, **fields) -> uuid.UUID:
    async with uow(supplier) as session:
        rule = await settings.create_rule(session, owner_of(supplier), RuleInput(**{"name": "Rule", **fields}))
    return rule.id


async def refused(supplier: Supplier, call, error=ValidationFailed):
    """Run `call(session, principal)` as the supplier's owner; return the error it raised (nothing is kept)."""
    with pytest.raises(error) as raised:
        async with uow(supplier) as session:
            await call(session, owner_of(supplier))
    return raised.value


async def audit_actions(supplier: Supplier, prefix: str) -> list[str]:
    async with uow(supplier) as session:
        statement = select(AuditEvent.action).where(AuditEvent.action.like(f"{prefix}%")).order_by(AuditEvent.seq)
        return list((await session.scalars(statement)).all())


# --- routing --------------------------------------------------------------------------------------


async def test_a_case_goes_to_the_owner_named_for_its_reason(world):
    quality_desk = await join(world.a, "Wang")
    await add_rule(world.a, name="Quality to Wang", reason_code="quality", owner_user_id=quality_desk.id)
    buyer_id = await make_buyer(world.a)
    assert (await new_case(world.a, buyer_id, reason="quality")).owner_user_id == quality_desk.id
    assert (await new_case(world.a, buyer_id, reason="late_delivery")).owner_user_id is None


async def test_a_case_goes_to_the_owner_named_for_its_buyer(world):
    key_account = await join(world.a, "Li")
    big_buyer, other_buyer = await make_buyer(world.a, "Big Buyer Ltd"), await make_buyer(world.a, "Other Ltd")
    await add_rule(world.a, name="Big Buyer to Li", buyer_id=big_buyer, owner_user_id=key_account.id)
    assert (await new_case(world.a, big_buyer, reason="price")).owner_user_id == key_account.id
    assert (await new_case(world.a, other_buyer, reason="price")).owner_user_id is None


async def test_a_large_case_goes_to_the_owner_named_for_its_amount_in_its_currency(world):
    senior = await join(world.a, "Zhao", Role.CREDIT_MANAGER)
    buyer_id = await make_buyer(world.a)
    await add_rule(world.a, name="Large cases", min_amount="5000.00", currency="cny", owner_user_id=senior.id)
    assert (await new_case(world.a, buyer_id, amount="5000.00")).owner_user_id == senior.id
    assert (await new_case(world.a, buyer_id, amount="4999.99")).owner_user_id is None
    euro_invoice = await make_invoice(world.a, buyer_id, lines=(("Bearing", "1", "9000.00", "0"),), currency="EUR")
    euro_case = await open_case(world.a, buyer_id, [ItemInput(euro_invoice.id)])
    assert euro_case.owner_user_id is None  # 9,000 EUR is not "5,000 CNY or more": the rule names its currency


async def test_a_pool_takes_cases_in_turn_and_skips_who_left_the_team(world):
    pool = [await join(world.a, name) for name in ("Chen", "Sun", "Zhou")]
    await add_rule(world.a, name="Quality desk", reason_code="quality", pool=[m.id for m in pool])
    buyer_id = await make_buyer(world.a)
    owners = [(await new_case(world.a, buyer_id)).owner_user_id for _ in range(3)]
    assert owners == [m.id for m in pool]
    async with uow(world.a) as session:
        await tenants.remove_member(session, owner_of(world.a), pool[1].membership_id)
    owners = [(await new_case(world.a, buyer_id)).owner_user_id for _ in range(4)]
    assert pool[1].id not in owners
    assert set(owners) == {pool[0].id, pool[2].id} and owners[0] != owners[1] and owners[1] != owners[2]


async def test_a_case_no_rule_matches_is_left_unassigned(world):
    wang = await join(world.a, "Wang")
    buyer_id, other_buyer = await make_buyer(world.a), await make_buyer(world.a)
    await add_rule(world.a, name="Price at one buyer", reason_code="price", buyer_id=other_buyer, owner_user_id=wang.id)
    await add_rule(world.a, name="Inactive", reason_code="quality", owner_user_id=wang.id, active=False)
    case = await new_case(world.a, buyer_id, reason="price")
    assert case.owner_user_id is None
    assert (await new_case(world.a, buyer_id, reason="quality")).owner_user_id is None


async def test_the_first_rule_in_the_tenants_order_wins(world):
    wang, li = await join(world.a, "Wang"), await join(world.a, "Li")
    buyer_id = await make_buyer(world.a)
    by_reason = await add_rule(world.a, name="Quality", reason_code="quality", owner_user_id=wang.id)
    by_buyer = await add_rule(world.a, name="This buyer", buyer_id=buyer_id, owner_user_id=li.id)
    assert (await new_case(world.a, buyer_id)).owner_user_id == wang.id
    async with uow(world.a) as session:
        await settings.reorder_rules(session, owner_of(world.a), [by_buyer, by_reason])
        assert [r.id for r in await settings.list_rules(session, owner_of(world.a))] == [by_buyer, by_reason]
    assert (await new_case(world.a, buyer_id)).owner_user_id == li.id


async def test_a_rule_is_refused_with_the_field_that_is_wrong(world):
    wang = await join(world.a, "Wang")
    viewer = await join(world.a, "Viewer", Role.VIEWER)
    foreign_buyer = await make_buyer(world.b)

    def create(**fields):
        return lambda session, principal: settings.create_rule(session, principal, RuleInput(**fields))

    cases = [
        (dict(name=" ", reason_code="quality", owner_user_id=wang.id), "name"),
        (dict(name="No criteria", owner_user_id=wang.id), "reason_code"),
        (dict(name="Unknown reason", reason_code="weather", owner_user_id=wang.id), "reason_code"),
        (dict(name="Foreign buyer", buyer_id=foreign_buyer, owner_user_id=wang.id), "buyer_id"),
        (dict(name="No currency", min_amount="100", owner_user_id=wang.id), "currency"),
        (dict(name="Bad currency", min_amount="100", currency="XYZ", owner_user_id=wang.id), "currency"),
        (dict(name="Negative", min_amount="-1", currency="CNY", owner_user_id=wang.id), "min_amount"),
        (dict(name="Fractions of a fen", min_amount="1.001", currency="CNY", owner_user_id=wang.id), "min_amount"),
        (dict(name="Currency alone", currency="CNY", reason_code="quality", owner_user_id=wang.id), "min_amount"),
        (dict(name="Nobody", reason_code="quality"), "owner_user_id"),
        (dict(name="Both", reason_code="quality", owner_user_id=wang.id, pool=[wang.id, viewer.id]), "pool"),
        (dict(name="Viewer owns", reason_code="quality", owner_user_id=viewer.id), "owner_user_id"),
        (dict(name="Other tenant's owner", reason_code="quality", owner_user_id=world.b.finance.user_id), "owner_user_id"),
        (dict(name="Pool of one", reason_code="quality", pool=[wang.id]), "pool"),
        (dict(name="Twice", reason_code="quality", pool=[wang.id, wang.id]), "pool"),
        (dict(name="Viewer in pool", reason_code="quality", pool=[wang.id, viewer.id]), "pool"),
    ]
    for fields, field in cases:
        error = await refused(world.a, create(**fields))
        assert error.field == field, (fields, error.message)
    async with uow(world.a) as session:
        assert await settings.list_rules(session, owner_of(world.a)) == []


async def test_a_changed_pool_starts_its_turn_again_and_a_deleted_rule_routes_no_more(world):
    chen, sun, zhou = [await join(world.a, name) for name in ("Chen", "Sun", "Zhou")]
    buyer_id = await make_buyer(world.a)
    rule_id = await add_rule(world.a, name="Desk", reason_code="quality", pool=[chen.id, sun.id])
    assert (await new_case(world.a, buyer_id)).owner_user_id == chen.id
    async with uow(world.a) as session:
        await settings.update_rule(
            session, owner_of(world.a), rule_id, RuleInput(name="Desk", reason_code="quality", pool=[zhou.id, sun.id])
        )
    assert (await new_case(world.a, buyer_id)).owner_user_id == zhou.id
    async with uow(world.a) as session:
        await settings.delete_rule(session, owner_of(world.a), rule_id)
    assert (await new_case(world.a, buyer_id)).owner_user_id is None
    assert await audit_actions(world.a, "dispute_routing_rule") == [
        "dispute_routing_rule.created",
        "dispute_routing_rule.changed",
        "dispute_routing_rule.deleted",
    ]


# --- reason codes and root causes -----------------------------------------------------------------


async def test_registration_takes_the_tenants_own_reasons_and_refuses_one_taken_out_of_use(world):
    buyer_id = await make_buyer(world.a)
    async with uow(world.a) as session:
        await settings.add_code(session, owner_of(world.a), "reason", CodeInput("wrong_colour", "Wrong colour", "颜色不符"))
        await settings.change_code(session, owner_of(world.a), "reason", "quality", CodeChange(active=False))
        await settings.change_code(
            session, owner_of(world.a), "reason", "late_delivery", CodeChange(label_en="Delivered late", label_zh="交货延迟")
        )
        listed = await settings.list_codes(session, owner_of(world.a), CodeKind.REASON)
        in_use = await disputes.codes(session, CodeKind.REASON)
    # The defaults were written out on the first change, then changed.
    assert [c.code for c in listed][-2:] == ["other", "wrong_colour"] and len(listed) == 10
    assert next(c for c in listed if c.code == "quality").active is False
    assert next(c for c in listed if c.code == "late_delivery").label("zh-CN") == "交货延迟"
    assert "quality" not in [c.code for c in in_use]
    case = await new_case(world.a, buyer_id, reason="wrong_colour")
    assert case.reason_code == "wrong_colour"
    with pytest.raises(ValidationFailed) as error:
        await new_case(world.a, buyer_id, reason="quality")
    assert error.value.field == "reason_code"
    assert await audit_actions(world.a, "dispute_code") == [
        "dispute_code.added",
        "dispute_code.deactivated",
        "dispute_code.changed",
    ]
    # Another tenant still has the defaults.
    async with uow(world.b) as session:
        assert "quality" in [c.code for c in await disputes.codes(session, CodeKind.REASON)]
        assert "wrong_colour" not in [c.code for c in await disputes.codes(session, CodeKind.REASON)]


async def test_a_code_is_refused_with_the_field_that_is_wrong(world):
    def add(code, en="Label", zh="标签", kind="reason"):
        return lambda session, principal: settings.add_code(session, principal, kind, CodeInput(code, en, zh))

    for code, field in [("Quality!", "code"), ("9lives", "code"), ("x", "code"), ("a" * 41, "code")]:
        assert (await refused(world.a, add(code))).field == field
    assert (await refused(world.a, add("late_payment", en=" "))).field == "label_en"
    assert (await refused(world.a, add("late_payment", zh=""))).field == "label_zh"
    assert (await refused(world.a, add("late_payment", en="x" * 121))).field == "label_en"
    assert (await refused(world.a, add("quality"), Conflict)).field == "code"  # a default code is already there
    await refused(world.a, add("late_payment", kind="colour"), NotFound)
    # A code taken out of use is still in the list: adding it again is refused too.
    async with uow(world.a) as session:
        await settings.change_code(session, owner_of(world.a), "root_cause", "pricing", CodeChange(active=False))
    assert (await refused(world.a, add("pricing", kind="root_cause"), Conflict)).field == "code"


async def test_the_last_reason_in_use_cannot_be_taken_out_of_use(world):
    async with uow(world.a) as session:
        for code in [c.code for c in await disputes.codes(session, CodeKind.REASON)][:-1]:
            await settings.change_code(session, owner_of(world.a), "reason", code, CodeChange(active=False))
    error = await refused(world.a, lambda s, p: settings.change_code(s, p, "reason", "other", CodeChange(active=False)), Conflict)
    assert error.field == "active"
    async with uow(world.a) as session:
        assert [c.code for c in await disputes.codes(session, CodeKind.REASON)] == ["other"]


async def test_codes_are_reordered_only_by_naming_each_once(world):
    async with uow(world.a) as session:
        codes = [c.code for c in await settings.list_codes(session, owner_of(world.a), "root_cause")]
        await settings.reorder_codes(session, owner_of(world.a), "root_cause", list(reversed(codes)))
        assert [c.code for c in await settings.list_codes(session, owner_of(world.a), "root_cause")] == list(reversed(codes))
    for order in (codes[1:], codes + codes[:1], [*codes[1:], "unknown"]):
        error = await refused(world.a, lambda s, p, order=order: settings.reorder_codes(s, p, "root_cause", order))
        assert error.field == "order"
    assert await audit_actions(world.a, "dispute_code") == ["dispute_codes.reordered"]


# --- thresholds and escalation ----------------------------------------------------------------------


async def test_the_threshold_decides_whether_resolving_waits_for_a_second_person(world):
    async with uow(world.a) as session:
        await settings.update_settings(
            session, owner_of(world.a), SettingsInput({"CNY": "250.00", "usd": D("1000")}, escalation_days=75)
        )
        view = await settings.get_settings(session, person(world.a, Role.VIEWER))
    assert view.approval_thresholds == {"CNY": D("250.00"), "USD": D("1000.00")} and view.escalation_days == 75
    buyer_id = await make_buyer(world.a)
    outcomes = {}
    for amount in ("250.00", "250.01"):
        case = await new_case(world.a, buyer_id, amount="500.00")
        proposal, options = await propose(world.a, case.id, credit(amount))
        await accept(world.a, proposal.id, options[0].id)
        async with uow(world.a) as session:
            result = await disputes.resolve_case(
                session, owner_of(world.a), case.id, Resolution(outcome="partly_valid", root_cause_code="product_defect")
            )
            outcomes[amount] = (result.case.state, result.approval is not None)
    assert outcomes == {"250.00": (DisputeState.RESOLVED, False), "250.01": (DisputeState.AGREED, True)}
    assert await audit_actions(world.a, "dispute_settings") == ["dispute_settings.changed"]


async def test_settings_are_refused_with_the_field_that_is_wrong(world):
    def put(thresholds, days=90):
        return lambda session, principal: settings.update_settings(session, principal, SettingsInput(thresholds, days))

    assert (await refused(world.a, put({"XYZ": "10"}))).field == "approval_thresholds.XYZ"
    assert (await refused(world.a, put({"CNY": "-0.01"}))).field == "approval_thresholds.CNY"
    assert (await refused(world.a, put({"CNY": "ten"}))).field == "approval_thresholds.CNY"
    assert (await refused(world.a, put({"JPY": "10.5"}))).field == "approval_thresholds.JPY"
    assert (await refused(world.a, put({"cny": "1", "CNY": "2"}))).field == "approval_thresholds.CNY"
    for days in (59, 121, "", "ninety"):
        assert (await refused(world.a, put({}, days))).field == "escalation_days"
    async with uow(world.a) as session:
        view = await settings.get_settings(session, owner_of(world.a))
    assert (view.approval_thresholds, view.escalation_days) == ({}, 90)


async def test_only_approvers_change_the_settings_and_everyone_who_reads_the_ledger_sees_them(world):
    wang = await join(world.a, "Wang")
    calls = [
        lambda s, p: settings.update_settings(s, p, SettingsInput({}, 90)),
        lambda s, p: settings.add_code(s, p, "reason", CodeInput("late_payment", "Late", "迟")),
        lambda s, p: settings.change_code(s, p, "reason", "quality", CodeChange(active=False)),
        lambda s, p: settings.reorder_codes(s, p, "reason", []),
        lambda s, p: settings.create_rule(s, p, RuleInput("Rule", reason_code="quality", owner_user_id=wang.id)),
        lambda s, p: settings.reorder_rules(s, p, []),
    ]
    for role in (Role.COLLECTOR, Role.COLLABORATOR, Role.VIEWER):
        for call in calls:
            with pytest.raises(PermissionDenied):
                async with uow(world.a) as session:
                    await call(session, person(world.a, role))
    async with uow(world.a) as session:
        viewer = person(world.a, Role.VIEWER)
        assert (await settings.get_settings(session, viewer)).escalation_days == 90
        assert len(await settings.list_codes(session, viewer, "reason")) == 9
        assert await settings.list_rules(session, viewer) == []
    for role in (Role.ADMIN, Role.CREDIT_MANAGER):
        async with uow(world.a) as session:
            await settings.update_settings(session, person(world.a, role), SettingsInput({}, 100))


# --- the API --------------------------------------------------------------------------------------

BASE = "/api/v1/dispute-settings"


async def test_the_api_reads_and_replaces_thresholds_and_escalation(client, world):
    key = bearer(world.a.api_key)
    assert (await client.get(BASE, headers=key)).json() == {"approval_thresholds": {}, "escalation_days": 90}
    saved = await client.put(
        BASE, json={"approval_thresholds": {"CNY": "50000", "JPY": 100000}, "escalation_days": 60}, headers=key
    )
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"approval_thresholds": {"CNY": "50000.00", "JPY": "100000"}, "escalation_days": 60}
    assert (await client.get(BASE, headers=key)).json()["approval_thresholds"] == {"CNY": "50000.00", "JPY": "100000"}
    for body, field in [
        ({"approval_thresholds": {"EURO": "1"}, "escalation_days": 90}, "approval_thresholds.EURO"),
        ({"approval_thresholds": {"CNY": "-5"}, "escalation_days": 90}, "approval_thresholds.CNY"),
        ({"approval_thresholds": {}, "escalation_days": 121}, "escalation_days"),
    ]:
        response = await client.put(BASE, json=body, headers=key)
        assert (response.status_code, response.json().get("field")) == (422, field), response.text
    assert (await client.get(BASE, headers=key)).json()["escalation_days"] == 60


async def test_the_api_adds_renames_deactivates_and_reorders_codes(client, world):
    key = bearer(world.a.api_key)
    listed = (await client.get(f"{BASE}/codes/reason", headers=key)).json()["items"]
    assert [c["code"] for c in listed][:2] == ["quality", "late_delivery"] and all(c["active"] for c in listed)
    added = await client.post(
        f"{BASE}/codes/reason", json={"code": "wrong_colour", "label_en": "Wrong colour", "label_zh": "颜色不符"}, headers=key
    )
    assert added.status_code == 201 and added.json()["position"] == 9
    again = await client.post(
        f"{BASE}/codes/reason", json={"code": "wrong_colour", "label_en": "x", "label_zh": "y"}, headers=key
    )
    assert (again.status_code, again.json()["field"]) == (409, "code")
    bad = await client.post(f"{BASE}/codes/reason", json={"code": "Wrong Colour", "label_en": "x", "label_zh": "y"}, headers=key)
    assert (bad.status_code, bad.json()["field"]) == (422, "code")
    changed = await client.put(
        f"{BASE}/codes/reason/quality", json={"label_en": "Quality", "label_zh": "质量", "active": False}, headers=key
    )
    assert changed.status_code == 200 and changed.json()["active"] is False and changed.json()["label_zh"] == "质量"
    codes = [c["code"] for c in (await client.get(f"{BASE}/codes/reason", headers=key)).json()["items"]]
    reordered = await client.put(f"{BASE}/codes/reason", json={"order": codes[::-1]}, headers=key)
    assert [c["code"] for c in reordered.json()["items"]] == codes[::-1]
    assert (await client.get(f"{BASE}/codes/colour", headers=key)).status_code == 404
    assert (
        await client.put(f"{BASE}/codes/reason/unknown", json={"label_en": "a", "label_zh": "b", "active": True}, headers=key)
    ).status_code == 404
    # A case cannot be registered with the code taken out of use; the new one is offered.
    buyer_id = await make_buyer(world.a)
    invoice = await disputed_invoice(world.a, buyer_id)
    async with uow(world.a) as session:
        offered = [c.code for c in await disputes.codes(session, CodeKind.REASON)]
    assert "wrong_colour" in offered and "quality" not in offered
    with pytest.raises(ValidationFailed):
        await open_case(world.a, buyer_id, [ItemInput(invoice.id)], reason="quality")


async def test_the_api_creates_changes_reorders_and_deletes_routing_rules(client, world):
    key = bearer(world.a.api_key)
    wang, li = await join(world.a, "Wang"), await join(world.a, "Li")
    buyer_id = await make_buyer(world.a)
    created = await client.post(
        f"{BASE}/routing-rules",
        json={"name": "Large", "min_amount": "10000", "currency": "CNY", "pool": [str(wang.id), str(li.id)]},
        headers=key,
    )
    assert created.status_code == 201, created.text
    large = created.json()
    assert (large["min_amount"], large["currency"], large["pool"], large["owner_user_id"]) == (
        "10000.00",
        "CNY",
        [str(wang.id), str(li.id)],
        None,
    )
    second = (
        await client.post(
            f"{BASE}/routing-rules", json={"name": "Buyer", "buyer_id": str(buyer_id), "owner_user_id": str(li.id)}, headers=key
        )
    ).json()
    assert second["position"] == large["position"] + 1
    missing = await client.post(f"{BASE}/routing-rules", json={"name": "Nobody", "reason_code": "quality"}, headers=key)
    assert (missing.status_code, missing.json()["field"]) == (422, "owner_user_id")
    assert "owner" in missing.json()["detail"]
    changed = await client.put(
        f"{BASE}/routing-rules/{large['id']}",
        json={
            "name": "Large quality",
            "reason_code": "quality",
            "min_amount": 10000,
            "currency": "CNY",
            "owner_user_id": str(wang.id),
        },
        headers=key,
    )
    assert changed.status_code == 200 and changed.json()["pool"] == [] and changed.json()["owner_user_id"] == str(wang.id)
    reordered = await client.put(f"{BASE}/routing-rules", json={"order": [second["id"], large["id"]]}, headers=key)
    assert [r["id"] for r in reordered.json()["items"]] == [second["id"], large["id"]]
    assert (await client.get(f"{BASE}/routing-rules/{second['id']}", headers=key)).json()["name"] == "Buyer"
    assert (await client.delete(f"{BASE}/routing-rules/{second['id']}", headers=key)).status_code == 204
    assert [r["id"] for r in (await client.get(f"{BASE}/routing-rules", headers=key)).json()["items"]] == [large["id"]]
    assert (await client.get(f"{BASE}/routing-rules/{second['id']}", headers=key)).status_code == 404


async def test_another_tenant_never_sees_or_changes_these_settings(client, world):
    a, b = bearer(world.a.api_key), bearer(world.b.api_key)
    wang = await join(world.a, "Wang")
    rule = (
        await client.post(
            f"{BASE}/routing-rules", json={"name": "A's", "reason_code": "quality", "owner_user_id": str(wang.id)}, headers=a
        )
    ).json()
    await client.post(f"{BASE}/codes/reason", json={"code": "a_only", "label_en": "A only", "label_zh": "仅A"}, headers=a)
    await client.put(BASE, json={"approval_thresholds": {"CNY": "1000"}, "escalation_days": 120}, headers=a)
    rule_body = {"name": "Taken", "reason_code": "quality", "owner_user_id": str(world.b.finance.user_id)}
    # B's own views show nothing of A's.
    assert (await client.get(f"{BASE}/routing-rules", headers=b)).json() == {"items": []}
    assert "a_only" not in [c["code"] for c in (await client.get(f"{BASE}/codes/reason", headers=b)).json()["items"]]
    assert (await client.get(BASE, headers=b)).json() == {"approval_thresholds": {}, "escalation_days": 90}
    # A's rule is not found through any of B's endpoints.
    assert (await client.get(f"{BASE}/routing-rules/{rule['id']}", headers=b)).status_code == 404
    assert (await client.put(f"{BASE}/routing-rules/{rule['id']}", json=rule_body, headers=b)).status_code == 404
    assert (await client.delete(f"{BASE}/routing-rules/{rule['id']}", headers=b)).status_code == 404
    assert (await client.put(f"{BASE}/routing-rules", json={"order": [rule["id"]]}, headers=b)).status_code == 404
    # A's code and A's people are not B's to use.
    assert (
        await client.put(f"{BASE}/codes/reason/a_only", json={"label_en": "x", "label_zh": "y", "active": False}, headers=b)
    ).status_code == 404
    foreign_owner = await client.post(
        f"{BASE}/routing-rules", json={"name": "A's person", "reason_code": "quality", "owner_user_id": str(wang.id)}, headers=b
    )
    assert (foreign_owner.status_code, foreign_owner.json()["field"]) == (422, "owner_user_id")
    # B's changes leave A's as they were.
    await client.put(BASE, json={"approval_thresholds": {}, "escalation_days": 60}, headers=b)
    await client.put(f"{BASE}/codes/reason/quality", json={"label_en": "B's", "label_zh": "B", "active": True}, headers=b)
    assert (await client.get(f"{BASE}/routing-rules/{rule['id']}", headers=a)).json()["name"] == "A's"
    assert (await client.get(BASE, headers=a)).json() == {"approval_thresholds": {"CNY": "1000.00"}, "escalation_days": 120}
    a_codes = {c["code"]: c for c in (await client.get(f"{BASE}/codes/reason", headers=a)).json()["items"]}
    assert a_codes["quality"]["label_en"] == "Quality / specification" and "a_only" in a_codes


async def test_the_settings_endpoints_are_in_the_openapi_document(client, world):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert {"get", "put"} <= set(paths["/api/v1/dispute-settings"])
    assert {"get", "post", "put"} <= set(paths["/api/v1/dispute-settings/codes/{kind}"])
    assert {"put"} <= set(paths["/api/v1/dispute-settings/codes/{kind}/{code}"])
    assert {"get", "post", "put"} <= set(paths["/api/v1/dispute-settings/routing-rules"])
    assert {"get", "put", "delete"} <= set(paths["/api/v1/dispute-settings/routing-rules/{rule_id}"])
