"""E-mails Accord sends, rendered in the recipient's language with a plain-text part."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

from babel.dates import format_date
from babel.numbers import format_currency

from backend.auth.portal import LinkMail
from backend.disputes.codes import TEAMS
from backend.disputes.models import OPTION_LABELS, OptionKind
from backend.disputes.notices import BuyerMessageNotice, BuyerProposalNotice, TaskNotice, TeamEventNotice, TeamMessageNotice
from backend.i18n import babel_locale, current_language, gettext
from backend.notifications.mailer import compose
from backend.tenants.service import InvitationMail

# Options that credit, discount, correct or write off an amount; the others carry none.
MONEY_OPTION_KINDS = frozenset(
    {OptionKind.CREDIT_NOTE.value, OptionKind.DISCOUNT.value, OptionKind.PRICE_CORRECTION.value, OptionKind.WRITE_OFF.value}
)


def portal_link_message(mail: LinkMail) -> EmailMessage:
    """A sign-in link to a supplier's buyer portal; the invitation says who invites and why."""
    params = {"supplier": mail.supplier, "buyer": mail.buyer, "minutes": mail.valid_minutes}
    with _in_language(mail.language):
        if mail.invitation:
            subject = gettext("%(supplier)s invites you to its buyer portal") % params
            intro = (
                gettext(
                    "%(supplier)s invites you to its buyer portal on Accord, where %(buyer)s can see its invoices and "
                    "statement, raise and follow disputes, and answer proposals."
                )
                % params
            )
        else:
            subject = gettext("Your sign-in link for %(supplier)s") % params
            intro = gettext("Here is the sign-in link you asked for, for the portal of %(supplier)s (%(buyer)s).") % params
        body = "\n\n".join(
            [
                gettext("Hello %(name)s,") % {"name": mail.name},
                intro,
                gettext("Sign in with this link. It works once, for %(minutes)s minutes:") % params,
                mail.link,
                gettext("Once it has expired, ask for a new one on the portal's sign-in page."),
                gettext("If you did not ask for this, you can ignore this message: nobody can sign in without the link."),
            ]
        )
    return _in_their_language(compose(mail.email, subject, body), mail.language)


def invitation_message(mail: InvitationMail) -> EmailMessage:
    token = current_language.set(mail.language)
    try:
        subject = gettext("You are invited to %(organisation)s on Accord") % {"organisation": mail.tenant_name}
        body = "\n\n".join(
            [
                gettext("Hello %(name)s,") % {"name": mail.display_name},
                gettext("%(organisation)s has invited you to work on invoice disputes in Accord.")
                % {"organisation": mail.tenant_name},
                gettext("Choose your password here (the link works once, for 7 days):"),
                mail.link,
                gettext("If you did not expect this invitation, you can ignore this message."),
            ]
        )
    finally:
        current_language.reset(token)
    return compose(mail.email, subject, body)


@contextmanager
def _in_language(language: str) -> Iterator[None]:
    token = current_language.set(language)
    try:
        yield
    finally:
        current_language.reset(token)


def _in_their_language(message: EmailMessage, language: str) -> EmailMessage:
    message["Content-Language"] = language
    return message


def _files_line(attachments: tuple[str, ...]) -> list[str]:
    return [gettext("Files with the message: %(files)s") % {"files": ", ".join(attachments)}] if attachments else []


def dispute_message_to_team(notice: TeamMessageNotice) -> EmailMessage:
    """A new note or message on a case, for its owner or someone with a task on it."""
    params = {"number": notice.case_number, "author": notice.author, "buyer": notice.buyer_name}
    with _in_language(notice.language):
        if notice.internal:
            subject = gettext("[%(number)s] Internal note from %(author)s") % params
            intro = gettext("%(author)s wrote an internal note on dispute %(number)s (%(buyer)s). The buyer does not see it:")
        elif notice.from_buyer and notice.answers_question:
            subject = gettext("[%(number)s] %(author)s of %(buyer)s answered your question") % params
            intro = gettext("%(author)s of %(buyer)s answered the question on dispute %(number)s in the buyer portal:")
        elif notice.from_buyer:
            subject = gettext("[%(number)s] Message from %(author)s of %(buyer)s") % params
            intro = gettext("%(author)s of %(buyer)s wrote on dispute %(number)s in the buyer portal:")
        else:
            subject = gettext("[%(number)s] Message from %(author)s") % params
            intro = gettext("%(author)s wrote in the thread of dispute %(number)s (%(buyer)s), which the buyer sees:")
        body = "\n\n".join(
            [
                gettext("Hello %(name)s,") % {"name": notice.name},
                intro % params,
                notice.body,
                *_files_line(notice.attachments),
                gettext("Open the case: %(link)s") % {"link": notice.link},
                gettext("You receive this because you own the case or have a task on it."),
            ]
        )
    return _in_their_language(compose(notice.email, subject, body), notice.language)


