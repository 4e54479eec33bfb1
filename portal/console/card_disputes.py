"""Console: card chargebacks. The card section of a case page (Stripe's status and due date, the
evidence form that saves a draft or submits to Stripe), and the list of card disputes no case works.

The evidence form posts like every form of the case page: without JavaScript the answer is a
redirect back to the case (at the card section); with htmx the case page is rendered in place; a
refusal re-renders it with the message beside the field, and nothing is sent to Stripe.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, can
from backend.auth.principal import Principal
from backend.db.base import utcnow
from backend.errors import Conflict, ValidationFailed
from backend.i18n import _, gettext
from backend.payments import chargebacks
from backend.payments.chargebacks import EvidenceInput, StripeRefused
from backend.payments.gateway import PaymentsOff
from portal import web
from portal.console.disputes import Form, message_of, roll_back

SECTION = "card"
PAGE_SIZE = 50
REFUSALS = (ValidationFailed, Conflict, StripeRefused, PaymentsOff)

# The card dispute's steps on the case timeline.
EVENT_LABELS = {
    "card_funds_withdrawn": _("Card chargeback: the payment was taken back"),
    "card_dispute_updated": _("Card chargeback updated by Stripe"),
    "card_funds_reinstated": _("Card chargeback: Stripe returned the payment"),
    "card_dispute_won": _("Card chargeback won"),
    "card_dispute_lost": _("Card chargeback lost"),
    "card_dispute_closed": _("Card chargeback closed"),
    "card_evidence_drafted": _("Chargeback evidence saved as a draft"),
    "card_evidence_submitted": _("Chargeback evidence submitted to Stripe"),
}


def event_detail(kind: str, data: dict[str, Any], currency: str) -> str:
    """The one detail that matters of a card dispute's step on the timeline."""
    if kind in ("card_funds_withdrawn", "card_funds_reinstated", "card_dispute_won"):
        return web.money(data.get("amount"), currency)
    if kind == "card_dispute_lost":
        return gettext("Lost %(amount)s") % {"amount": web.money(data.get("lost"), currency)}
    if kind == "card_dispute_updated":
        return gettext(chargebacks.STATUS_LABELS.get(data.get("status"), data.get("status") or ""))
    if kind == "card_evidence_submitted":
        return ", ".join(data.get("files") or []) or gettext("Texts only")
    return ""


async def card_context(db: AsyncSession, principal: Principal, case_id: uuid.UUID) -> dict | None:
    """What the case page's card section shows (None: the case is not a chargeback)."""
    section = await chargebacks.card_section(db, principal, case_id)
    if section is None:
        return None
    return {
        "section": section,
        "status_label": chargebacks.STATUS_LABELS.get(section.card.status, section.card.status),
        "reason_label": chargebacks.REASON_LABELS.get(section.card.reason, section.card.reason),
        "long_texts": chargebacks.LONG_TEXTS,
        "short_texts": chargebacks.SHORT_TEXTS,
        "text_fields": chargebacks.TEXT_FIELDS,
        "file_slots": chargebacks.FILE_SLOTS,
        "long_limit": chargebacks.LONG_TEXT_LIMIT,
        "short_limit": chargebacks.SHORT_TEXT_LIMIT,
        "stripe_types": chargebacks.STRIPE_FILE_TYPES,
        # Errors shown beside their own field; the rest above the form.
        "field_names": [*chargebacks.TEXT_FIELDS, *(f"file_{slot}" for slot in chargebacks.FILE_SLOTS)],
        "may_send": can(principal, Permission.WORK_DISPUTES) and section.accepts_evidence,
        "closed_statuses": chargebacks.CLOSED,
        # Whole days until Stripe's due date, while evidence is awaited.
        "days_left": (section.card.evidence_due_by.replace(tzinfo=UTC) - utcnow()).days
        if section.accepts_evidence and section.card.evidence_due_by
        else None,
    }


def _input(data: dict[str, str]) -> EvidenceInput:
    return EvidenceInput(
        fields={name: data.get(name) or "" for name in chargebacks.TEXT_FIELDS},
        files={slot: data.get(f"file_{slot}") or "" for slot in chargebacks.FILE_SLOTS},
    )


class CardDisputeController(Controller):
    path = "/console"
    include_in_schema = False

    @post("/disputes/{case_id:uuid}/card-evidence")
    async def evidence(
        self, request: Request, db: AsyncSession, principal: Principal, case_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        from portal.console.dispute_case import case_page

        submit = (data.get("action") or "") == "submit"
        try:
            if submit:
                await chargebacks.submit_evidence(db, principal, case_id, _input(data))
            else:
                await chargebacks.save_draft(db, principal, case_id, _input(data))
        except REFUSALS as error:
            # Nothing of the refused change is kept; the form keeps what was typed.
            await roll_back(db, principal)
            field_name = error.field if error.field and error.field != "evidence" else "form"
            return await case_page(
                request,
                db,
                principal,
                case_id,
                status_code=error.status_code,
                errors={SECTION: {field_name: message_of(error), "_status": str(error.status_code)}},
                typed={SECTION: data},
            )
        if web.is_htmx(request):
            return await case_page(request, db, principal, case_id)
        return web.redirect(request, f"/console/disputes/{case_id}#{SECTION}")

    @get("/card-disputes")
    async def without_case(
        self, request: Request, db: AsyncSession, principal: Principal, page: Annotated[int, Parameter(ge=1, le=10_000)] = 1
    ) -> Response:
        return await _list_page(request, db, principal, page)

    @post("/card-disputes/{card_id:uuid}/link")
    async def link(
        self, request: Request, db: AsyncSession, principal: Principal, card_id: uuid.UUID, data: Annotated[dict[str, str], Form]
    ) -> Response:
        try:
            case_id = await chargebacks.link_payment(db, principal, card_id, data.get("document_number") or "")
        except (ValidationFailed, Conflict) as error:
            await roll_back(db, principal)
            return await _list_page(
                request,
                db,
                principal,
                1,
                status_code=error.status_code,
                errors={str(card_id): message_of(error)},
                typed={str(card_id): data.get("document_number") or ""},
            )
        return web.redirect(request, f"/console/disputes/{case_id}#{SECTION}")


async def _list_page(
    request: Request,
    db: AsyncSession,
    principal: Principal,
    page: int,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    rows, total = await chargebacks.without_case(db, principal, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return web.render(
        request,
        "console/card_disputes.html",
        status_code=status_code,
        errors=errors or {},
        typed=typed or {},
        can_link=can(principal, Permission.WORK_DISPUTES),
        linkable=chargebacks.FUNDS_WITHDRAWN,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        status_labels=chargebacks.STATUS_LABELS,
        reason_labels=chargebacks.REASON_LABELS,
    )
