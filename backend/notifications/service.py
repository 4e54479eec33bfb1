"""E-mails Accord sends, rendered in the recipient's language with a plain-text part."""

from __future__ import annotations

from email.message import EmailMessage

from backend.i18n import current_language, gettext
from backend.notifications.mailer import compose
from backend.tenants.service import InvitationMail


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