def _unsubscribe_line(link: str | None) -> list[str]:
    return [gettext("To stop these e-mails, follow this link: %(link)s") % {"link": link}] if link else []


def _with_unsubscribe(message: EmailMessage, link: str | None) -> EmailMessage:
    if link:
        message["List-Unsubscribe"] = f"<{link}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058: the mail client's button
    return message


def dispute_message_to_buyer(notice: BuyerMessageNotice, unsubscribe: str | None = None) -> EmailMessage:
    """A message of the thread for one of the buyer's contacts: its text, and nothing of the team's notes."""
    params = {"number": notice.case_number, "author": notice.author, "organisation": notice.organisation}
    with _in_language(notice.language):
        subject = gettext("%(organisation)s: a message about dispute %(number)s") % params
        if notice.from_buyer:
            intro = gettext("%(author)s wrote to %(organisation)s about dispute %(number)s:")
        elif notice.question:
            subject = gettext("%(organisation)s asks you a question about dispute %(number)s") % params
            intro = gettext("%(author)s of %(organisation)s asks you about dispute %(number)s, and waits for your answer:")
        else:
            intro = gettext("%(author)s of %(organisation)s wrote to you about dispute %(number)s:")
        if notice.portal_link:
            answer = gettext("Read the whole dispute and answer in the buyer portal: %(link)s") % {"link": notice.portal_link}
        else:
            answer = gettext("To answer, write to your contact at %(organisation)s and name dispute %(number)s.") % params
        body = "\n\n".join(
            [
                gettext("Hello %(name)s,") % {"name": notice.name},
                intro % params,
                notice.body,
                *_files_line(notice.attachments),
                answer,
                *_unsubscribe_line(unsubscribe),
            ]
        )
    return _with_unsubscribe(_in_their_language(compose(notice.email, subject, body), notice.language), unsubscribe)


def dispute_proposal_to_buyer(notice: BuyerProposalNotice, unsubscribe: str | None = None) -> EmailMessage:
    """A proposal to settle a dispute, for one of the buyer's contacts: each option, and where to answer."""
    params = {"number": notice.case_number, "organisation": notice.organisation}
    with _in_language(notice.language):
        locale = babel_locale(notice.language)
        subject = gettext("%(organisation)s proposes a way to settle dispute %(number)s") % params
        lines = []
        for position, option in enumerate(notice.options, start=1):
            line = f"{position}. {gettext(OPTION_LABELS[OptionKind(option.kind)])}"
            if option.kind in MONEY_OPTION_KINDS:
                line += f": {format_currency(option.amount, notice.currency, locale=locale)}"
            if option.description:
                line += f" ({option.description})"
            lines.append(line)
            lines += [
                f"   {format_date(due_on, format='medium', locale=locale)}: {format_currency(amount, notice.currency, locale=locale)}"
                for due_on, amount in option.schedule
            ]
        if notice.portal_link:
            answer = gettext("Accept one option, make a counter-proposal or decline in the buyer portal: %(link)s") % {
                "link": notice.portal_link
            }
        else:
            answer = gettext("To answer, write to your contact at %(organisation)s and name dispute %(number)s.") % params
        body = "\n\n".join(
            [
                gettext("Hello %(name)s,") % {"name": notice.name},
                gettext("%(organisation)s proposes the following to settle dispute %(number)s:") % params,
                *([notice.message] if notice.message else []),
                "\n".join(lines),
                answer,
                *_unsubscribe_line(unsubscribe),
            ]
        )
    return _with_unsubscribe(_in_their_language(compose(notice.email, subject, body), notice.language), unsubscribe)


