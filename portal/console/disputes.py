"""Console › Disputes: the inbox (mine, team, unassigned; filters, sort, bulk assign) and registering a case.

The case page itself is `portal.console.dispute_case`. Every form here is a plain form that works
without JavaScript; htmx only swaps the answer in place.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Response
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, can, require, role_can
from backend.auth.principal import Principal
from backend.buyers import service as buyers
from backend.disputes import service as disputes
from backend.disputes.models import (
    ACTIVE_STATES,
    CHANNEL_LABELS,
    CLOSED_STATES,
    PHASE_LABELS,
    STATE_LABELS,
    Channel,
    CodeKind,
    DisputePhase,
    DisputeState,
)
from backend.disputes.repository import SORTS, CaseFilter
from backend.errors import Conflict, DomainError, NotFound, ValidationFailed
from backend.files import storage, uploads
from backend.i18n import _, current_language, gettext
from backend.invoices import service as ledger
from backend.invoices.models import StoredFile
from backend.money import parse_decimal, round_money
from backend.tenants import service as tenants
from backend.tenants.models import MembershipStatus, Role
from portal import web
from portal.console.invoices import BUYER_CHOICES, parse_date

PAGE_SIZE = 25
TEAM_SIZE = 500  # people listed as owners and task assignees
MAX_EVIDENCE_FILES = 10  # per upload, on registration and on the case page
EVIDENCE_LIMIT_MB = uploads.MAX_UPLOAD_BYTES // (1024 * 1024)
EVIDENCE_ACCEPT = ".pdf,.png,.jpg,.jpeg,.webp,.tif,.tiff,application/pdf,image/png,image/jpeg,image/webp,image/tiff"
UPLOAD_BODY_LIMIT = MAX_EVIDENCE_FILES * uploads.MAX_UPLOAD_BYTES + 1024 * 1024
Multipart = Body(media_type=RequestEncodingType.MULTI_PART)
Form = Body(media_type=RequestEncodingType.URL_ENCODED)

TABS = {"mine": _("Mine"), "team": _("Team"), "unassigned": _("Unassigned")}
# The state filter: cases in progress unless asked otherwise.
STATE_GROUPS = {"": _("In progress"), "closed": _("Closed"), "all": _("Any state")}
PHASE_SHORT = {DisputePhase.EARLY: _("Early"), DisputePhase.MIDDLE: _("Middle"), DisputePhase.LATE: _("Late")}
AGES = (7, 14, 30, 60, 90)
SORT_LABELS = {
    "-opened": _("Newest first"),
    "opened": _("Oldest first"),
    "-amount": _("Largest amount first"),
    "amount": _("Smallest amount first"),
    "-updated": _("Recently changed"),
    "number": _("Case number"),
}
FILTERS = ("tab", "state", "phase", "reason", "buyer", "age", "min", "max", "q", "sort")
CASE_FIELDS = ("buyer_id", "reason_code", "channel", "opened_on", "description", "owner_user_id")


def message_of(error: DomainError) -> str:
    return error.translated(gettext)


@dataclass
class Member:
    user_id: uuid.UUID
    name: str
    role: Role
    active: bool

    @property
    def works_disputes(self) -> bool:
        return role_can(self.role, Permission.WORK_DISPUTES)

    @property
    def answers_tasks(self) -> bool:
        return role_can(self.role, Permission.CONTRIBUTE_DISPUTES)


async def team_of(db: AsyncSession, principal: Principal) -> list[Member]:
    _total, rows = await tenants.list_members(db, principal, limit=TEAM_SIZE)
    return [
        Member(user.id, user.display_name or user.email, membership.role, membership.status is MembershipStatus.ACTIVE)
        for membership, user in rows
    ]


async def reason_labels(db: AsyncSession) -> dict[str, str]:
    """Every reason code the tenant has (retired ones too: old cases still carry them), in the reader's language."""
    language = current_language.get()
    return {code.code: code.label(language) for code in await disputes.codes(db, CodeKind.REASON, active_only=False)}


