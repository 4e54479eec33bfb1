"""The tenant's dispute settings: reason codes and root causes, approval thresholds, the escalation
day, and the routing rules that give a new case its owner.

Read by anyone who reads the ledger; changed only by those who approve its credits (owner,
administrator, credit manager), and every change is in the audit trail. A change takes the tenant's
settings row lock first, so two people editing the lists at once go one after the other, and the
first change of a list writes out the defaults it starts from.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.policies import Permission, can, require
from backend.auth.principal import Principal
from backend.buyers.repository import BuyerRepository
from backend.db.base import utcnow
from backend.disputes import service as disputes
from backend.disputes import timers
from backend.disputes.codes import Code, default_codes
from backend.disputes.models import CodeKind, DisputeCode, DisputeSettings, RoutingRule
from backend.disputes.repository import DisputeRepository
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.i18n import _
from backend.money import is_currency, parse_decimal, round_money, storable
from backend.tenants.models import Role

# A code is stored on cases and in reports: lower-case letters, digits and underscores, starting with a letter.
CODE_FORMAT = re.compile(r"[a-z][a-z0-9_]{1,39}")
LABEL_LIMIT = 120
NAME_LIMIT = 120
ESCALATION_DAYS = (60, 120)
MAX_CODES = 100
MAX_RULES = 200
MAX_THRESHOLDS = 50
POOL_SIZE = (2, 50)


def _kind(kind: CodeKind | str) -> CodeKind:
    try:
        return CodeKind(kind)
    except ValueError:
        raise NotFound(_("Not found.")) from None


# --- approval thresholds and escalation ----------------------------------------------------------


@dataclass(frozen=True)
class SettingsView:
    # Credit notes and write-offs above the amount need a second person; a currency not listed: any amount.
    approval_thresholds: dict[str, Decimal]
    escalation_days: int


def _view(settings: DisputeSettings) -> SettingsView:
    thresholds = {currency: Decimal(str(amount)) for currency, amount in (settings.approval_thresholds or {}).items()}
    return SettingsView(dict(sorted(thresholds.items())), settings.escalation_days or 90)


def _audit_view(view: SettingsView) -> dict:
    return {
        "approval_thresholds": {currency: str(amount) for currency, amount in view.approval_thresholds.items()},
        "escalation_days": view.escalation_days,
    }


@dataclass(frozen=True)
class SettingsInput:
    approval_thresholds: Mapping[str, Decimal | str | None]
    escalation_days: int | str | None


async def get_settings(session: AsyncSession, principal: Principal) -> SettingsView:
    require(principal, Permission.READ_LEDGER)
    return _view(await disputes.dispute_settings(session))


def _checked_thresholds(raw: Mapping[str, Decimal | str | None]) -> dict[str, Decimal]:
    if len(raw) > MAX_THRESHOLDS:
        raise ValidationFailed(
            _("Set thresholds for at most %(count)s currencies."), field="approval_thresholds", params={"count": MAX_THRESHOLDS}
        )
    checked: dict[str, Decimal] = {}
    for given, value in raw.items():
        currency = (given or "").strip().upper()
        where = f"approval_thresholds.{currency or given}"
        if not is_currency(currency):
            raise ValidationFailed(_("Unknown currency code: %(value)s."), field=where, params={"value": given})
        if currency in checked:
            raise ValidationFailed(_("%(currency)s is named twice."), field=where, params={"currency": currency})
        amount = value if isinstance(value, Decimal) else parse_decimal(value)
        if amount is None:
            raise ValidationFailed(_("Enter an amount, such as 50000.00."), field=where)
        if not storable(amount):
            raise ValidationFailed(_("The amount is larger than Accord can hold (10^15)."), field=where)
        if amount < 0:
            raise ValidationFailed(_("A threshold is zero or more."), field=where)
        if round_money(amount, currency) != amount:
            raise ValidationFailed(
                _("%(currency)s amounts have at most the currency's minor unit of decimals."),
                field=where,
                params={"currency": currency},
            )
        checked[currency] = round_money(amount, currency)
    return dict(sorted(checked.items()))


def _checked_days(raw: int | str | None) -> int:
    low, high = ESCALATION_DAYS
    try:
        days = int(str(raw).strip()) if raw not in (None, "") else None
    except ValueError:
        days = None
    if days is None or not low <= days <= high:
        raise ValidationFailed(
            _("Escalate after %(low)s to %(high)s days."), field="escalation_days", params={"low": low, "high": high}
        )
    return days


async def update_settings(session: AsyncSession, principal: Principal, data: SettingsInput) -> SettingsView:
    """Replace the approval thresholds (per currency) and the escalation day."""
    require(principal, Permission.APPROVE_LEDGER)
    thresholds = _checked_thresholds(data.approval_thresholds)
    days = _checked_days(data.escalation_days)
    settings = await DisputeRepository(session).settings_for_update()
    before = _view(settings)
    settings.approval_thresholds = {currency: str(amount) for currency, amount in thresholds.items()}
    settings.escalation_days = days
    settings.updated_at = utcnow()
    await session.flush()
    after = _view(settings)
    if after != before:
        audit.record(
            session,
            principal.actor(),
            "dispute_settings.changed",
            "dispute_settings",
            principal.tenant_id,
            before=_audit_view(before),
            after=_audit_view(after),
        )
        if after.escalation_days != before.escalation_days:
            await timers.levels_changed(session)
    return after


# --- service levels ------------------------------------------------------------------------------

# Whole days each service level may be set to: business days, but for the notice before a hard
# deadline, which counts calendar days like the deadline itself.
SERVICE_LEVEL_LIMITS = {
    "acknowledge_days": (1, 30),
    "evaluate_days": (1, 60),
    "respond_days": (1, 30),
    "agree_days": (1, 250),
    "phase_early_days": (1, 120),
    "phase_middle_days": (1, 120),
    "phase_late_days": (1, 120),
    "deadline_notice_days": (1, 30),
    "instalment_grace_days": (1, 30),
}


def _levels_audit_view(levels: timers.ServiceLevels) -> dict:
    return {name: getattr(levels, name) for name in (*SERVICE_LEVEL_LIMITS, "escalation_route")}


async def get_service_levels(session: AsyncSession, principal: Principal) -> timers.ServiceLevels:
    require(principal, Permission.READ_LEDGER)
    return timers.service_levels(await disputes.dispute_settings(session))


def _checked_level(name: str, raw: int | str | None) -> int:
    low, high = SERVICE_LEVEL_LIMITS[name]
    try:
        days = int(str(raw).strip()) if raw not in (None, "") and not isinstance(raw, bool) else None
    except ValueError:
        days = None
    if days is None or not low <= days <= high:
        message = (
            _("Give a whole number of calendar days from %(low)s to %(high)s.")
            if name == "deadline_notice_days"
            else _("Give a whole number of business days from %(low)s to %(high)s.")
        )
        raise ValidationFailed(message, field=name, params={"low": low, "high": high})
    return days


async def update_service_levels(
    session: AsyncSession, principal: Principal, data: Mapping[str, int | str | None]
) -> timers.ServiceLevels:
    """Replace the service levels and the escalation route; cases in progress follow them from the next sweep."""
    require(principal, Permission.APPROVE_LEDGER)
    checked = {name: _checked_level(name, data.get(name)) for name in SERVICE_LEVEL_LIMITS}
    route = str(data.get("escalation_route") or "").strip()
    if route not in timers.ROUTES:
        raise ValidationFailed(_("Escalate to legal collection (legal) or an insurance claim (claim)."), field="escalation_route")
    settings = await DisputeRepository(session).settings_for_update()
    before = timers.service_levels(settings)
    for name, days in checked.items():
        setattr(settings, name, days)
    settings.escalation_route = route
    settings.updated_at = utcnow()
    await session.flush()
    after = timers.service_levels(settings)
    if after != before:
        audit.record(
            session,
            principal.actor(),
            "dispute_settings.service_levels_changed",
            "dispute_settings",
            principal.tenant_id,
            before=_levels_audit_view(before),
            after=_levels_audit_view(after),
        )
        await timers.levels_changed(session)
    return after


# --- reason codes and root causes ------------------------------------------------------------------


def _code_view(code: DisputeCode | Code) -> dict:
    return {
        "kind": code.kind.value,
        "code": code.code,
        "label_en": code.label_en,
        "label_zh": code.label_zh,
        "position": code.position,
        "active": code.active,
    }


async def list_codes(session: AsyncSession, principal: Principal, kind: CodeKind | str) -> list[Code]:
    """The tenant's reason codes or root causes in their order, inactive ones included."""
    require(principal, Permission.READ_LEDGER)
    return await disputes.codes(session, _kind(kind), active_only=False)