def dispute_event_to_team(notice: TeamEventNotice) -> EmailMessage:
    """What the buyer's contact did on a case in the portal (raised it, answered a proposal, added
    evidence), for its owner or someone with a task on it, or (a case nobody owns) who runs receivables."""
    with _in_language(notice.language):
        locale = babel_locale(notice.language)
        params = {
            "number": notice.case_number,
            "buyer": notice.buyer_name,
            "contact": notice.contact,
            "amount": format_currency(notice.amount, notice.currency, locale=locale),
        }
        details: list[str] = []
        if notice.event == "raised":
            subject = gettext("[%(number)s] New dispute from %(buyer)s in the buyer portal") % params
            intro = gettext("%(contact)s of %(buyer)s raised dispute %(number)s for %(amount)s in the buyer portal:") % params
            details.append(notice.description or "")
        elif notice.event == "proposal_accepted":
            subject = gettext("[%(number)s] %(buyer)s accepted your proposal") % params
            intro = gettext("%(contact)s of %(buyer)s accepted an option of your proposal on dispute %(number)s:") % params
            option = gettext(notice.option or "")
            if notice.option_amount:
                option += f": {format_currency(notice.option_amount, notice.currency, locale=locale)}"
            details.append(option)
            details.append(gettext("The case is agreed: carry out the agreement to resolve it."))
        elif notice.event == "proposal_countered":
            subject = gettext("[%(number)s] %(buyer)s made a counter-proposal") % params
            intro = (
                gettext("%(contact)s of %(buyer)s answered your proposal on dispute %(number)s with a counter-proposal.") % params
            )
            if notice.counter_amount is not None:
                details.append(
                    gettext("Asked for instead: %(amount)s")
                    % {"amount": format_currency(notice.counter_amount, notice.currency, locale=locale)}
                )
        elif notice.event == "proposal_declined":
            subject = gettext("[%(number)s] %(buyer)s declined your proposal") % params
            intro = gettext("%(contact)s of %(buyer)s declined your proposal on dispute %(number)s.") % params
        else:
            subject = gettext("[%(number)s] %(buyer)s added evidence") % params
            intro = gettext("%(contact)s of %(buyer)s added evidence to dispute %(number)s in the buyer portal.") % params
        if notice.event.startswith("proposal_") and notice.note:
            details.append(gettext("Their note: %(note)s") % {"note": notice.note})
        if notice.files:
            details.append(gettext("Files: %(files)s") % {"files": ", ".join(notice.files)})
        body = "\n\n".join(
            [
                gettext("Hello %(name)s,") % {"name": notice.name},
                intro,
                *[detail for detail in details if detail],
                gettext("Open the case: %(link)s") % {"link": notice.link},
                gettext(
                    "You receive this because you own the case or have a task on it, or (a case nobody owns yet) run the receivables."
                ),
            ]
        )
    return _in_their_language(compose(notice.email, subject, body), notice.language)


def dispute_task_message(notice: TaskNotice) -> EmailMessage:
    """A question about a case for a colleague, with its due date and the way to the case."""
    with _in_language(notice.language):
        due = format_date(notice.due_on, format="long", locale=babel_locale(notice.language))
        params = {
            "number": notice.case_number,
            "buyer": notice.buyer_name,
            "asker": notice.asked_by,
            "team": gettext(TEAMS.get(notice.team, notice.team)),
            "due": due,
        }
        subject = gettext("[%(number)s] A question for you, due %(due)s") % params
        body = "\n\n".join(
            [
                gettext("Hello %(name)s,") % {"name": notice.name},
                gettext("%(asker)s asks you (%(team)s) about dispute %(number)s with %(buyer)s:") % params,
                notice.question,
                gettext("Please answer by %(due)s on the case: %(link)s") % {**params, "link": notice.link},
            ]
        )
    return _in_their_language(compose(notice.email, subject, body), notice.language)
