"""The kinds of notice Accord sends: one entry each, with its group, its parameters and its words.

Adding a kind is one entry in KINDS. Parameters arrive as plain JSON values (dates as ISO strings,
amounts as decimal strings) and are formatted when shown, in the reader's language.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from babel.dates import format_date
from babel.numbers import format_currency

from backend.i18n import _, babel_locale, current_language, gettext


@dataclass(frozen=True)
class Group:
    key: str
    label: str
    description: str  # for the team, in the console
    for_buyers: str  # for a buyer's contact, in the portal


# What a person chooses immediate / daily digest / off for, group by group.
GROUPS: tuple[Group, ...] = (
    Group(
        "case_reminders",
        _("Case reminders"),
        _("Deadlines coming up on cases: to acknowledge, evaluate, answer, agree."),
        _("When we wait for your answer on a dispute, and deadlines coming up."),
    ),
    Group(
        "escalations",
        _("Escalations"),
        _("Cases raised to a higher level, missed deadlines, proposals of legal action or a claim."),
        _("When a dispute without agreement goes to a higher level."),
    ),
    Group(
        "instalments",
        _("Instalments"),
        _("Instalments coming due or missed, and broken payment plans."),
        _("Instalments of your payment plans coming due, or missed."),
    ),
)
GROUP_KEYS = tuple(group.key for group in GROUPS)


@dataclass(frozen=True)
class Kind:
    group: str
    params: tuple[str, ...]
    title: str  # the e-mail's subject, the line in the list of notifications and in the digest
    body: str  # the e-mail's paragraph


KINDS: dict[str, Kind] = {
    "case.reminder_owner": Kind(
        "case_reminders",
        ("case_number", "timer", "due_on"),
        _("Dispute %(case_number)s: %(timer)s due on %(due_on)s"),
        _(
            "On dispute %(case_number)s, the time for this step runs out on %(due_on)s: %(timer)s. Please act on the case before then."
        ),
    ),
    "case.reminder_buyer": Kind(
        "case_reminders",
        ("case_number", "supplier", "due_on"),
        _("%(supplier)s waits for your answer on dispute %(case_number)s"),
        _("%(supplier)s is waiting for your answer on dispute %(case_number)s. Please answer by %(due_on)s."),
    ),
    "case.deadline_near": Kind(
        "case_reminders",
        ("case_number", "deadline"),
        _("Dispute %(case_number)s: a deadline on %(deadline)s"),
        _("A deadline on dispute %(case_number)s falls on %(deadline)s. Make sure the case is ready by then."),
    ),
    "case.escalated": Kind(
        "escalations",
        ("case_number", "level"),
        _("Dispute %(case_number)s escalated to level %(level)s"),
        _("Dispute %(case_number)s missed its service level and was escalated to level %(level)s. It needs your attention."),
    ),
    "case.breached": Kind(
        "escalations",
        ("case_number", "timer"),
        _("Dispute %(case_number)s missed a deadline: %(timer)s"),
        _("Dispute %(case_number)s missed the deadline for this step: %(timer)s. The breach is on the case's timeline."),
    ),
    "case.escalation_proposed": Kind(
        "escalations",
        ("case_number", "days", "route"),
        _("Dispute %(case_number)s: no agreement after %(days)s days, %(route)s proposed"),
        _(
            "Dispute %(case_number)s has had no agreement for %(days)s days. Accord proposes to escalate it: %(route)s. Decide on the case."
        ),
    ),
    "instalment.reminder": Kind(
        "instalments",
        ("case_number", "seq", "amount", "currency", "due_on"),
        _("Instalment %(seq)s of %(amount)s due on %(due_on)s (dispute %(case_number)s)"),
        _("Instalment %(seq)s of the payment plan agreed on dispute %(case_number)s, %(amount)s, is due on %(due_on)s."),
    ),
    "instalment.missed": Kind(
        "instalments",
        ("case_number", "seq", "amount", "currency", "due_on"),
        _("Instalment %(seq)s of %(amount)s was not paid (dispute %(case_number)s)"),
        _(
            "Instalment %(seq)s of the payment plan agreed on dispute %(case_number)s, %(amount)s, was due on %(due_on)s and has not been paid."
        ),
    ),
    "plan.broken": Kind(
        "instalments",
        ("case_number",),
        _("The payment plan of dispute %(case_number)s is broken"),
        _("The payment plan agreed on dispute %(case_number)s is broken: instalments were missed, and the case is open again."),
    ),
}

TIMERS = {
    "acknowledge": _("acknowledge the case"),
    "evaluate": _("finish the evaluation"),
    "respond": _("answer the buyer"),
    "agree": _("reach an agreement"),
    "phase": _("finish the negotiation phase"),
    "hard_deadline": _("the hard deadline (Stripe evidence or insurer date)"),
}
ROUTES = {"legal": _("legal collection"), "claim": _("an insurance claim")}
DATE_PARAMS = ("due_on", "deadline")


class UnknownKind(LookupError):
    """A notice of a kind nobody declared: a programming error, raised where the notice is made."""


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownKind(f"no notice kind {name!r}; declare it in backend.notifications.kinds.KINDS") from None


def check(name: str, params: Mapping[str, object]) -> dict[str, object]:
    """The parameters of a notice of `name`, checked; a missing or malformed one is a programming error."""
    kind = kind_of(name)
    missing = [param for param in kind.params if params.get(param) in (None, "")]
    if missing:
        raise ValueError(f"notice {name!r} needs {', '.join(missing)}")
    checked = {param: params[param] for param in kind.params}
    for param in DATE_PARAMS:
        if param in checked:
            date.fromisoformat(str(checked[param]))
    if "amount" in checked:
        try:
            Decimal(str(checked["amount"]))
        except InvalidOperation:
            raise ValueError(f"notice {name!r}: amount {checked['amount']!r} is not a number") from None
    if "timer" in checked and checked["timer"] not in TIMERS:
        raise ValueError(f"notice {name!r}: unknown timer {checked['timer']!r}")
    if "route" in checked and checked["route"] not in ROUTES:
        raise ValueError(f"notice {name!r}: unknown route {checked['route']!r}")
    return checked


@contextmanager
def in_language(language: str) -> Iterator[None]:
    token = current_language.set(language)
    try:
        yield
    finally:
        current_language.reset(token)


def _formatted(params: Mapping[str, object]) -> dict[str, object]:
    """Parameters as the reader reads them, in the current language."""
    locale = babel_locale(current_language.get())
    shown = dict(params)
    for param in DATE_PARAMS:
        if param in shown:
            shown[param] = format_date(date.fromisoformat(str(shown[param])), format="long", locale=locale)
    if "amount" in shown:
        shown["amount"] = format_currency(Decimal(str(shown["amount"])), str(shown.get("currency", "")), locale=locale)
    if "timer" in shown:
        shown["timer"] = gettext(TIMERS.get(str(shown["timer"]), str(shown["timer"])))
    if "route" in shown:
        shown["route"] = gettext(ROUTES.get(str(shown["route"]), str(shown["route"])))
    return shown


def title(name: str, params: Mapping[str, object]) -> str:
    """The notice's one line, in the current language."""
    return gettext(kind_of(name).title) % _formatted(params)


def body(name: str, params: Mapping[str, object]) -> str:
    return gettext(kind_of(name).body) % _formatted(params)


def group_label(key: str) -> str:
    return gettext(next((group.label for group in GROUPS if group.key == key), key))
