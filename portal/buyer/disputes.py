"""The buyer's disputes: raise one on invoices or lines with evidence, follow it, answer, agree.

Every form is a plain POST answered with a 303 back to the page (at the form's section); sent by htmx
or by portal.js (which shows the upload's progress), the answer is the page's part that changed.
A refusal shows the page again with the message beside the field (422; 413 for a file too large;
409 when the case moved on meanwhile), with what was typed kept, and nothing of it stored.
Every read and change goes through `backend.disputes.portal`, scoped to the contact's own buyer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Response, Stream
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.disputes import portal as disputes
from backend.disputes.models import (
    ACTIVE_STATES,
    MONEY_OPTIONS,
    OPTION_LABELS,
    PROPOSAL_LABELS,
    STATE_LABELS,
    DisputePhase,
    DisputeState,
)
from backend.disputes.service import Attachment, DisputableInvoice, ItemInput
from backend.errors import Conflict, DomainError, ValidationFailed
from backend.files import uploads
from backend.i18n import _, current_language, gettext
from backend.invoices.api import proof_file_stream
from backend.money import parse_decimal, round_money
from backend.payments import portal as payments
from backend.tenants.service import Branding
from portal import web
from portal.buyer.common import render
from portal.buyer.payments import with_pay_buttons

Multipart = Body(media_type=RequestEncodingType.MULTI_PART)
# The raise form sends an amount for every open invoice and line it lists (up to 200 invoices, each with its lines).
RaiseForm = Body(media_type=RequestEncodingType.MULTI_PART, multipart_form_part_limit=20_000)
Form = Body(media_type=RequestEncodingType.URL_ENCODED)
FORM_ERRORS = (ValidationFailed, Conflict, uploads.FileTooLarge)
FILE_ACCEPT = ".pdf,.png,.jpg,.jpeg,.webp,.tif,.tiff,application/pdf,image/png,image/jpeg,image/webp,image/tiff"
# Every file of one form at its limit, and the form around them.
UPLOAD_BODY_LIMIT = disputes.MAX_FILES * uploads.MAX_UPLOAD_BYTES + 1024 * 1024
ITEM_KEYS = ("whole.", "line.", "amount.")

# Where a case stands, in the buyer's words.
STATE_EXPLAINED = {
    DisputeState.OPEN: _("%(supplier)s has your dispute and will look into it shortly."),
    DisputeState.ACKNOWLEDGED: _("%(supplier)s has confirmed your dispute and is looking into it."),
    DisputeState.UNDER_REVIEW: _(
        "%(supplier)s is checking the facts: the order, the delivery and the contract. It may ask you questions here."
    ),
    DisputeState.NEGOTIATING: _("%(supplier)s and you are working out how to settle the dispute."),
    DisputeState.AGREED: _("You agreed on how to settle the dispute; %(supplier)s is carrying it out."),
    DisputeState.RESOLVED: _("The dispute is settled."),
    DisputeState.REJECTED: _("%(supplier)s did not accept the dispute: the amount stands. Its reasons are below."),
    DisputeState.WITHDRAWN: _("The dispute was withdrawn."),
    DisputeState.ESCALATED_LEGAL: _("No agreement was reached; %(supplier)s has passed the matter to its legal department."),
    DisputeState.ESCALATED_CLAIM: _("No agreement was reached; %(supplier)s has passed the matter to its credit insurer."),
}
PHASE_EXPLAINED = {
    DisputePhase.EARLY: _("First step: understanding what went wrong."),
    DisputePhase.MIDDLE: _("Second step: finding a solution you both accept."),
    DisputePhase.LATE: _("Last step: carrying out what was agreed."),
}
EVENT_LABELS = {
    "registered": _("Dispute raised"),
    "acknowledged": _("Dispute confirmed by the supplier"),
    "message": _("Message"),
    "buyer_evidence_added": _("Evidence added"),
    "proposal_offered": _("Proposal made"),
    "proposal_answered": _("Proposal answered"),
    "proposal_withdrawn": _("Proposal withdrawn"),
    "resolved": _("Settled as agreed"),
    "closed_settled": _("Closed: paid or credited in full"),
    "withdrawn": _("Withdrawn"),
    "rejected": _("Dispute not accepted"),
    "payment_received": _("Your card payment received"),
    "payment_refunded": _("Your card payment refunded"),
    "instalment_paid": _("Instalment paid"),
}
RESPONSE_LABELS = {"accept": _("Accepted"), "counter": _("Counter-proposal"), "decline": _("Declined")}
ENTRY_LABELS = {"credit_note": _("Credit note"), "write_off": _("Write-off"), "adjustment": _("Invoice corrected")}


@dataclass
class Step:
    at: datetime
    actor: str
    label: str
    detail: str


def _timeline(view, currency: str) -> list[Step]:
    """The steps the buyer may see (external ones only), newest first, each with the detail that matters."""
    steps = []
    for event in view.events:
        data: dict[str, Any] = event.data or {}
        label = gettext(EVENT_LABELS[event.kind]) if event.kind in EVENT_LABELS else event.kind.replace("_", " ")
        detail = ""
        if event.kind in ("registered", "payment_received", "payment_refunded"):
            detail = web.money(data.get("amount"), currency)
        elif event.kind == "message":
            if data.get("question"):
                label = gettext("Question for you")
            elif data.get("answer_to"):
                label = gettext("Answer to a question")
        elif event.kind == "buyer_evidence_added":
            detail = ", ".join(f.get("filename", "") for f in data.get("files") or [])
        elif event.kind == "proposal_offered":
            detail = ", ".join(
                gettext(OPTION_LABELS.get(option.get("kind"), option.get("kind")))
                + (f" {web.money(option['amount'], currency)}" if option.get("kind") in MONEY_OPTIONS else "")
                for option in data.get("options", [])
            )
        elif event.kind == "proposal_answered":
            detail = gettext(RESPONSE_LABELS.get(data.get("response"), ""))
        elif event.kind == "rejected":
            detail = data.get("note") or ""
        steps.append(Step(event.at, event.actor, label, detail))
    return list(reversed(steps))


def _uuid(raw: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw).strip())
    except (TypeError, ValueError):
        return None


def _files(data: dict, name: str = "files") -> list[UploadFile]:
    raw = data.get(name) or []
    return [u for u in (raw if isinstance(raw, list) else [raw]) if isinstance(u, UploadFile) and u.filename]


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _typed_amount(amount: Decimal, currency: str) -> str:
    """An amount as it is typed: 1099.70, never 1099.7000 as the ledger keeps it."""
    return format(round_money(amount, currency), "f")


def _picked_items(invoices: list[DisputableInvoice], picked: dict[str, str], errors: dict[str, str]) -> list[ItemInput]:
    """The ticked invoices and lines with their amounts (empty: everything left to dispute there).

    A ticked id that is not one of the buyer's open invoices or lines is refused, never skipped.
    """
    known: set[str] = set()
    items = []
    for entry in invoices:
        invoice = entry.invoice
        choices = [(f"whole.{invoice.id}", f"amount.{invoice.id}", None, entry.room)]
        choices += [(f"line.{line.id}", f"amount.{line.id}", line, room) for line, room in entry.lines]
        for ticked, amount_key, line, room in choices:
            known.add(ticked)
            if not picked.get(ticked):
                continue
            raw = picked.get(amount_key, "")
            amount = parse_decimal(raw) if raw else None
            if raw and amount is None:
                errors[amount_key] = gettext("Enter an amount, such as 1250.00.")
            elif amount is not None and amount <= 0:
                errors[amount_key] = gettext("The amount must be above zero.")
            elif amount is not None and amount > room:
                errors[amount_key] = gettext("At most %(limit)s is left to dispute here.") % {
                    "limit": web.money(room, invoice.currency)
                }
            else:
                items.append(ItemInput(invoice.id, line.id if line else None, amount))
    unknown = [key for key, value in picked.items() if key.startswith(("whole.", "line.")) and value and key not in known]
    if unknown:
        errors["items"] = gettext("An invoice or line you chose is not one of your open invoices; choose from the list.")
    return items


def _named(picked: dict[str, str]) -> dict[str, list[uuid.UUID]]:
    """The invoices and lines the form names (ticked, or from the address): listed however late they fall due."""
    named: dict[str, list[uuid.UUID]] = {"named_invoices": [], "named_lines": []}
    for key, value in picked.items():
        kind, _dot, raw = key.partition(".")
        if value and kind in ("whole", "line") and (id_ := _uuid(raw)) is not None:
            named["named_invoices" if kind == "whole" else "named_lines"].append(id_)
    return named


def _message_of(error: DomainError) -> str:
    return error.translated(gettext)


async def _roll_back(portal_db: AsyncSession) -> None:
    # Nothing of a refused form is kept: its rows go here, the bytes of its files went in the service.
    await portal_db.rollback()


class PortalDisputesController(Controller):
    path = "/portal/disputes"
    include_in_schema = False

    # --- the list -----------------------------------------------------------------------------------

    @get("/")
    async def index(self, request: Request, contact: Principal, portal_db: AsyncSession, brand: Branding) -> Response:
        rows = await disputes.list_cases(portal_db, contact)
        return render(
            request,
            "buyer/disputes.html",
            brand=brand,
            rows=rows,
            reasons=await self._reason_labels(portal_db, contact),
            state_labels=STATE_LABELS,
            waiting=sum(1 for row in rows if row.waits_for_buyer),
        )

    @staticmethod
    async def _reason_labels(portal_db: AsyncSession, contact: Principal) -> dict[str, str]:
        # Retired reasons too: older cases still carry them.
        language = current_language.get()
        return {code.code: code.label(language) for code in await disputes.reasons(portal_db, contact, active_only=False)}

    # --- raising a dispute ----------------------------------------------------------------------------

    async def _new_form(
        self,
        request: Request,
        portal_db: AsyncSession,
        contact: Principal,
        brand: Branding,
        *,
        form: dict[str, str],
        picked: dict[str, str],
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        choice = await disputes.disputable_invoices(portal_db, contact, **_named(picked))
        invoices = choice.invoices
        # The invoices the buyer came with (from an invoice or the statement) come first.
        chosen = {key.split(".", 1)[1] for key, value in picked.items() if key.startswith("whole.") and value}
        chosen |= {str(entry.invoice.id) for entry in invoices for line, _room in entry.lines if picked.get(f"line.{line.id}")}
        invoices.sort(key=lambda entry: str(entry.invoice.id) not in chosen)
        partial = web.is_htmx(request)
        return render(
            request,
            "buyer/_dispute_new_form.html" if partial else "buyer/dispute_new.html",
            brand=brand,
            status_code=status_code,
            form=form,
            picked=picked,
            errors=errors or {},
            invoices=invoices,
            chosen=chosen,
            list_cut=choice.cut,
            listed=disputes.OPEN_INVOICES_LISTED,
            reasons=await disputes.reasons(portal_db, contact),
            language=current_language.get(),
            max_files=disputes.MAX_FILES,
            file_limit_mb=disputes.MAX_FILE_MB,
            file_accept=FILE_ACCEPT,
            typed_amount=_typed_amount,
        )

    @get("/new")
    async def new(
        self,
        request: Request,
        contact: Principal,
        portal_db: AsyncSession,
        brand: Branding,
        invoice: Annotated[list[str] | None, Parameter(query="invoice", max_items=200)] = None,
    ) -> Response:
        # Invoices named in the address start ticked as a whole; an id that is not one of the buyer's
        # open invoices simply is not on the form.
        picked = {f"whole.{invoice_id}": "1" for invoice_id in filter(None, map(_uuid, invoice or []))}
        return await self._new_form(request, portal_db, contact, brand, form={}, picked=picked)

    @post("/new", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def raise_dispute(
        self,
        request: Request,
        contact: Principal,
        portal_db: AsyncSession,
        brand: Branding,
        data: Annotated[dict, RaiseForm],
    ) -> Response:
        form = {"reason_code": _text(data, "reason_code").strip(), "description": _text(data, "description")}
        picked = {key: value.strip() for key, value in data.items() if isinstance(value, str) and key.startswith(ITEM_KEYS)}
        errors: dict[str, str] = {}
        choice = await disputes.disputable_invoices(portal_db, contact, **_named(picked))
        items = _picked_items(choice.invoices, picked, errors)
        if not items and not errors:
            errors["items"] = gettext("Choose at least one invoice, or some lines of one, to dispute.")
        if not form["reason_code"]:
            errors["reason_code"] = gettext("Choose the reason for the dispute.")
        if not form["description"].strip():
            errors["description"] = gettext("Describe what is wrong, in a few words.")
        files = _files(data)
        if len(files) > disputes.MAX_FILES:
            errors["file"] = gettext("Choose at most %(count)s files at once.") % {"count": disputes.MAX_FILES}
        status_code = 422
        if not errors:
            try:
                case = await disputes.raise_case(
                    portal_db,
                    contact,
                    disputes.BuyerDispute(
                        reason_code=form["reason_code"],
                        description=form["description"],
                        items=items,
                        files=[Attachment(upload.filename, upload.file) for upload in files],
                    ),
                )
            except FORM_ERRORS as error:
                await _roll_back(portal_db)
                errors[error.field or "form"] = _message_of(error)
                status_code = error.status_code
            else:
                return web.redirect(request, f"/portal/disputes/{case.id}")
        return await self._new_form(
            request, portal_db, contact, brand, form=form, picked=picked, errors=errors, status_code=status_code
        )

    # --- one case -----------------------------------------------------------------------------------

    async def _case_page(
        self,
        request: Request,
        portal_db: AsyncSession,
        contact: Principal,
        brand: Branding,
        case_id: uuid.UUID,
        *,
        status_code: int = 200,
        errors: dict[str, dict[str, str]] | None = None,
        typed: dict[str, dict] | None = None,
    ) -> Response:
        view = await disputes.case_view(portal_db, contact, case_id)
        case = view.case
        errors = errors or {}
        response = render(
            request,
            "buyer/_dispute_body.html" if web.is_htmx(request) else "buyer/dispute.html",
            brand=brand,
            status_code=status_code,
            view=view,
            case=case,
            in_progress=case.state in ACTIVE_STATES,
            timeline=_timeline(view, case.currency),
            reasons=await self._reason_labels(portal_db, contact),
            state_labels=STATE_LABELS,
            state_explained=STATE_EXPLAINED,
            phase_explained=PHASE_EXPLAINED,
            option_labels=OPTION_LABELS,
            proposal_labels=PROPOSAL_LABELS,
            response_labels=RESPONSE_LABELS,
            entry_labels=ENTRY_LABELS,
            money_options=MONEY_OPTIONS,
            errors=errors,
            first_error=next(iter(errors), None),
            typed=typed or {},
            max_files=disputes.MAX_FILES,
            file_limit_mb=disputes.MAX_FILE_MB,
            file_accept=FILE_ACCEPT,
            as_date=date.fromisoformat,  # an offered instalment plan keeps its dates as ISO text
            pay=await payments.case_offer(portal_db, contact, case.id),
        )
        return with_pay_buttons(response)

    async def _done(
        self, request: Request, portal_db: AsyncSession, contact: Principal, brand: Branding, case_id: uuid.UUID, section: str
    ) -> Response:
        if web.is_htmx(request):
            return await self._case_page(request, portal_db, contact, brand, case_id)
        return web.redirect(request, f"/portal/disputes/{case_id}#{section}")

    async def _refused(
        self,
        request: Request,
        portal_db: AsyncSession,
        contact: Principal,
        brand: Branding,
        case_id: uuid.UUID,
        section: str,
        error: DomainError,
        *,
        field_name: str | None = None,
        typed: dict | None = None,
    ) -> Response:
        await _roll_back(portal_db)
        return await self._case_page(
            request,
            portal_db,
            contact,
            brand,
            case_id,
            status_code=error.status_code,
            errors={section: {field_name or error.field or "form": _message_of(error), "_status": str(error.status_code)}},
            typed={section: typed or {}},
        )

    @get("/{case_id:uuid}")
    async def show(
        self, request: Request, contact: Principal, portal_db: AsyncSession, brand: Branding, case_id: uuid.UUID
    ) -> Response:
        return await self._case_page(request, portal_db, contact, brand, case_id)

    @post("/{case_id:uuid}/messages", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def message(
        self,
        request: Request,
        contact: Principal,
        portal_db: AsyncSession,
        brand: Branding,
        case_id: uuid.UUID,
        data: Annotated[dict, Multipart],
    ) -> Response:
        body = _text(data, "body")
        raw_question = _text(data, "answer_to").strip()
        answer_to = _uuid(raw_question) if raw_question else None
        section = f"question-{answer_to}" if answer_to else "thread"
        files = _files(data)
        try:
            if raw_question and answer_to is None:
                raise ValidationFailed(_("That question is not on this dispute."), field="answer_to")
            await disputes.post_message(
                portal_db,
                contact,
                case_id,
                body=body,
                answer_to=answer_to,
                attachments=[Attachment(upload.filename, upload.file) for upload in files],
            )
        except FORM_ERRORS as error:
            if isinstance(error, Conflict):
                section = "thread"  # the case closed meanwhile: its questions' forms are gone, the thread says why
            return await self._refused(request, portal_db, contact, brand, case_id, section, error, typed={"body": body})
        return await self._done(request, portal_db, contact, brand, case_id, "thread")

    @post("/{case_id:uuid}/evidence", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def evidence(
        self,
        request: Request,
        contact: Principal,
        portal_db: AsyncSession,
        brand: Branding,
        case_id: uuid.UUID,
        data: Annotated[dict, Multipart],
    ) -> Response:
        files = _files(data)
        try:
            await disputes.add_evidence(
                portal_db, contact, case_id, [Attachment(upload.filename, upload.file) for upload in files]
            )
        except FORM_ERRORS as error:
            return await self._refused(request, portal_db, contact, brand, case_id, "evidence", error, field_name="file")
        return await self._done(request, portal_db, contact, brand, case_id, "evidence")

    @post("/{case_id:uuid}/proposals/{proposal_id:uuid}/answer")
    async def answer_proposal(
        self,
        request: Request,
        contact: Principal,
        portal_db: AsyncSession,
        brand: Branding,
        case_id: uuid.UUID,
        proposal_id: uuid.UUID,
        data: Annotated[dict[str, str], Form],
    ) -> Response:
        choice = (data.get("choice") or "").strip()
        response, _sep, option = choice.partition(":")
        section = f"proposal-{proposal_id}"
        try:
            if response not in ("accept", "counter", "decline"):
                raise ValidationFailed(_("Accept one of the options, make a counter-proposal or decline."), field="choice")
            await disputes.answer_proposal(
                portal_db,
                contact,
                case_id,
                proposal_id,
                response,
                option_id=_uuid(option) if option else None,
                note=data.get("note"),
                counter_amount=(data.get("counter_amount") or "").strip() if response == "counter" else None,
            )
        except FORM_ERRORS as error:
            field_name = "choice" if error.field == "option_id" else None
            return await self._refused(
                request, portal_db, contact, brand, case_id, section, error, field_name=field_name, typed=data
            )
        return await self._done(request, portal_db, contact, brand, case_id, "proposals")

    @get("/{case_id:uuid}/files/{file_id:uuid}")
    async def file(self, contact: Principal, portal_db: AsyncSession, case_id: uuid.UUID, file_id: uuid.UUID) -> Stream:
        stored, content = await disputes.case_file(portal_db, contact, case_id, file_id)
        stream = proof_file_stream(stored, content)
        if stored.content_type in uploads.PREVIEWABLE:
            # Shown inside the dispute page (an <img> of this site), never framed by another site.
            stream.headers["Content-Security-Policy"] = (
                "default-src 'none'; img-src 'self'; object-src 'self'; frame-ancestors 'self'"
            )
            stream.headers["X-Frame-Options"] = "SAMEORIGIN"
        return stream
