"""Mail headers built from what people typed stay headers."""

from __future__ import annotations

from backend.notifications.mailer import compose


def test_a_line_break_in_a_name_never_makes_a_header_of_its_own():
    message = compose("buyer@example.com", "New note from Eve\nBcc: everyone@example.com", "Hello")
    assert message["Subject"] == "New note from Eve Bcc: everyone@example.com"
    assert message["Bcc"] is None
    assert "\nBcc:" not in message.as_string()


class _AcceptsThenFailsOnQuit:
    """Accepts every message, then answers QUIT with 421: the mail is with the server all the same."""

    def __init__(self) -> None:
        self.accepted: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.accepted.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server, session, envelope):
        return "421 Service closing transmission channel"


def test_a_mail_the_server_accepted_counts_as_sent_whatever_it_answers_to_quit():
    import dataclasses
    import socket

    from aiosmtpd.controller import Controller

    from backend.config import get_settings
    from backend.notifications.mailer import send

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = _AcceptsThenFailsOnQuit()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = dataclasses.replace(get_settings(), smtp_url=f"smtp://127.0.0.1:{port}")
        send(compose("buyer@example.com", "Your case", "Hello"), settings)  # raising here would send it again on retry
    finally:
        controller.stop()
    assert len(handler.accepted) == 1
