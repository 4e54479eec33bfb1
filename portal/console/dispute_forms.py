"""Reading the case page's larger forms: a proposal with its options and instalment schedules, and the checklist.

Options are posted as `options[N].kind|amount|description` and instalments as
`options[N].schedule[M].due_on|amount`. Rows left empty are dropped; the service numbers what is
left 0, 1, … so its `options[1].amount` is mapped back to the row on screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backend.disputes import service as disputes
from backend.errors import ValidationFailed
from backend.i18n import gettext
from portal.console.invoices import parse_date

MAX_OPTIONS = 6
MAX_INSTALMENTS = 36
START_OPTIONS = 2
START_INSTALMENTS = 3
OPTION_KEY = re.compile(r"^options\[(\d{1,2})\]\.(kind|amount|description)$")
SCHEDULE_KEY = re.compile(r"^options\[(\d{1,2})\]\.schedule\[(\d{1,2})\]\.(due_on|amount)$")
SERVICE_FIELD = re.compile(r"^options\[(\d+)\]\.(\w+)$")


def empty_option(instalments: int = START_INSTALMENTS) -> dict:
    return {"kind": "", "amount": "", "description": "", "schedule": [{"due_on": "", "amount": ""} for _n in range(instalments)]}


def empty_options() -> list[dict]:
    return [empty_option() for _n in range(START_OPTIONS)]


@dataclass
class ProposalForm:
    rows: list[dict]  # as shown again: every option row with its schedule rows
    options: list[disputes.OptionInput] = field(default_factory=list)
    row_of: list[int] = field(default_factory=list)  # the screen row of each option sent to the service
    errors: dict[str, str] = field(default_factory=dict)

    def screen_field(self, service_field: str | None) -> str:
        """`options[1].amount` of the service, as the name of the field on screen."""
        match = SERVICE_FIELD.match(service_field or "")
        if not match or int(match.group(1)) >= len(self.row_of):
            return service_field or "form"
        return f"options[{self.row_of[int(match.group(1))]}].{match.group(2)}"


def read_proposal(data: dict[str, str], *, add_option: bool = False, add_instalment: int | None = None) -> ProposalForm:
    posted: dict[int, dict] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            continue
        if match := OPTION_KEY.match(key):
            row = posted.setdefault(int(match.group(1)), empty_option(0))
            row[match.group(2)] = value.strip()
        elif match := SCHEDULE_KEY.match(key):
            row = posted.setdefault(int(match.group(1)), empty_option(0))
            index = int(match.group(2))
            while len(row["schedule"]) <= index:
                row["schedule"].append({"due_on": "", "amount": ""})
            row["schedule"][index][match.group(3)] = value.strip()
    rows = [row for _index, row in sorted(posted.items())][:MAX_OPTIONS] or empty_options()
    for row in rows:  # shown again with room to type, as a new form starts
        row["schedule"] += [{"due_on": "", "amount": ""} for _n in range(START_INSTALMENTS - len(row["schedule"]))]
    if add_option or add_instalment is not None:
        # Nothing is checked yet: the rows come back as typed, with one more where it was asked for.
        if add_option and len(rows) < MAX_OPTIONS:
            rows.append(empty_option())
        if add_instalment is not None and 0 <= add_instalment < len(rows):
            schedule = rows[add_instalment]["schedule"]
            if len(schedule) < MAX_INSTALMENTS:
                schedule.append({"due_on": "", "amount": ""})
        return ProposalForm(rows=rows)
    form = ProposalForm(rows=rows)
    for index, row in enumerate(rows):
        if not row["kind"]:
            continue
        schedule = []
        for number, instalment in enumerate(row["schedule"]):
            if not instalment["due_on"] and not instalment["amount"]:
                continue
            try:
                due_on = parse_date(instalment["due_on"], "due_on")
            except ValidationFailed as error:
                form.errors[f"options[{index}].schedule"] = error.translated(gettext)
                continue
            if due_on is None or not instalment["amount"]:
                form.errors[f"options[{index}].schedule"] = gettext(
                    "Instalment %(number)s: give both the date and the amount."
                ) % {"number": number + 1}
                continue
            schedule.append((due_on, instalment["amount"]))
        form.options.append(
            disputes.OptionInput(
                kind=row["kind"], amount=row["amount"] or None, description=row["description"] or None, schedule=schedule
            )
        )
        form.row_of.append(index)
    return form