async def root_cause_labels(db: AsyncSession) -> dict[str, str]:
    language = current_language.get()
    return {code.code: code.label(language) for code in await disputes.codes(db, CodeKind.ROOT_CAUSE, active_only=False)}


def _uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID((raw or "").strip())
    except ValueError:
        return None


def _files(data: dict, name: str = "files") -> list[UploadFile]:
    raw = data.get(name) or []
    return [u for u in (raw if isinstance(raw, list) else [raw]) if isinstance(u, UploadFile) and u.filename]


async def store_evidence(db: AsyncSession, principal: Principal, case_id: uuid.UUID, files: list[UploadFile]) -> None:
    """Keep each file as evidence of the case (on a refusal the caller rolls back with `roll_back`)."""
    if len(files) > MAX_EVIDENCE_FILES:
        raise ValidationFailed(_("Attach at most %(count)s files at once."), field="file", params={"count": MAX_EVIDENCE_FILES})
    for upload in files:
        try:
            await disputes.add_evidence(db, principal, case_id, filename=upload.filename, source=upload.file)
        except (ValidationFailed, uploads.FileTooLarge) as error:
            # Name the file that was refused: the message alone does not say which of several.
            raise type(error)(
                "%(filename)s: %(reason)s", field="file", params={"filename": upload.filename, "reason": message_of(error)}
            ) from error


async def roll_back(db: AsyncSession, principal: Principal) -> None:
    """Undo the request's changes, and remove the bytes of the files stored in it: their rows go with the
    rollback, so nothing would ever find them again."""
    stored = [(row, row.storage_key) for row in list(db.sync_session.identity_map.values()) if isinstance(row, StoredFile)]
    await db.rollback()
    for row, key in stored:
        if inspect(row).transient:  # inserted in this transaction, now undone
            await asyncio.to_thread(storage.get_storage().delete, principal.tenant_id, key)


# --- the inbox ----------------------------------------------------------------------------------


def _inbox_filter(principal: Principal, chosen: dict[str, str], errors: dict[str, str]) -> CaseFilter:
    owner = {"mine": str(principal.id), "unassigned": "unassigned"}.get(chosen["tab"])
    if chosen["state"] == "closed":
        states = tuple(CLOSED_STATES)
    elif chosen["state"] == "all":
        states = ()
    elif chosen["state"] in DisputeState._value2member_map_:
        states = (DisputeState(chosen["state"]),)
    else:
        states = tuple(ACTIVE_STATES)
    amounts: dict[str, Decimal | None] = {}
    for name in ("min", "max"):
        amounts[name] = parse_decimal(chosen[name]) if chosen[name] else None
        if chosen[name] and amounts[name] is None:
            errors[name] = gettext("Enter an amount, such as 1250.00.")
    if amounts["min"] is not None and amounts["max"] is not None and amounts["min"] > amounts["max"]:
        errors["max"] = gettext("The largest amount is below the smallest.")
        amounts["max"] = None
    buyer_id = _uuid(chosen["buyer"]) if chosen["buyer"] else None
    if chosen["buyer"] and buyer_id is None:
        errors["buyer"] = gettext("Not found.")
    age = int(chosen["age"]) if chosen["age"].isdigit() and int(chosen["age"]) <= 3650 else None
    return CaseFilter(
        owner=owner,
        states=states,
        phase=DisputePhase(chosen["phase"]) if chosen["phase"] in DisputePhase._value2member_map_ else None,
        reason_code=chosen["reason"] or None,
        buyer_id=buyer_id,
        opened_before=date.today() - timedelta(days=age) if age else None,
        min_amount=amounts["min"],
        max_amount=amounts["max"],
        query=chosen["q"] or None,
        sort=chosen["sort"] if chosen["sort"] in SORTS else "-opened",
    )


