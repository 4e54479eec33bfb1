"""REST endpoints of the tenant's dispute settings: approval thresholds and escalation, reason codes
and root causes, routing rules. Reading needs the ledger-reading permission; changing needs the
credit-manager, administrator or owner role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.disputes import settings
from backend.disputes.codes import Code
from backend.disputes.models import DisputeCode, RoutingRule
from backend.invoices.schemas import amount_text, checked_decimal

Amount = Annotated[Decimal, msgspec.Meta(description='An amount as a string ("50000.00") or a JSON number')]
Kind = Annotated[
    str,
    Parameter(description="`reason` (why buyers dispute) or `root_cause` (what the case found); another value answers 404"),
]


@dataclass
class DisputeSettingsOut:
    # Per currency (ISO 4217): credit notes and write-offs above the amount wait for a second person's
    # approval; in a currency not listed, every one does.
    approval_thresholds: dict[str, str]
    escalation_days: int

    @classmethod
    def of(cls, view: settings.SettingsView) -> DisputeSettingsOut:
        return cls(
            {currency: amount_text(amount, currency) for currency, amount in view.approval_thresholds.items()},
            view.escalation_days,
        )


class DisputeSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    approval_thresholds: Annotated[
        dict[str, Amount],
        msgspec.Meta(description="Currency (ISO 4217, such as CNY) → amount, zero or more; replaces the whole set"),
    ]
    escalation_days: Annotated[int, msgspec.Meta(description="Days without agreement before a case escalates: 60 to 120")]

    def to_input(self) -> settings.SettingsInput:
        return settings.SettingsInput(
            {
                currency: checked_decimal(amount, f"approval_thresholds.{currency}")
                for currency, amount in self.approval_thresholds.items()
            },
            self.escalation_days,
        )


@dataclass
class ServiceLevelsOut:
    # Business days on the tenant's calendar (its country's weekends and public holidays, its time zone).
    acknowledge_days: int
    evaluate_days: int
    respond_days: int
    agree_days: int
    phase_early_days: int
    phase_middle_days: int
    phase_late_days: int
    # Calendar days before a hard deadline (a chargeback's evidence due date) that the owner is told.
    deadline_notice_days: int
    instalment_grace_days: int
    # legal | claim: what a case without agreement after `escalation_days` is put forward for.
    escalation_route: str
    escalation_days: int

    @classmethod
    def of(cls, levels) -> ServiceLevelsOut:
        return cls(**{name: getattr(levels, name) for name in cls.__dataclass_fields__})


class ServiceLevelsIn(msgspec.Struct, forbid_unknown_fields=True):
    acknowledge_days: Annotated[int, msgspec.Meta(description="To acknowledge a new case: 1 to 30 business days")]
    evaluate_days: Annotated[int, msgspec.Meta(description="To finish the evaluation, from the day raised: 1 to 60")]
    respond_days: Annotated[int, msgspec.Meta(description="To answer the buyer (and before the buyer is reminded): 1 to 30")]
    agree_days: Annotated[int, msgspec.Meta(description="To reach agreement, from the day raised: 1 to 250")]
    phase_early_days: Annotated[int, msgspec.Meta(description="Early phase limit: 1 to 120")]
    phase_middle_days: Annotated[int, msgspec.Meta(description="Middle phase limit: 1 to 120")]
    phase_late_days: Annotated[int, msgspec.Meta(description="Late phase limit: 1 to 120")]
    deadline_notice_days: Annotated[int, msgspec.Meta(description="Calendar days of notice before a hard deadline: 1 to 30")]
    instalment_grace_days: Annotated[int, msgspec.Meta(description="Before an unpaid instalment counts as missed: 1 to 30")]
    escalation_route: Annotated[str, msgspec.Meta(max_length=8, description="legal or claim")]


@dataclass
class CodeOut:
    code: str
    label_en: str
    label_zh: str
    position: int
    # False: kept for the cases that carry it, but not offered for new ones.
    active: bool

    @classmethod
    def of(cls, code: Code | DisputeCode) -> CodeOut:
        return cls(code.code, code.label_en, code.label_zh, code.position, code.active)


@dataclass
class CodeList:
    items: list[CodeOut]


Label = Annotated[str, msgspec.Meta(max_length=120)]


class CodeIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[
        str, msgspec.Meta(max_length=40, description="2 to 40 lower-case letters, digits or underscores, starting with a letter")
    ]
    label_en: Label
    label_zh: Label


class CodeChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    label_en: Label
    label_zh: Label
    active: Annotated[bool, msgspec.Meta(description="False takes the code out of use; it is never deleted")]


class CodeOrderIn(msgspec.Struct, forbid_unknown_fields=True):
    order: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=40)]],
        msgspec.Meta(max_length=200, description="Every code of the list (inactive ones too), once, in the new order"),
    ]


@dataclass
class RoutingRuleOut:
    id: uuid.UUID
    position: int
    name: str
    reason_code: str | None
    buyer_id: uuid.UUID | None
    min_amount: str | None
    currency: str | None
    owner_user_id: uuid.UUID | None
    pool: list[uuid.UUID]
    active: bool

    @classmethod
    def of(cls, rule: RoutingRule) -> RoutingRuleOut:
        return cls(
            rule.id,
            rule.position,
            rule.name,
            rule.reason_code,
            rule.buyer_id,
            amount_text(rule.min_amount, rule.currency) if rule.min_amount is not None and rule.currency else None,
            rule.currency,
            rule.owner_user_id,
            [uuid.UUID(user_id) for user_id in rule.pool or []],
            rule.active,
        )


@dataclass
class RoutingRuleList:
    # In the order they are tried: a new case goes by the first active rule that matches it.
    items: list[RoutingRuleOut]


class RoutingRuleIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=120)]
    reason_code: Annotated[str, msgspec.Meta(max_length=40, description="One of the tenant's reasons in use")] | None = None
    buyer_id: uuid.UUID | None = None
    min_amount: Annotated[Amount, msgspec.Meta(description="Cases disputing at least this much, in `currency`")] | None = None
    currency: Annotated[str, msgspec.Meta(max_length=3, description="ISO 4217; needed with `min_amount`")] | None = None
    owner_user_id: Annotated[uuid.UUID, msgspec.Meta(description="One owner for every matching case")] | None = None
    pool: Annotated[
        list[uuid.UUID], msgspec.Meta(max_length=50, description="Instead of an owner: 2 to 50 people who take cases in turn")
    ] = []
    active: bool = True

    def to_input(self) -> settings.RuleInput:
        return settings.RuleInput(
            name=self.name,
            reason_code=self.reason_code,
            buyer_id=self.buyer_id,
            min_amount=checked_decimal(self.min_amount, "min_amount"),
            currency=self.currency,
            owner_user_id=self.owner_user_id,
            pool=list(self.pool),
            active=self.active,
        )


class RoutingRuleOrderIn(msgspec.Struct, forbid_unknown_fields=True):
    order: Annotated[list[uuid.UUID], msgspec.Meta(max_length=200, description="Every rule's id, once, in the new order")]


CHANGE = "Needs the credit-manager, administrator or owner role; the change is in the audit trail."


class DisputeSettingsController(Controller):
    path = "/dispute-settings"
    tags = ["dispute settings"]

    @get("/", summary="Approval thresholds per currency and the escalation day")
    async def get_settings(self, db: AsyncSession, principal: Principal) -> DisputeSettingsOut:
        return DisputeSettingsOut.of(await settings.get_settings(db, principal))

    @put(
        "/",
        summary="Replace the approval thresholds and the escalation day",
        description=f"{CHANGE} An unknown currency, a negative amount or days outside 60–120 answer 422 naming the field.",
    )
    async def replace_settings(self, db: AsyncSession, principal: Principal, data: DisputeSettingsIn) -> DisputeSettingsOut:
        return DisputeSettingsOut.of(await settings.update_settings(db, principal, data.to_input()))

    @get("/service-levels", summary="The service levels every case is timed by")
    async def get_service_levels(self, db: AsyncSession, principal: Principal) -> ServiceLevelsOut:
        return ServiceLevelsOut.of(await settings.get_service_levels(db, principal))

    @put(
        "/service-levels",
        summary="Replace the service levels and the escalation route",
        description=f"{CHANGE} Days outside their range or a route other than legal or claim answer 422 naming the field; "
        "cases in progress follow the new levels from the next sweep (within five minutes).",
    )
    async def replace_service_levels(self, db: AsyncSession, principal: Principal, data: ServiceLevelsIn) -> ServiceLevelsOut:
        levels = await settings.update_service_levels(db, principal, msgspec.structs.asdict(data))
        return ServiceLevelsOut.of(levels)

    @get(
        "/codes/{kind:str}",
        summary="The reason codes or root causes, in their order",
        description="The defaults until the tenant changes the list; inactive codes are listed with `active: false`.",
    )
    async def list_codes(self, db: AsyncSession, principal: Principal, kind: Kind) -> CodeList:
        return CodeList([CodeOut.of(code) for code in await settings.list_codes(db, principal, kind)])

    @post(
        "/codes/{kind:str}",
        summary="Add a code at the end of the list",
        description=f"{CHANGE} A code already in the list (active or not) answers 409.",
    )
    async def add_code(self, db: AsyncSession, principal: Principal, kind: Kind, data: CodeIn) -> CodeOut:
        code = await settings.add_code(db, principal, kind, settings.CodeInput(data.code, data.label_en, data.label_zh))
        return CodeOut.of(code)

    @put(
        "/codes/{kind:str}",
        summary="Reorder the list",
        description=f"{CHANGE} `order` names every code of the list once, inactive ones too.",
    )
    async def reorder_codes(self, db: AsyncSession, principal: Principal, kind: Kind, data: CodeOrderIn) -> CodeList:
        return CodeList([CodeOut.of(code) for code in await settings.reorder_codes(db, principal, kind, data.order)])

    @put(
        "/codes/{kind:str}/{code:str}",
        summary="Rename a code, or take it out of use and back",
        description=f"{CHANGE} A code is never deleted: cases carry it. The last code in use cannot be deactivated (409).",
    )
    async def change_code(self, db: AsyncSession, principal: Principal, kind: Kind, code: str, data: CodeChangeIn) -> CodeOut:
        change = settings.CodeChange(label_en=data.label_en, label_zh=data.label_zh, active=data.active)
        return CodeOut.of(await settings.change_code(db, principal, kind, code, change))

    @get("/routing-rules", summary="The routing rules, in the order they are tried")
    async def list_rules(self, db: AsyncSession, principal: Principal) -> RoutingRuleList:
        return RoutingRuleList([RoutingRuleOut.of(rule) for rule in await settings.list_rules(db, principal)])

    @post(
        "/routing-rules",
        summary="Add a routing rule, tried after the others",
        description=(
            f"{CHANGE} A rule matches by reason, buyer and/or minimum amount (with its currency) and names one "
            "owner or a pool of 2 to 50 people who take the cases in turn; all must be active members who work disputes."
        ),
    )
    async def create_rule(self, db: AsyncSession, principal: Principal, data: RoutingRuleIn) -> RoutingRuleOut:
        return RoutingRuleOut.of(await settings.create_rule(db, principal, data.to_input()))

    @put(
        "/routing-rules",
        summary="Reorder the routing rules",
        description=f"{CHANGE} `order` names every rule once; an id that is not one of yours answers 404.",
    )
    async def reorder_rules(self, db: AsyncSession, principal: Principal, data: RoutingRuleOrderIn) -> RoutingRuleList:
        rules = await settings.reorder_rules(db, principal, data.order)
        return RoutingRuleList([RoutingRuleOut.of(rule) for rule in rules])

    @get("/routing-rules/{rule_id:uuid}", summary="One routing rule")
    async def get_rule(self, db: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RoutingRuleOut:
        return RoutingRuleOut.of(await settings.get_rule(db, principal, rule_id))

    @put("/routing-rules/{rule_id:uuid}", summary="Replace a routing rule", description=CHANGE)
    async def replace_rule(
        self, db: AsyncSession, principal: Principal, rule_id: uuid.UUID, data: RoutingRuleIn
    ) -> RoutingRuleOut:
        return RoutingRuleOut.of(await settings.update_rule(db, principal, rule_id, data.to_input()))

    @delete(
        "/routing-rules/{rule_id:uuid}",
        summary="Delete a routing rule",
        description=f"{CHANGE} Cases it routed keep their owner.",
    )
    async def delete_rule(self, db: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
        await settings.delete_rule(db, principal, rule_id)