async def _editable_codes(session: AsyncSession, kind: CodeKind) -> list[DisputeCode]:
    """The tenant's stored list, written out from the defaults on its first change (under the settings lock)."""
    repository = DisputeRepository(session)
    await repository.settings_for_update()
    rows = list(await repository.codes(kind))
    if rows:
        return rows
    for default in default_codes(kind):
        row = DisputeCode(
            kind=kind,
            code=default.code,
            label_en=default.label_en,
            label_zh=default.label_zh,
            position=default.position,
            active=True,
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    return rows


def _label(value: str | None, field_name: str) -> str:
    text = (value or "").strip()
    if not text:
        message = _("Give the English label.") if field_name == "label_en" else _("Give the Chinese label.")
        raise ValidationFailed(message, field=field_name)
    if len(text) > LABEL_LIMIT:
        raise ValidationFailed(_("A label has at most %(limit)s characters."), field=field_name, params={"limit": LABEL_LIMIT})
    return text


@dataclass(frozen=True)
class CodeInput:
    code: str
    label_en: str
    label_zh: str


async def add_code(session: AsyncSession, principal: Principal, kind: CodeKind | str, data: CodeInput) -> DisputeCode:
    require(principal, Permission.APPROVE_LEDGER)
    kind = _kind(kind)
    code = (data.code or "").strip()
    if not CODE_FORMAT.fullmatch(code):
        raise ValidationFailed(
            _("A code has 2 to 40 lower-case letters, digits or underscores and starts with a letter, such as wrong_colour."),
            field="code",
        )
    label_en, label_zh = _label(data.label_en, "label_en"), _label(data.label_zh, "label_zh")
    rows = await _editable_codes(session, kind)
    if any(row.code == code for row in rows):
        # Inactive codes count: cases closed under them still carry them.
        raise Conflict(_("The code %(code)s is already in your list."), field="code", params={"code": code})
    if len(rows) >= MAX_CODES:
        raise ValidationFailed(_("A list holds at most %(count)s codes."), field="code", params={"count": MAX_CODES})
    row = DisputeCode(
        kind=kind,
        code=code,
        label_en=label_en,
        label_zh=label_zh,
        position=max((r.position for r in rows), default=-1) + 1,
        active=True,
    )
    session.add(row)
    await session.flush()
    audit.record(session, principal.actor(), "dispute_code.added", "dispute_code", row.id, after=_code_view(row))
    return row


@dataclass(frozen=True)
class CodeChange:
    """What changes on a code; None leaves it as it is. The code itself never changes: cases carry it."""

    label_en: str | None = None
    label_zh: str | None = None
    active: bool | None = None


async def change_code(
    session: AsyncSession, principal: Principal, kind: CodeKind | str, code: str, change: CodeChange
) -> DisputeCode:
    """Rename a code (English and Chinese labels), or take it out of use (never deleted) and back."""
    require(principal, Permission.APPROVE_LEDGER)
    kind = _kind(kind)
    rows = await _editable_codes(session, kind)
    row = next((r for r in rows if r.code == code), None)
    if row is None:
        raise NotFound(_("Not found."))
    before = _code_view(row)
    if change.label_en is not None:
        row.label_en = _label(change.label_en, "label_en")
    if change.label_zh is not None:
        row.label_zh = _label(change.label_zh, "label_zh")
    if change.active is False and row.active and not any(r.active for r in rows if r is not row):
        message = (
            _("Keep at least one reason in use: a case cannot be registered without one.")
            if kind is CodeKind.REASON
            else _("Keep at least one root cause in use: a case cannot be resolved without one.")
        )
        raise Conflict(message, field="active")
    if change.active is not None:
        row.active = change.active
    await session.flush()
    after = _code_view(row)
    if after != before:
        action = "dispute_code.changed"
        if before["active"] != after["active"]:
            action = "dispute_code.activated" if row.active else "dispute_code.deactivated"
        audit.record(session, principal.actor(), action, "dispute_code", row.id, before=before, after=after)
    return row


async def reorder_codes(
    session: AsyncSession, principal: Principal, kind: CodeKind | str, order: Sequence[str]
) -> list[DisputeCode]:
    """Put the list in the order given, which names each of the tenant's codes (inactive ones too) once."""
    require(principal, Permission.APPROVE_LEDGER)
    kind = _kind(kind)
    rows = await _editable_codes(session, kind)
    by_code = {row.code: row for row in rows}
    if len(order) != len(set(order)) or set(order) != set(by_code):
        raise ValidationFailed(
            _("Name each code of the list once: %(codes)s."), field="order", params={"codes": ", ".join(sorted(by_code))}
        )
    before = [row.code for row in sorted(rows, key=lambda r: (r.position, r.code))]
    for position, code in enumerate(order):
        by_code[code].position = position
    await session.flush()
    if list(order) != before:
        audit.record(
            session,
            principal.actor(),
            "dispute_codes.reordered",
            "dispute_codes",
            kind.value,
            before={"order": before},
            after={"order": list(order)},
        )
    return sorted(rows, key=lambda r: r.position)


# --- routing rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleInput:
    """Cases that match every criterion given (a reason, a buyer, a minimum amount in a currency) go to
    the owner, or in turn to the people of the pool."""

    name: str
    reason_code: str | None = None
    buyer_id: uuid.UUID | None = None
    min_amount: Decimal | str | None = None
    currency: str | None = None
    owner_user_id: uuid.UUID | None = None
    pool: Sequence[uuid.UUID] = ()
    active: bool = True


@dataclass(frozen=True)
class Member:
    user_id: uuid.UUID
    name: str
    email: str


def rule_view(rule: RoutingRule) -> dict:
    return {
        "name": rule.name,
        "position": rule.position,
        "reason_code": rule.reason_code,
        "buyer_id": str(rule.buyer_id) if rule.buyer_id else None,
        "min_amount": str(rule.min_amount) if rule.min_amount is not None else None,
        "currency": rule.currency,
        "owner_user_id": str(rule.owner_user_id) if rule.owner_user_id else None,
        "pool": list(rule.pool or []),
        "active": rule.active,
    }


async def case_owners(session: AsyncSession, principal: Principal) -> list[Member]:
    """The active members who may own a case (they work disputes): whom a rule may name."""
    require(principal, Permission.READ_LEDGER)
    return [
        Member(user_id, name, email)
        for user_id, name, email, role in await DisputeRepository(session).active_members()
        if can(replace(principal, role=Role(role)), Permission.WORK_DISPUTES)
    ]


async def list_rules(session: AsyncSession, principal: Principal) -> list[RoutingRule]:
    require(principal, Permission.READ_LEDGER)
    return list(await DisputeRepository(session).routing_rules())


async def get_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RoutingRule:
    require(principal, Permission.READ_LEDGER)
    rule = await DisputeRepository(session).routing_rule(rule_id)
    if rule is None:
        raise NotFound(_("Not found."))
    return rule


async def _checked_rule(session: AsyncSession, principal: Principal, data: RuleInput) -> dict:
    name = (data.name or "").strip()
    if not name:
        raise ValidationFailed(_("Name the rule, such as 'Quality disputes to the quality desk'."), field="name")
    if len(name) > NAME_LIMIT:
        raise ValidationFailed(_("A name has at most %(limit)s characters."), field="name", params={"limit": NAME_LIMIT})
    reason = (data.reason_code or "").strip() or None
    if reason and reason not in {c.code for c in await disputes.codes(session, CodeKind.REASON)}:
        raise ValidationFailed(_("%(code)s is not one of your reasons in use."), field="reason_code", params={"code": reason})
    if data.buyer_id and await BuyerRepository(session).get(data.buyer_id) is None:
        raise ValidationFailed(_("The buyer is not one of your buyers."), field="buyer_id")
    currency = (data.currency or "").strip().upper() or None
    min_amount = None
    if data.min_amount not in (None, ""):
        if not currency:
            raise ValidationFailed(_("Give the currency of the minimum amount."), field="currency")
        if not is_currency(currency):
            raise ValidationFailed(_("Unknown currency code: %(value)s."), field="currency", params={"value": data.currency})
        min_amount = data.min_amount if isinstance(data.min_amount, Decimal) else parse_decimal(data.min_amount)
        if min_amount is None:
            raise ValidationFailed(_("Enter an amount, such as 50000.00."), field="min_amount")
        if not storable(min_amount):
            raise ValidationFailed(_("The amount is larger than Accord can hold (10^15)."), field="min_amount")
        if min_amount < 0:
            raise ValidationFailed(_("The minimum amount is zero or more."), field="min_amount")
        if round_money(min_amount, currency) != min_amount:
            raise ValidationFailed(
                _("%(currency)s amounts have at most the currency's minor unit of decimals."),
                field="min_amount",
                params={"currency": currency},
            )
    elif currency:
        raise ValidationFailed(
            _("Give the minimum amount in %(currency)s, or leave the currency out."),
            field="min_amount",
            params={"currency": currency},
        )
    if not (reason or data.buyer_id or min_amount is not None):
        raise ValidationFailed(
            _("A rule matches cases by reason, buyer or minimum amount: give at least one."), field="reason_code"
        )
    pool = list(data.pool or [])
    if data.owner_user_id and pool:
        raise ValidationFailed(_("Name one owner or a pool that takes cases in turn, not both."), field="pool")
    owners = {member.user_id for member in await case_owners(session, principal)}
    if data.owner_user_id:
        if data.owner_user_id not in owners:
            raise ValidationFailed(
                _("The owner must be an active member of your team who works disputes."), field="owner_user_id"
            )
    elif pool:
        low, high = POOL_SIZE
        if not low <= len(pool) <= high:
            raise ValidationFailed(_("A pool has %(low)s to %(high)s people."), field="pool", params={"low": low, "high": high})
        if len(set(pool)) != len(pool):
            raise ValidationFailed(_("A person is named twice in the pool."), field="pool")
        if any(user_id not in owners for user_id in pool):
            raise ValidationFailed(
                _("Everyone in the pool must be an active member of your team who works disputes."), field="pool"
            )
    else:
        raise ValidationFailed(
            _("Name the owner of the cases, or a pool of people who take them in turn."), field="owner_user_id"
        )
    return {
        "name": name,
        "reason_code": reason,
        "buyer_id": data.buyer_id,
        "min_amount": min_amount,
        "currency": currency if min_amount is not None else None,
        "owner_user_id": data.owner_user_id,
        "pool": [str(user_id) for user_id in pool],
        "active": bool(data.active),
    }


async def create_rule(session: AsyncSession, principal: Principal, data: RuleInput) -> RoutingRule:
    """A new rule, checked after the existing ones."""
    require(principal, Permission.APPROVE_LEDGER)
    values = await _checked_rule(session, principal, data)
    repository = DisputeRepository(session)
    await repository.settings_for_update()
    rules = await repository.routing_rules()
    if len(rules) >= MAX_RULES:
        raise ValidationFailed(_("A tenant has at most %(count)s routing rules."), field="name", params={"count": MAX_RULES})
    rule = RoutingRule(position=max((r.position for r in rules), default=-1) + 1, next_in_pool=0, **values)
    session.add(rule)
    await session.flush()
    audit.record(
        session, principal.actor(), "dispute_routing_rule.created", "dispute_routing_rule", rule.id, after=rule_view(rule)
    )
    return rule


async def _rule_for_change(session: AsyncSession, rule_id: uuid.UUID) -> RoutingRule:
    repository = DisputeRepository(session)
    await repository.settings_for_update()
    rule = await repository.routing_rule(rule_id, for_update=True)
    if rule is None:
        raise NotFound(_("Not found."))
    return rule


async def update_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID, data: RuleInput) -> RoutingRule:
    require(principal, Permission.APPROVE_LEDGER)
    rule = await _rule_for_change(session, rule_id)
    values = await _checked_rule(session, principal, data)
    before = rule_view(rule)
    if values["pool"] != list(rule.pool or []):
        rule.next_in_pool = 0  # a new pool starts its turn from its first person
    for name, value in values.items():
        setattr(rule, name, value)
    await session.flush()
    after = rule_view(rule)
    if after != before:
        audit.record(
            session,
            principal.actor(),
            "dispute_routing_rule.changed",
            "dispute_routing_rule",
            rule.id,
            before=before,
            after=after,
        )
    return rule


