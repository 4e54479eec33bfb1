"""Console › Disputes › a case: everything about it on one page, and every form that works it.

Each form posts to its own address. Without JavaScript the answer is a redirect back to the case
(at the form's section); with htmx the case page is rendered in place. A refusal re-renders the page
with the message beside the form that caused it: 422 for what was typed, 409 when the case moved
on meanwhile (someone else's change, or a move the state machine does not draw).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.response import Response, Stream
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, can
from backend.auth.principal import Principal
from backend.disputes import service as disputes
from backend.disputes import timers
from backend.disputes.codes import ANSWERS, CHECKLIST, TEAMS
from backend.disputes.models import (
    ACTIVE_STATES,
    APPROVAL_LABELS,
    CHANNEL_LABELS,
    MONEY_OPTIONS,
    OPTION_LABELS,
    OUTCOME_LABELS,
    PHASE_LABELS,
    PROPOSAL_LABELS,
    STATE_LABELS,
    TASK_LABELS,
    CodeKind,
    DisputeState,
    Outcome,
    ProposalStatus,
)
from backend.errors import Conflict, DomainError, NotFound, ValidationFailed
from backend.files import uploads
from backend.i18n import _, current_language, gettext
from backend.invoices.api import proof_file_stream
from portal import web
from portal.console import card_disputes, dispute_forms
from portal.console.disputes import (
    EVIDENCE_ACCEPT,
    EVIDENCE_LIMIT_MB,
    MAX_EVIDENCE_FILES,
    PHASE_SHORT,
    UPLOAD_BODY_LIMIT,
    Form,
    Multipart,
    _files,
    message_of,
    reason_labels,
    roll_back,
    root_cause_labels,
    store_evidence,
    team_of,
)
from portal.console.invoices import parse_date

FORM_ERRORS = (ValidationFailed, Conflict)
UPLOAD_ERRORS = (ValidationFailed, Conflict, uploads.FileTooLarge)
TASK_DAYS = 3  # a new task's due date, unless changed

# The buttons of the moves a person may make, worded as what they do.
MOVE_LABELS = {
    DisputeState.ACKNOWLEDGED: _("Acknowledge"),
    DisputeState.UNDER_REVIEW: _("Review"),
    DisputeState.NEGOTIATING: _("Negotiate"),
    DisputeState.REJECTED: _("Reject the dispute"),
    DisputeState.WITHDRAWN: _("Withdrawn by the buyer"),
    DisputeState.ESCALATED_LEGAL: _("Escalate to legal"),
    DisputeState.ESCALATED_CLAIM: _("Escalate to a claim"),
}
REOPEN_LABEL = _("Reopen for review")

EVENT_LABELS = {
    "registered": _("Registered"),
    "assigned": _("Owner changed"),
    "acknowledged": _("Acknowledged"),
    "state_changed": _("State changed"),
    "reopened": _("Reopened"),
    "rejected": _("Dispute rejected"),
    "withdrawn": _("Withdrawn"),
    "phase_changed": _("Phase changed"),
    "evidence_added": _("Evidence added"),
    "buyer_evidence_added": _("Evidence from the buyer"),
    "note": _("Internal note"),
    "message": _("Message to the buyer"),
    "checklist_answered": _("Checklist answered"),
    "task_created": _("Task created"),
    "task_answered": _("Task answered"),
    "task_cancelled": _("Task cancelled"),
    "proposal_offered": _("Proposal offered"),
    "proposal_answered": _("Proposal answered"),
    "proposal_withdrawn": _("Proposal withdrawn"),
    "approval_requested": _("Approval asked for"),
    "approval_approved": _("Approved"),
    "approval_refused": _("Approval refused"),
    "approval_withdrawn": _("Approval withdrawn: the agreement fell through"),
    "resolved": _("Resolved"),
    "closed_settled": _("Closed: paid or credited in full"),
    **card_disputes.EVENT_LABELS,
    # The buyer's card payments (backend.payments.service).
    "payment_received": _("Card payment received"),
    "payment_refunded": _("Card payment refunded"),
    "instalment_paid": _("Instalment paid"),
    # Steps of the case's timers (backend.disputes.timers), taken by the escalation job.
    "timer_reminder": _("Deadline reminder to the owner"),
    "service_level_breached": _("Service level missed"),
    "escalated": _("Escalated"),
    "buyer_reminded": _("Buyer reminded"),
    "escalation_proposed": _("Escalation proposed"),
    "deadline_near": _("Hard deadline coming"),
    "instalment_reminded": _("Instalment reminder to the buyer"),
    "instalment_missed": _("Instalment missed"),
    "plan_broken": _("Instalment plan broken"),
}
RESPONSE_LABELS = {"accept": _("Accepted"), "counter": _("Countered"), "decline": _("Declined")}
ENTRY_LABELS = {"credit_note": _("Credit note"), "write_off": _("Write-off"), "adjustment": _("Adjustment")}


@dataclass
class TimelineStep:
    at: datetime
    actor: str
    label: str
    detail: str
    external: bool


def _timeline(details: disputes.CaseDetails, names: dict[uuid.UUID, str], reasons: dict, causes: dict) -> list[TimelineStep]:
    """Each event in words: what happened and the one detail that matters, newest first."""
    currency = details.case.currency
    steps = []
    for event in details.events:
        data: dict[str, Any] = event.data or {}
        detail = ""
        if event.kind == "registered":
            detail = web.money(data.get("amount"), currency)
        elif event.kind in ("payment_received", "payment_refunded"):
            detail = f"{web.money(data.get('amount'), currency)} · {data.get('document_number', '')}"
        elif event.kind == "assigned":
            owner = _uuid(data.get("owner_user_id"))
            detail = names.get(owner, "") if owner else gettext("Unassigned")
        elif event.kind in ("state_changed", "reopened", "acknowledged", "approval_withdrawn") and data.get("state"):
            detail = gettext(STATE_LABELS.get(DisputeState(data["state"]), data["state"]))
        elif event.kind in ("rejected", "withdrawn"):
            detail = data.get("note") or ""
        elif event.kind == "phase_changed":
            detail = gettext(PHASE_LABELS.get(data.get("phase"), data.get("phase") or ""))
        elif event.kind == "evidence_added":
            detail = data.get("filename", "")
        elif event.kind == "buyer_evidence_added":
            detail = ", ".join(f.get("filename", "") for f in data.get("files") or [])
        elif event.kind == "checklist_answered":
            detail = f"{gettext(CHECKLIST.get(data.get('item'), ''))} {gettext(ANSWERS.get(data.get('answer'), ''))}"
        elif event.kind == "task_created":
            assignee = names.get(_uuid(data.get("assignee_user_id")), "")
            detail = f"{assignee} · {gettext(TEAMS.get(data.get('team'), ''))}"
        elif event.kind == "task_answered":
            detail = data.get("answer") or ""
        elif event.kind == "proposal_offered":
            detail = ", ".join(
                gettext(OPTION_LABELS.get(option.get("kind"), option.get("kind")))
                + (f" {web.money(option['amount'], currency)}" if option.get("kind") in MONEY_OPTIONS else "")
                for option in data.get("options", [])
            )
        elif event.kind == "proposal_answered":
            detail = f"{gettext(RESPONSE_LABELS.get(data.get('response'), ''))} · {data.get('by', '')}"
        elif event.kind == "approval_requested":
            detail = gettext("Credit %(credit)s, write-off %(write_off)s") % {
                "credit": web.money(data.get("credit"), currency),
                "write_off": web.money(data.get("write_off"), currency),
            }
        elif event.kind == "approval_refused":
            detail = data.get("note") or ""
        elif event.kind == "resolved":
            outcome = data.get("outcome")
            detail = gettext(OUTCOME_LABELS.get(Outcome(outcome), outcome)) if outcome else ""
            if data.get("root_cause_code"):
                detail += " · " + causes.get(data["root_cause_code"], data["root_cause_code"])
        elif event.kind in ("timer_reminder", "service_level_breached") and data.get("timer"):
            detail = gettext(timers.TIMER_LABELS.get(data["timer"], data["timer"]))
        elif event.kind == "escalated" and data.get("level") in timers.LEVEL_LABELS:
            detail = gettext("Level %(level)s: %(who)s") % {
                "level": data["level"],
                "who": gettext(timers.LEVEL_LABELS[data["level"]]),
            }
        elif event.kind == "escalation_proposed" and data.get("route") in timers.ROUTE_LABELS:
            detail = gettext(timers.ROUTE_LABELS[data["route"]])
        elif event.kind in ("instalment_reminded", "instalment_missed"):
            detail = gettext("Instalment %(seq)s") % {"seq": data.get("seq", "")}
        elif event.kind == "closed_settled":
            detail = gettext("Collected %(amount)s") % {"amount": web.money(data.get("collected"), currency)}
        elif event.kind in card_disputes.EVENT_LABELS:
            detail = card_disputes.event_detail(event.kind, data, currency)
        label = gettext(EVENT_LABELS[event.kind]) if event.kind in EVENT_LABELS else event.kind.replace("_", " ")
        if event.kind == "message" and data.get("answer_to"):
            label = gettext("The buyer's answer to a question")
        elif event.kind == "message" and data.get("from_buyer"):
            label = gettext("Message from the buyer")
        elif event.kind == "message" and data.get("question"):
            label = gettext("Question to the buyer")
        steps.append(TimelineStep(event.at, event.actor, label, detail, event.external))
    return list(reversed(steps))


def _uuid(raw: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except (TypeError, ValueError):
        return None


def _version(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() else None


def _ledger_entries(details: disputes.CaseDetails) -> list[dict]:
    """What the resolution wrote to the ledger, as recorded on its timeline step."""
    for event in reversed(details.events):
        if event.kind == "resolved":
            return list((event.data or {}).get("entries") or [])
    return []


async def case_page(
    request: Request,
    db: AsyncSession,
    principal: Principal,
    case_id: uuid.UUID,
    *,
    status_code: int = 200,
    errors: dict[str, dict[str, str]] | None = None,
    typed: dict[str, dict] | None = None,
    proposal_rows: list[dict] | None = None,
) -> Response:
    details = await disputes.case_details(db, principal, case_id)
    case = details.case
    team = await team_of(db, principal)
    names = {m.user_id: m.name for m in team} | details.names
    reasons = await reason_labels(db)
    causes = await root_cause_labels(db)
    settings = await disputes.dispute_settings(db)
    pending = details.pending_approval
    approvals_on_file = [a for a in details.approvals if a.status.value != "pending"]
    offered = [p for p, _options in details.proposals if p.status is ProposalStatus.OFFERED]
    errors = errors or {}
    return web.render(
        request,
        "console/dispute.html",
        status_code=status_code,
        details=details,
        case=case,
        buyer=details.buyer,
        profile=await disputes.buyer_profile(db, principal, case.buyer_id),
        similar=await disputes.similar_cases(db, principal, case.id),
        card=await card_disputes.card_context(db, principal, case.id),
        timeline=_timeline(details, names, reasons, causes),
        ledger_entries=_ledger_entries(details),
        names=names,
        owners=[m for m in team if m.active and m.works_disputes],
        assignees=[m for m in team if m.active and m.answers_tasks],
        reasons=reasons,
        root_causes=await disputes.codes(db, CodeKind.ROOT_CAUSE),
        language=current_language.get(),
        causes=causes,
        threshold=disputes.approval_threshold(settings, case.currency),
        pending=pending,
        approvals_on_file=approvals_on_file,
        offered_ids={p.id for p in offered},
        is_active=case.state in ACTIVE_STATES,
        may_propose=case.state
        in (DisputeState.OPEN, DisputeState.ACKNOWLEDGED, DisputeState.UNDER_REVIEW, DisputeState.NEGOTIATING),
        moves=details.moves,
        move_labels=MOVE_LABELS,
        reopen_label=REOPEN_LABEL,
        state_labels=STATE_LABELS,
        phase_labels=PHASE_LABELS,
        timer_labels=timers.TIMER_LABELS,
        next_step=next(iter(await timers.upcoming_steps(db, case)), None),
        level_labels=timers.LEVEL_LABELS,
        route_labels=timers.ROUTE_LABELS,
        phase_short=PHASE_SHORT,
        channel_labels=CHANNEL_LABELS,
        outcome_labels=OUTCOME_LABELS,
        suggested_outcome=disputes.suggested_outcome(details).value,
        option_labels=OPTION_LABELS,
        money_options=MONEY_OPTIONS,
        proposal_labels=PROPOSAL_LABELS,
        task_labels=TASK_LABELS,
        approval_labels=APPROVAL_LABELS,
        entry_labels=ENTRY_LABELS,
        checklist=CHECKLIST,
        answers=ANSWERS,
        teams=TEAMS,
        can_work=can(principal, Permission.WORK_DISPUTES),
        can_contribute=can(principal, Permission.CONTRIBUTE_DISPUTES),
        can_approve=can(principal, Permission.APPROVE_LEDGER),
        is_requester=bool(pending and pending.requested_by_user_id == principal.id),
        me=principal.id,
        errors=errors,
        first_error=next((section for section in errors), None),
        typed=typed or {},
        proposal_rows=proposal_rows or dispute_forms.empty_options(),
        max_options=dispute_forms.MAX_OPTIONS,
        evidence_limit_mb=EVIDENCE_LIMIT_MB,
        max_files=MAX_EVIDENCE_FILES,
        evidence_accept=EVIDENCE_ACCEPT,
        task_due=(date.today() + timedelta(days=TASK_DAYS)).isoformat(),
        as_date=date.fromisoformat,  # instalment schedules keep their dates as ISO text
        today=date.today(),
    )


class DisputeCaseController(Controller):
    path = "/console/disputes/{case_id:uuid}"
    include_in_schema = False

    async def _done(self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID, section: str):
        if web.is_htmx(request):
            return await case_page(request, db, principal, case_id)
        return web.redirect(request, f"/console/disputes/{case_id}#{section}")

    async def _refused(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        case_id: uuid.UUID,
        section: str,
        error: DomainError,
        *,
        typed: dict | None = None,
        field_name: str | None = None,
        **extra,
    ) -> Response:
        # Nothing of the refused change is kept; the page shows the case as it now is.
        await roll_back(db, principal)
        return await case_page(
            request,
            db,
            principal,
            case_id,
            status_code=error.status_code,
            errors={section: {field_name or error.field or "form": message_of(error), "_status": str(error.status_code)}},
            typed={section: typed or {}},
            **extra,
        )

    @get("/")
    async def show(self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> Response:
        return await case_page(request, db, principal, case_id)

    @get("/files/{file_id:uuid}")
    async def file(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID, file_id: uuid.UUID) -> Stream:
        stored, content = await disputes.case_file(db, principal, case_id, file_id)
        stream = proof_file_stream(stored, content)
        if stored.content_type in uploads.PREVIEWABLE:
            # Previewed inside the case page (an <img> or <iframe> of this site), never framed by another;
            # object-src lets the browser's own PDF viewer embed the file it is showing.
            stream.headers["Content-Security-Policy"] = (
                "default-src 'none'; img-src 'self'; object-src 'self'; frame-ancestors 'self'"
            )
            stream.headers["X-Frame-Options"] = "SAMEORIGIN"
        return stream

    # --- state, owner, phase ------------------------------------------------------------------

    @post("/move")
    async def move(
        self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        target = (data.get("state") or "").strip()
        section = "reject" if target == DisputeState.REJECTED.value else "actions"
        try:
            await disputes.move_case(
                db,
                principal,
                case_id,
                target,
                note=data.get("note"),
                root_cause_code=data.get("root_cause_code"),
                version=_version(data.get("version")),
            )
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, case_id, section, error, typed=data)
        return await self._done(request, db, principal, case_id, "actions")

    @post("/owner")
    async def owner(
        self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        raw = (data.get("owner_user_id") or "").strip()
        try:
            owner = _uuid(raw) if raw else None
            if raw and owner is None:
                raise ValidationFailed(_("That person is not an active member of your team."), field="owner_user_id")
            await disputes.assign_case(db, principal, case_id, owner, version=_version(data.get("version")))
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, case_id, "owner", error, typed=data)
        return await self._done(request, db, principal, case_id, "actions")

    @post("/phase")
    async def phase(
        self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        try:
            await disputes.set_phase(
                db, principal, case_id, (data.get("phase") or "").strip(), version=_version(data.get("version"))
            )
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, case_id, "phase", error, typed=data)
        return await self._done(request, db, principal, case_id, "actions")

    # --- evidence and the thread ----------------------------------------------------------------

    @post("/evidence", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def evidence(
        self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: Annotated[dict, Multipart]
    ) -> Response:
        files = _files(data)
        try:
            if not files:
                raise ValidationFailed(_("Choose one or more files."), field="file")
            await store_evidence(db, principal, case_id, files)
        except UPLOAD_ERRORS as error:
            return await self._refused(request, db, principal, case_id, "evidence", error, field_name="file")
        return await self._done(request, db, principal, case_id, "evidence")

    @post("/messages", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def message(
        self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: Annotated[dict, Multipart]
    ) -> Response:
        body = data.get("body") if isinstance(data.get("body"), str) else ""
        # An internal note unless the writer chose the buyer: a slip then stays inside the team.
        internal = data.get("audience") != "buyer"
        question = data.get("question") == "1"
        files = _files(data)
        try:
            if len(files) > MAX_EVIDENCE_FILES:
                raise ValidationFailed(
                    _("Attach at most %(count)s files at once."), field="file", params={"count": MAX_EVIDENCE_FILES}
                )
            await disputes.post_message(
                db,
                principal,
                case_id,
                body=body,
                internal=internal,
                question=question,
                attachments=[disputes.Attachment(upload.filename, upload.file) for upload in files],
            )
        except UPLOAD_ERRORS as error:
            return await self._refused(
                request,
                db,
                principal,
                case_id,
                "thread",
                error,
                typed={"body": body, "audience": "note" if internal else "buyer", "question": "1" if question else ""},
            )
        return await self._done(request, db, principal, case_id, "thread")

    # --- evaluation: checklist and tasks ----------------------------------------------------------

    @post("/checklist")
    async def checklist(
        self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        details = await disputes.case_details(db, principal, case_id)
        try:
            for item in CHECKLIST:
                answer = (data.get(f"{item}.answer") or "").strip()
                note = (data.get(f"{item}.note") or "").strip()
                before = details.checklist.get(item)
                if not answer or (before and before.answer == answer and (before.note or "") == note):
                    continue
                try:
                    await disputes.answer_checklist(db, principal, case_id, item, answer, note or None)
                except ValidationFailed as error:
                    raise ValidationFailed(error.message, field=f"{item}.{error.field}", params=error.params) from error
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, case_id, "checklist", error, typed=data)
        return await self._done(request, db, principal, case_id, "checklist")

    @post("/tasks")
    async def create_task(
        self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        try:
            assignee = _uuid(data.get("assignee_user_id"))
            if assignee is None:
                raise ValidationFailed(_("Choose who answers."), field="assignee_user_id")
            due_on = parse_date(data.get("due_on"), "due_on")
            if due_on is None:
                raise ValidationFailed(_("Enter the due date."), field="due_on")
            await disputes.create_task(
                db,
                principal,
                case_id,
                disputes.NewTask(
                    assignee_user_id=assignee,
                    team=(data.get("team") or "").strip(),
                    question=data.get("question") or "",
                    due_on=due_on,
                ),
            )
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, case_id, "tasks", error, typed=data)
        return await self._done(request, db, principal, case_id, "tasks")

    async def _task_of_case(self, db: AsyncSession, principal: Principal, case_id: uuid.UUID, task_id: uuid.UUID):
        details = await disputes.case_details(db, principal, case_id)
        if task_id not in {task.id for task in details.tasks}:
            raise NotFound(_("Not found."))

    @post("/tasks/{task_id:uuid}/answer")
    async def answer_task(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        case_id: uuid.UUID,
        task_id: uuid.UUID,
        data: Annotated[dict[str, str], Form],
    ) -> Response:
        await self._task_of_case(db, principal, case_id, task_id)
        try:
            await disputes.answer_task(db, principal, task_id, data.get("answer") or "", version=_version(data.get("version")))
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, case_id, f"task-{task_id}", error, typed=data)
        return await self._done(request, db, principal, case_id, f"task-{task_id}")

    @post("/tasks/{task_id:uuid}/cancel")
    async def cancel_task(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        case_id: uuid.UUID,
        task_id: uuid.UUID,
        data: Annotated[dict[str, str], Form],
    ) -> Response:
        await self._task_of_case(db, principal, case_id, task_id)
        try:
            await disputes.cancel_task(db, principal, task_id, version=_version(data.get("version")))
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, case_id, f"task-{task_id}", error)
        return await self._done(request, db, principal, case_id, "tasks")

    # --- negotiation ---------------------------------------------------------------------------------

    @post("/proposals")
    async def propose(
        self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        add_instalment = data.get("add_instalment")
        form = dispute_forms.read_proposal(
            data,
            add_option=bool(data.get("add_option")),
            add_instalment=int(add_instalment) if (add_instalment or "").isdigit() else None,
        )
        typed = {"message": data.get("message") or ""}
        if data.get("add_option") or add_instalment is not None:
            return await case_page(request, db, principal, case_id, typed={"proposal": typed}, proposal_rows=form.rows)
        try:
            if form.errors:
                field_name, message = next(iter(form.errors.items()))
                raise ValidationFailed(message, field=field_name)
            if not form.options:
                raise ValidationFailed(_("Choose what to offer in at least one option."), field="options")
            try:
                await disputes.create_proposal(
                    db, principal, case_id, form.options, message=data.get("message"), version=_version(data.get("version"))
                )
            except ValidationFailed as error:
                raise ValidationFailed(error.message, field=form.screen_field(error.field), params=error.params) from error
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, case_id, "proposal", error, typed=typed, proposal_rows=form.rows)
        return await self._done(request, db, principal, case_id, "proposals")

    @post("/proposals/{proposal_id:uuid}/answer")
    async def answer_proposal(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        case_id: uuid.UUID,
        proposal_id: uuid.UUID,
        data: Annotated[dict[str, str], Form],
    ) -> Response:
        details = await disputes.case_details(db, principal, case_id)
        if proposal_id not in {proposal.id for proposal, _options in details.proposals}:
            raise NotFound(_("Not found."))
        choice = (data.get("choice") or "").strip()
        response, _sep, option = choice.partition(":")
        section = f"answer-{proposal_id}"
        try:
            if response not in disputes.RESPONSES:
                raise ValidationFailed(_("Choose the buyer's answer."), field="choice")
            await disputes.respond_to_proposal(
                db,
                principal,
                proposal_id,
                response,
                option_id=_uuid(option) if option else None,
                note=data.get("note"),
                counter_amount=data.get("counter_amount"),
                on_behalf_of=data.get("on_behalf_of"),
                version=_version(data.get("version")),
            )
        except FORM_ERRORS as error:
            field_name = "choice" if error.field == "option_id" else None
            return await self._refused(request, db, principal, case_id, section, error, typed=data, field_name=field_name)
        return await self._done(request, db, principal, case_id, "proposals")

    # --- resolution and the second pair of eyes ----------------------------------------------------------

    @post("/resolve")
    async def resolve(
        self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        try:
            await disputes.resolve_case(
                db,
                principal,
                case_id,
                disputes.Resolution(
                    outcome=(data.get("outcome") or "").strip(),
                    root_cause_code=(data.get("root_cause_code") or "").strip(),
                    note=data.get("note"),
                ),
                version=_version(data.get("version")),
            )
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, case_id, "resolution", error, typed=data)
        return await self._done(request, db, principal, case_id, "resolution")

    @post("/approvals/{approval_id:uuid}")
    async def decide(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        case_id: uuid.UUID,
        approval_id: uuid.UUID,
        data: Annotated[dict[str, str], Form],
    ) -> Response:
        details = await disputes.case_details(db, principal, case_id)
        if approval_id not in {approval.id for approval in details.approvals}:
            raise NotFound(_("Not found."))
        decision = (data.get("decision") or "").strip()
        try:
            if decision not in ("approve", "refuse"):
                raise ValidationFailed(_("Approve or refuse."), field="decision")
            await disputes.decide_approval(
                db,
                principal,
                approval_id,
                approve=decision == "approve",
                note=data.get("note"),
                version=_version(data.get("version")),
            )
        except FORM_ERRORS as error:
            return await self._refused(request, db, principal, case_id, "approval", error, typed=data)
        return await self._done(request, db, principal, case_id, "resolution")