class DisputeInboxController(Controller):
    path = "/console/disputes"
    include_in_schema = False

    async def _inbox(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        chosen: dict[str, str],
        page: int,
        *,
        status_code: int = 200,
        assign_error: str | None = None,
        assigned: int | None = None,
        checked: set[str] | None = None,
    ) -> Response:
        filter_errors: dict[str, str] = {}
        where = _inbox_filter(principal, chosen, filter_errors)
        total, rows = await disputes.list_cases(db, principal, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        team = await team_of(db, principal)
        _count, buyer_choices = await buyers.list_buyers(db, principal, limit=BUYER_CHOICES)
        if where.buyer_id and where.buyer_id not in {b.id for b in buyer_choices}:
            try:
                buyer_choices = [await buyers.get_buyer(db, principal, where.buyer_id), *buyer_choices]
            except NotFound:
                filter_errors["buyer"] = gettext("Not found.")
        kept = {name: value for name, value in chosen.items() if value}
        partial = web.is_htmx(request) and request.headers.get("hx-target") == "inbox"
        return web.render(
            request,
            "console/_dispute_inbox.html" if partial else "console/disputes.html",
            status_code=status_code,
            rows=rows,
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            chosen=chosen,
            kept=urlencode(kept),
            kept_without_tab=urlencode({k: v for k, v in kept.items() if k != "tab"}),
            filter_errors=filter_errors,
            counts=await disputes.inbox_counts(db, principal),
            tabs=TABS,
            state_groups=STATE_GROUPS,
            state_labels=STATE_LABELS,
            phase_labels=PHASE_LABELS,
            phase_short=PHASE_SHORT,
            reasons=await reason_labels(db),
            reason_choices=await disputes.codes(db, CodeKind.REASON, active_only=False),
            ages=AGES,
            sort_labels=SORT_LABELS,
            buyer_choices=buyer_choices,
            names={m.user_id: m.name for m in team},
            owners=[m for m in team if m.active and m.works_disputes],
            my_tasks=await disputes.my_open_tasks(db, principal),
            approvals=await disputes.pending_approvals(db, principal) if can(principal, Permission.APPROVE_LEDGER) else [],
            can_work=can(principal, Permission.WORK_DISPUTES),
            can_approve=can(principal, Permission.APPROVE_LEDGER),
            assign_error=assign_error,
            assigned=assigned,
            checked=checked or set(),
            me=principal.id,
            today=date.today(),
        )

    @get("/")
    async def index(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        tab: Annotated[str | None, Parameter(max_length=12)] = None,
        state_filter: Annotated[str | None, Parameter(query="state", max_length=24)] = None,
        phase: Annotated[str | None, Parameter(max_length=8)] = None,
        reason: Annotated[str | None, Parameter(max_length=40)] = None,
        buyer: Annotated[str | None, Parameter(max_length=40)] = None,
        age: Annotated[str | None, Parameter(max_length=4)] = None,
        min_amount: Annotated[str | None, Parameter(query="min", max_length=24)] = None,
        max_amount: Annotated[str | None, Parameter(query="max", max_length=24)] = None,
        q: Annotated[str | None, Parameter(max_length=100)] = None,
        sort: Annotated[str | None, Parameter(max_length=10)] = None,
        page: Annotated[int, Parameter(ge=1)] = 1,
        assigned: Annotated[int | None, Parameter(ge=0)] = None,
    ) -> Response:
        raw = {
            "tab": tab,
            "state": state_filter,
            "phase": phase,
            "reason": reason,
            "buyer": buyer,
            "age": age,
            "min": min_amount,
            "max": max_amount,
            "q": q,
            "sort": sort,
        }
        chosen = {name: (value or "").strip() for name, value in raw.items()}
        if chosen["tab"] not in TABS:
            # Someone who works disputes starts with their own cases; everyone else sees the team's.
            chosen["tab"] = "mine" if can(principal, Permission.WORK_DISPUTES) else "team"
        return await self._inbox(request, db, principal, chosen, page, assigned=assigned)

    @post("/assign")
    async def bulk_assign(self, request: Request, db: AsyncSession, principal: Principal) -> Response:
        require(principal, Permission.WORK_DISPUTES)
        form = await request.form()
        chosen = {name: (form.get(f"keep_{name}") or "").strip() for name in FILTERS}
        if chosen["tab"] not in TABS:
            chosen["tab"] = "team"
        page = int(form.get("keep_page") or 1) if str(form.get("keep_page") or "1").isdigit() else 1
        case_ids = [case_id for case_id in (_uuid(raw) for raw in form.getall("case_id", [])) if case_id]
        raw_owner = (form.get("owner_user_id") or "").strip()
        owner = _uuid(raw_owner) if raw_owner not in ("", "unassigned") else None
        try:
            if raw_owner == "":
                raise ValidationFailed(_("Choose who the cases go to."), field="owner_user_id")
            if raw_owner != "unassigned" and owner is None:
                raise ValidationFailed(_("That person is not an active member of your team."), field="owner_user_id")
            assigned = await disputes.bulk_assign(db, principal, case_ids, owner)
        except (ValidationFailed, Conflict) as error:
            await db.rollback()
            return await self._inbox(
                request,
                db,
                principal,
                chosen,
                page,
                status_code=error.status_code,
                assign_error=message_of(error),
                checked={str(c) for c in case_ids},
            )
        kept = {name: value for name, value in chosen.items() if value}
        return web.redirect(request, "/console/disputes?" + urlencode({**kept, "page": page, "assigned": len(assigned)}))

    # --- registering a case ------------------------------------------------------------------

    async def _new_case_form(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        *,
        form: dict[str, str],
        picked: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        _count, buyer_choices = await buyers.list_buyers(db, principal, limit=BUYER_CHOICES)
        buyer_id = _uuid(form.get("buyer_id"))
        buyer = None
        if buyer_id is not None:
            try:
                buyer = await buyers.get_buyer(db, principal, buyer_id)
            except NotFound:
                buyer = None
        if buyer is not None and buyer.id not in {b.id for b in buyer_choices}:
            buyer_choices = [buyer, *buyer_choices]
        team = await team_of(db, principal)
        return web.render(
            request,
            "console/dispute_new.html",
            status_code=status_code,
            form=form,
            picked=picked or {},
            errors=errors or {},
            buyer=buyer,
            buyer_choices=buyer_choices,
            invoices=await disputes.disputable_invoices(db, principal, buyer.id) if buyer else [],
            reasons=await disputes.codes(db, CodeKind.REASON),
            language=current_language.get(),
            # Card chargebacks open their cases from Stripe's events, never by hand.
            channels={channel: label for channel, label in CHANNEL_LABELS.items() if channel is not Channel.CARD},
            owners=[m for m in team if m.active and m.works_disputes],
            evidence_limit_mb=EVIDENCE_LIMIT_MB,
            max_files=MAX_EVIDENCE_FILES,
            evidence_accept=EVIDENCE_ACCEPT,
            # An amount as it is typed: 1099.70, never 1099.7000 as the ledger keeps it.
            typed_amount=lambda amount, currency: format(round_money(amount, currency), "f"),
        )

    @get("/new")
    async def new_case(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        buyer_id: Annotated[uuid.UUID | None, Parameter(query="buyer_id")] = None,
        invoice_id: Annotated[uuid.UUID | None, Parameter(query="invoice_id")] = None,
    ) -> Response:
        require(principal, Permission.WORK_DISPUTES)
        form = {"channel": Channel.EMAIL.value, "opened_on": date.today().isoformat()}
        picked: dict[str, str] = {}
        if invoice_id is not None:
            invoice = await ledger.get_invoice(db, principal, invoice_id)  # another supplier's invoice: 404
            form["buyer_id"] = str(invoice.buyer_id)
            picked[f"whole.{invoice.id}"] = "1"
        elif buyer_id is not None:
            form["buyer_id"] = str((await buyers.get_buyer(db, principal, buyer_id)).id)  # another supplier's: 404
        return await self._new_case_form(request, db, principal, form=form, picked=picked)

    @post("/new", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def register(
        self, request: Request, db: AsyncSession, principal: Principal, data: Annotated[dict, Multipart]
    ) -> Response:
        require(principal, Permission.WORK_DISPUTES)
        form = {name: data.get(name).strip() if isinstance(data.get(name), str) else "" for name in CASE_FIELDS}
        # What was ticked and typed in the invoice table, to show again after a refusal.
        picked = {
            key: value.strip()
            for key, value in data.items()
            if isinstance(value, str) and key.startswith(("whole.", "line.", "amount."))
        }
        errors: dict[str, str] = {}
        buyer_id = _uuid(form["buyer_id"])
        invoices = []
        if buyer_id is None:
            errors["buyer_id"] = gettext("Choose one of your buyers.")
        else:
            try:
                invoices = await disputes.disputable_invoices(db, principal, buyer_id)
            except NotFound:
                errors["buyer_id"] = gettext("Choose one of your buyers.")
        items = _picked_items(invoices, picked, errors)
        opened_on = None
        try:
            opened_on = parse_date(form["opened_on"], "opened_on")
        except ValidationFailed as error:
            errors["opened_on"] = message_of(error)
        owner = _uuid(form["owner_user_id"]) if form["owner_user_id"] else None
        files = _files(data)
        if len(files) > MAX_EVIDENCE_FILES:
            errors["file"] = gettext("Attach at most %(count)s files at once.") % {"count": MAX_EVIDENCE_FILES}
        if buyer_id and not items and not any(key.startswith(("items", "amount.")) for key in errors):
            errors["items"] = gettext("Choose at least one invoice or invoice line to dispute.")
        if not errors:
            try:
                case = await disputes.register_case(
                    db,
                    principal,
                    disputes.NewCase(
                        buyer_id=buyer_id,
                        reason_code=form["reason_code"],
                        description=form["description"],
                        channel=form["channel"],
                        items=items,
                        opened_on=opened_on,
                        owner_user_id=owner,
                    ),
                )
                await store_evidence(db, principal, case.id, files)
            except (ValidationFailed, Conflict, uploads.FileTooLarge) as error:
                await roll_back(db, principal)
                errors[error.field or "form"] = message_of(error)
            else:
                return web.redirect(request, f"/console/disputes/{case.id}")
        # A refused service check is named beside its field; nothing of the case was kept.
        return await self._new_case_form(request, db, principal, form=form, picked=picked, errors=errors, status_code=422)


def _picked_items(
    invoices: list[disputes.DisputableInvoice], picked: dict[str, str], errors: dict[str, str]
) -> list[disputes.ItemInput]:
    """The ticked invoices and lines with their amounts (empty: everything still open on it)."""
    items = []
    for entry in invoices:
        invoice = entry.invoice
        choices = [(f"whole.{invoice.id}", f"amount.{invoice.id}", None, entry.room)]
        choices += [(f"line.{line.id}", f"amount.{line.id}", line, room) for line, room in entry.lines]
        for ticked, amount_key, line, room in choices:
            if not picked.get(ticked):
                continue
            raw = picked.get(amount_key, "")
            amount = parse_decimal(raw) if raw else None
            if raw and amount is None:
                errors[amount_key] = gettext("Enter an amount, such as 1250.00.")
                continue
            if amount is not None and amount <= 0:
                errors[amount_key] = gettext("The amount must be above zero.")
                continue
            if amount is not None and amount > room:
                errors[amount_key] = gettext("At most %(limit)s is open and not yet disputed here.") % {
                    "limit": web.money(room, invoice.currency)
                }
                continue
            items.append(disputes.ItemInput(invoice.id, line.id if line else None, amount))
    return items
