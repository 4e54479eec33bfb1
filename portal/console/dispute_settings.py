"""Console › Dispute settings: approval thresholds and escalation, the reasons and root causes a case
is described with, and the routing rules that give a new case its owner.

Every form posts to its own address. Without JavaScript a change answers with a redirect back to its
section; with htmx the page is rendered and the form's section swapped in place. A refusal renders
the page with the message beside the field that caused it (422, or 409 for a conflict) and keeps
what was typed; nothing of a refused change is kept.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, can, require
from backend.auth.principal import Principal
from backend.buyers import service as buyers
from backend.disputes import settings
from backend.disputes.models import CodeKind
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.i18n import _, current_language, gettext
from portal import web
from portal.console.sign_in import Form

PATH = "/console/dispute-settings"
FORM_ERRORS = (ValidationFailed, Conflict)
KINDS = {
    CodeKind.REASON: (
        _("Reasons for disputes"),
        _("What buyers give as the reason for a dispute, offered when a case is registered."),
    ),
    CodeKind.ROOT_CAUSE: (_("Root causes"), _("What the evaluation found to be the cause, recorded when a case is resolved.")),
}
# The service levels' fields, in the order the form shows them.
LEVEL_LABELS = (
    ("acknowledge_days", _("Acknowledge a new case within (business days)")),
    ("evaluate_days", _("Finish the evaluation within (business days from the day raised)")),
    ("respond_days", _("Answer the buyer within (business days); the buyer is reminded after as long")),
    ("agree_days", _("Reach agreement within (business days from the day raised)")),
    ("phase_early_days", _("Early phase, keep the relationship, at most (business days)")),
    ("phase_middle_days", _("Middle phase, reach consensus, at most (business days)")),
    ("phase_late_days", _("Late phase, carry out the agreement, at most (business days)")),
    ("deadline_notice_days", _("Warn the owner before a hard deadline (calendar days)")),
    ("instalment_grace_days", _("An unpaid instalment counts as missed after (business days)")),
)
ROUTE_LABELS = (("legal", _("Legal collection")), ("claim", _("An insurance claim")))
# The buyers offered by a rule's buyer list, by name.
BUYER_CHOICES = 500
RULE_FIELDS = ("name", "reason_code", "buyer_id", "min_amount", "currency", "owner_user_id")


def _kind(kind: str) -> CodeKind:
    try:
        return CodeKind(kind)
    except ValueError:
        raise NotFound(_("Not found.")) from None


def _uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID((raw or "").strip())
    except ValueError:
        return None


def _error(form: str, error: ValidationFailed | Conflict) -> dict:
    return {"form": form, "field": error.field, "message": error.translated(gettext)}


class DisputeSettingsController(Controller):
    path = PATH
    include_in_schema = False

    async def _page(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        *,
        status_code: int = 200,
        saved: str | None = None,
        error: dict | None = None,
        typed: dict | None = None,
    ) -> Response:
        view = await settings.get_settings(db, principal)
        levels = await settings.get_service_levels(db, principal)
        language = current_language.get()
        codes = {kind: await settings.list_codes(db, principal, kind) for kind in KINDS}
        rules = await settings.list_rules(db, principal)
        owners = await settings.case_owners(db, principal)
        _total, buyer_rows = await buyers.list_buyers(db, principal, limit=BUYER_CHOICES, offset=0)
        buyer_names = {b.id: b.legal_name for b in buyer_rows}
        for rule in rules:
            if rule.buyer_id and rule.buyer_id not in buyer_names:
                buyer_names[rule.buyer_id] = (await buyers.get_buyer(db, principal, rule.buyer_id)).legal_name
        return web.render(
            request,
            "console/dispute_settings.html",
            status_code=status_code,
            view=view,
            levels=levels,
            level_fields=[(name, gettext(label)) for name, label in LEVEL_LABELS],
            route_labels=[(route, gettext(label)) for route, label in ROUTE_LABELS],
            general_fields=[
                "escalation_days",
                "new_currency",
                "new_threshold",
                *(f"threshold_{c}" for c in view.approval_thresholds),
            ],
            # Translated here, not with _() in the template, which would mark the text as safe HTML.
            kinds=[(kind.value, gettext(title), gettext(hint)) for kind, (title, hint) in KINDS.items()],
            codes={kind.value: listed for kind, listed in codes.items()},
            reason_labels={c.code: c.label(language) for c in codes[CodeKind.REASON]},
            active_reasons=[c for c in codes[CodeKind.REASON] if c.active],
            rules=rules,
            owners=owners,
            owner_names={str(m.user_id): m.name for m in owners},
            buyers=buyer_rows,
            buyer_names={str(key): name for key, name in buyer_names.items()},
            can_change=can(principal, Permission.APPROVE_LEDGER),
            saved=saved,
            error=error or {},
            typed=typed or {},
        )

    async def _refused(
        self, request: Request, db: AsyncSession, principal: Principal, form: str, error, typed: dict | None = None
    ) -> Response:
        await db.rollback()
        return await self._page(
            request, db, principal, status_code=error.status_code, error=_error(form, error), typed={form: typed or {}}
        )

    async def _done(self, request: Request, db: AsyncSession, principal: Principal, saved: str, anchor: str) -> Response:
        if not web.is_htmx(request):
            return web.redirect(request, f"{PATH}?saved={saved}#{anchor}")
        return await self._page(request, db, principal, saved=saved)

    @get("/")
    async def index(self, request: Request, db: AsyncSession, principal: Principal, saved: str | None = None) -> Response:
        return await self._page(request, db, principal, saved=(saved or "")[:80] or None)

    # --- approval thresholds and escalation -----------------------------------------------------

    @post("/general")
    async def change_general(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        require(principal, Permission.APPROVE_LEDGER)
        form = await request.form()
        current = await settings.get_settings(db, principal)
        thresholds: dict[str, str] = {}
        for currency in current.approval_thresholds:
            typed = (form.get(f"threshold_{currency}") or "").strip()
            if typed:  # emptied: the currency's threshold goes
                thresholds[currency] = typed
        new_currency, new_amount = (form.get("new_currency") or "").strip(), (form.get("new_threshold") or "").strip()
        typed = {key: str(value) for key, value in form.items()}
        try:
            if new_currency or new_amount:
                if not new_amount:
                    raise ValidationFailed(_("Enter an amount, such as 50000.00."), field="new_threshold")
                if not new_currency:
                    raise ValidationFailed(_("Give the currency, such as CNY."), field="new_currency")
                if new_currency.upper() in thresholds:
                    raise ValidationFailed(
                        _("%(currency)s is named twice."), field="new_currency", params={"currency": new_currency.upper()}
                    )
                thresholds[new_currency] = new_amount
            await settings.update_settings(db, principal, settings.SettingsInput(thresholds, form.get("escalation_days")))
        except FORM_ERRORS as error:
            if error.field and error.field.startswith("approval_thresholds."):
                currency = error.field.split(".", 1)[1]
                error.field = f"threshold_{currency}" if currency in current.approval_thresholds else "new_threshold"
            return await self._refused(request, db, principal, "general", error, typed)
        return await self._done(request, db, principal, "general", "general")

    # --- service levels -----------------------------------------------------------------------------

    @post("/service-levels")
    async def change_service_levels(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        require(principal, Permission.APPROVE_LEDGER)
        form = await request.form()
        typed = {name: str(form.get(name) or "") for name in (*settings.SERVICE_LEVEL_LIMITS, "escalation_route")}
        try:
            await settings.update_service_levels(db, principal, typed)
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, "levels", error, typed)
        return await self._done(request, db, principal, "levels", "levels")

    # --- reasons and root causes ------------------------------------------------------------------

    @post("/codes/{kind:str}")
    async def add_code(
        self, request: Request, db: AsyncSession, principal: Principal, kind: str, data: Annotated[dict[str, str], Form]
    ) -> Response:
        kind = _kind(kind)
        typed = {name: data.get(name, "") for name in ("code", "label_en", "label_zh")}
        try:
            await settings.add_code(db, principal, kind, settings.CodeInput(**typed))
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, f"add-{kind.value}", error, typed)
        return await self._done(request, db, principal, f"{kind.value}:{typed['code'].strip()}", f"codes-{kind.value}")

    @post("/codes/{kind:str}/{code:str}")
    async def change_code(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        kind: str,
        code: str,
        data: Annotated[dict[str, str], Form],
    ) -> Response:
        kind = _kind(kind)
        action = data.get("action", "save")
        typed = {"label_en": data.get("label_en", ""), "label_zh": data.get("label_zh", "")}
        try:
            if action in ("up", "down"):
                order = [c.code for c in await settings.list_codes(db, principal, kind)]
                if code not in order:
                    raise NotFound(_("Not found."))
                at = order.index(code)
                to = at - 1 if action == "up" else at + 1
                if 0 <= to < len(order):
                    order[at], order[to] = order[to], order[at]
                    await settings.reorder_codes(db, principal, kind, order)
            elif action in ("deactivate", "activate"):
                await settings.change_code(db, principal, kind, code, settings.CodeChange(active=action == "activate"))
            else:
                await settings.change_code(db, principal, kind, code, settings.CodeChange(**typed))
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, f"code-{kind.value}-{code}", error, typed)
        return await self._done(request, db, principal, f"{kind.value}:{code}", f"codes-{kind.value}")

    # --- routing rules ------------------------------------------------------------------------------

    @staticmethod
    async def _rule_input(request: Request) -> tuple[settings.RuleInput, dict]:
        form = await request.form()
        typed = {name: (form.get(name) or "").strip() for name in RULE_FIELDS}
        typed["pool"] = [value for value in form.getall("pool", []) if value]
        typed["active"] = bool(form.get("active"))
        owner = _uuid(typed["owner_user_id"]) if typed["owner_user_id"] else None
        if typed["owner_user_id"] and owner is None:
            raise ValidationFailed(
                _("The owner must be an active member of your team who works disputes."), field="owner_user_id"
            )
        pool = [_uuid(value) for value in typed["pool"]]
        if any(member is None for member in pool):
            raise ValidationFailed(
                _("Everyone in the pool must be an active member of your team who works disputes."), field="pool"
            )
        buyer_id = _uuid(typed["buyer_id"]) if typed["buyer_id"] else None
        if typed["buyer_id"] and buyer_id is None:
            raise ValidationFailed(_("The buyer is not one of your buyers."), field="buyer_id")
        rule = settings.RuleInput(
            name=typed["name"],
            reason_code=typed["reason_code"] or None,
            buyer_id=buyer_id,
            min_amount=typed["min_amount"] or None,
            currency=typed["currency"] or None,
            owner_user_id=owner,
            pool=pool,
            active=typed["active"],
        )
        return rule, typed

    @post("/rules")
    async def create_rule(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        require(principal, Permission.APPROVE_LEDGER)
        typed: dict = {}
        try:
            rule, typed = await self._rule_input(request)
            created = await settings.create_rule(db, principal, rule)
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, "add-rule", error, typed or await self._typed(request))
        return await self._done(request, db, principal, f"rule:{created.id}", "routing")

    @post("/rules/{rule_id:uuid}")
    async def change_rule(self, request: Request, db: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> Response:
        await settings.get_rule(db, principal, rule_id)  # another tenant's or a deleted rule: 404
        require(principal, Permission.APPROVE_LEDGER)
        typed: dict = {}
        try:
            rule, typed = await self._rule_input(request)
            await settings.update_rule(db, principal, rule_id, rule)
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, f"rule-{rule_id}", error, typed or await self._typed(request))
        return await self._done(request, db, principal, f"rule:{rule_id}", "routing")

    @post("/rules/{rule_id:uuid}/move")
    async def move_rule(
        self, request: Request, db: AsyncSession, principal: Principal, rule_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        await settings.get_rule(db, principal, rule_id)
        order = [rule.id for rule in await settings.list_rules(db, principal)]
        at = order.index(rule_id)
        to = at - 1 if data.get("direction") == "up" else at + 1
        try:
            if 0 <= to < len(order):
                order[at], order[to] = order[to], order[at]
                await settings.reorder_rules(db, principal, order)
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, f"rule-{rule_id}", error)
        return await self._done(request, db, principal, f"rule:{rule_id}", "routing")

    @post("/rules/{rule_id:uuid}/delete")
    async def delete_rule(self, request: Request, db: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> Response:
        await settings.delete_rule(db, principal, rule_id)
        return await self._done(request, db, principal, "rules:deleted", "routing")

    @staticmethod
    async def _typed(request: Request) -> dict:
        form = await request.form()
        typed = {name: (form.get(name) or "").strip() for name in RULE_FIELDS}
        typed["pool"] = list(form.getall("pool", []))
        typed["active"] = bool(form.get("active"))
        return typed