async def delete_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
    """Cases it routed keep their owner; new cases are routed by the other rules."""
    require(principal, Permission.APPROVE_LEDGER)
    rule = await _rule_for_change(session, rule_id)
    before = rule_view(rule)
    await session.delete(rule)
    await session.flush()
    audit.record(session, principal.actor(), "dispute_routing_rule.deleted", "dispute_routing_rule", rule_id, before=before)


async def reorder_rules(session: AsyncSession, principal: Principal, order: Sequence[uuid.UUID]) -> list[RoutingRule]:
    """Check the rules in the order given, which names each of the tenant's rules once (the first match wins)."""
    require(principal, Permission.APPROVE_LEDGER)
    repository = DisputeRepository(session)
    await repository.settings_for_update()
    rules = {rule.id: rule for rule in await repository.routing_rules()}
    if any(rule_id not in rules for rule_id in order):
        raise NotFound(_("Not found."))
    if len(order) != len(set(order)) or set(order) != set(rules):
        raise ValidationFailed(_("Name each of your routing rules once."), field="order")
    before = [str(rule_id) for rule_id in rules]
    for position, rule_id in enumerate(order):
        rules[rule_id].position = position
    await session.flush()
    after = [str(rule_id) for rule_id in order]
    if after != before:
        audit.record(
            session,
            principal.actor(),
            "dispute_routing_rules.reordered",
            "dispute_routing_rules",
            None,
            before={"order": before},
            after={"order": after},
        )
    return [rules[rule_id] for rule_id in order]
