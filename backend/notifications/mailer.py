"""Sends e-mail through SMTP_URL; without one (the embedded default) it files each message under var/mail."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlparse

from backend.config import Settings, get_settings

SENDER = ("Accord", "no-reply@accord.local")


def compose(to: str, subject: str, text_body: str, html_body: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr(SENDER)
    message["To"] = to
    # Names people typed go into subjects; a line break there would be a header of its own (or an error).
    message["Subject"] = " ".join(subject.split())
    message["Message-ID"] = make_msgid(domain="accord.local")
    message.set_content(text_body)
    if html_body:
        message.add_alternative(html_body, subtype="html")
    return message


def send(message: EmailMessage, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    if not settings.smtp_url:
        folder = settings.var_dir / "mail"
        folder.mkdir(parents=True, exist_ok=True)
        Path(folder / f"{uuid.uuid4().hex}.eml").write_bytes(bytes(message))
        return
    url = urlparse(settings.smtp_url)
    host, port = url.hostname or "127.0.0.1", url.port or (465 if url.scheme == "smtps" else 25)
    if url.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, context=ssl.create_default_context(), timeout=30)
    else:
        client = smtplib.SMTP(host, port, timeout=30)
    try:
        if url.scheme == "smtp+starttls":
            client.starttls(context=ssl.create_default_context())
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)
    except BaseException:
        client.close()
        raise
    # The server has the mail once send_message returns: an error saying goodbye must not make the job
    # try again (and send it twice).
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()
