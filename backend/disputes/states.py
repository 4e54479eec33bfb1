"""The life of a dispute case, as an explicit state machine.

    open ─▶ acknowledged ─▶ under review ─▶ negotiating ─▶ agreed ─▶ resolved
      └──────────┴───────────────┴──────────────┴─▶ rejected | withdrawn | escalated to legal / claim

A case is *agreed* only when the buyer accepts a proposal, and *resolved* only when the agreement is
carried out (or when its disputed items are paid or credited in full); people move it along every
other edge. Anything not drawn here is refused with 409 and changes nothing.
"""

from __future__ import annotations

from backend.disputes.models import STATE_LABELS, DisputeState
from backend.errors import Conflict
from backend.i18n import Translatable, _

S = DisputeState
_ESCALATIONS = {S.ESCALATED_LEGAL, S.ESCALATED_CLAIM}
_GIVE_UP = {S.REJECTED, S.WITHDRAWN}

ALLOWED: dict[DisputeState, frozenset[DisputeState]] = {
    S.OPEN: frozenset({S.ACKNOWLEDGED, S.UNDER_REVIEW, S.NEGOTIATING, *_GIVE_UP, *_ESCALATIONS}),
    S.ACKNOWLEDGED: frozenset({S.UNDER_REVIEW, S.NEGOTIATING, *_GIVE_UP, *_ESCALATIONS}),
    S.UNDER_REVIEW: frozenset({S.NEGOTIATING, *_GIVE_UP, *_ESCALATIONS}),
    S.NEGOTIATING: frozenset({S.UNDER_REVIEW, S.AGREED, *_GIVE_UP, *_ESCALATIONS}),
    # An agreement that falls through goes back to the table; one carried out resolves the case.
    S.AGREED: frozenset({S.NEGOTIATING, S.RESOLVED, *_ESCALATIONS}),
    S.ESCALATED_LEGAL: frozenset({S.NEGOTIATING, S.ESCALATED_CLAIM, S.WITHDRAWN}),
    S.ESCALATED_CLAIM: frozenset({S.NEGOTIATING, S.ESCALATED_LEGAL, S.WITHDRAWN}),
    # Reopened (a broken instalment plan, a mistaken rejection): back to review.
    S.RESOLVED: frozenset({S.UNDER_REVIEW}),
    S.REJECTED: frozenset({S.UNDER_REVIEW}),
    S.WITHDRAWN: frozenset(),
}

# Moves a person asks for by name; AGREED and RESOLVED have their own operations.
MANUAL_TARGETS = frozenset(DisputeState) - {S.OPEN, S.AGREED, S.RESOLVED}


def allowed_moves(state: DisputeState) -> list[DisputeState]:
    """The states a person may move a case to from `state`, in the order the console offers them."""
    return [target for target in DisputeState if target in ALLOWED[state] and target in MANUAL_TARGETS]


def check_move(current: DisputeState, target: DisputeState) -> None:
    """Refuse (409, naming both states) a move the machine does not draw."""
    if target in ALLOWED[current]:
        return
    params = {"state": Translatable(STATE_LABELS[current]), "target": Translatable(STATE_LABELS[target])}
    if target is S.RESOLVED:
        message = _("A case in state %(state)s cannot be resolved: only an agreed case is, by carrying out its agreement.")
    elif target is S.AGREED:
        message = _("A case in state %(state)s cannot be agreed: a case is agreed when the buyer accepts a proposal.")
    else:
        message = _("A case in state %(state)s cannot move to %(target)s.")
    raise Conflict(message, field="state", params=params)
